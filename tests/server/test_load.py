"""Eight client processes log through ``cairn server`` on PostgreSQL: every run, param
and metric point lands exactly once, also when the server is killed (-9) mid-load.

The clients hold an admin's API token, and the audit log must hold exactly one entry
per applied write. Slow. ``CAIRN_LOAD_RUNS`` sets the runs per client (default: 250 in
the steady test, 150 in the kill test; ``CAIRN_LOAD_RUNS=500`` runs both at full size).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from load_support import (
    check_audit,
    check_counts,
    count_runs,
    create_schema,
    kill_9,
    server_process,
    start_clients,
    wait_clients,
    wait_up,
)

from ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS, PARAMS, POINTS = 8, 3, 5
# Read at import: the tests' environment fixture hides CAIRN_* variables.
_RUNS = os.environ.get("CAIRN_LOAD_RUNS")


def _runs(default: int) -> int:
    return int(_RUNS) if _RUNS else default


def test_eight_client_processes_lose_and_double_nothing(postgres_uri: str, tmp_path: Path) -> None:
    runs = _runs(250)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    token = create_schema(postgres_uri)
    with server_process(postgres_uri, str(tmp_path / "art"), port, log) as server:
        wait_up(server, url, log)
        clients = start_clients([url], CLIENTS, runs, PARAMS, POINTS, tmp_path, token)
        wait_clients(clients, tmp_path, timeout=600)
    check_counts(postgres_uri, CLIENTS, runs, PARAMS, POINTS)
    check_audit(postgres_uri, CLIENTS * runs)
    check_audit(postgres_uri, CLIENTS * runs)


def test_a_server_killed_mid_load_and_restarted_loses_and_doubles_nothing(
    postgres_uri: str, tmp_path: Path
) -> None:
    runs = _runs(150)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    art, log = str(tmp_path / "art"), tmp_path / "server.log"
    token = create_schema(postgres_uri)
    with server_process(postgres_uri, art, port, log) as first:
        wait_up(first, url, log)
        clients = start_clients([url], CLIENTS, runs, PARAMS, POINTS, tmp_path, token)
        # Kill while every client is busy: a third of the runs are in.
        deadline = time.monotonic() + 300
        while count_runs(postgres_uri) < CLIENTS * runs // 3:
            assert time.monotonic() < deadline, "the clients made no progress"
            assert all(p.poll() is None for p, _ in clients), "a client ended early"
            time.sleep(0.05)
        kill_9(first)
    assert count_runs(postgres_uri) < CLIENTS * runs  # the kill did land mid-load
    with server_process(postgres_uri, art, port, log):
        wait_clients(clients, tmp_path, timeout=600)
    check_counts(postgres_uri, CLIENTS, runs, PARAMS, POINTS)
    check_audit(postgres_uri, CLIENTS * runs)
