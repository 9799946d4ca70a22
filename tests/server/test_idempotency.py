"""Retried writes are applied once, also across a server restart and a kill -9."""

from __future__ import annotations

import signal
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from cairn.store import open_metadata
from cairn.types import Metric
from ports import free_port
from server_harness import sqlite_server, start_process, wait_healthy


def _create_run(url: str, experiment_id: str, key: str, name: str = "r") -> httpx.Response:
    return httpx.post(
        f"{url}/api/tracking/runs",
        json={"experiment_id": experiment_id, "name": name},
        headers={"Idempotency-Key": key},
    )


def test_a_retried_write_with_the_same_key_is_applied_once_even_after_a_restart(
    tmp_path: Path,
) -> None:
    key = uuid.uuid4().hex
    with sqlite_server(tmp_path) as url:
        exp = open_metadata(url).tracking.create_experiment("e").id
        first = _create_run(url, exp, key)
        again = _create_run(url, exp, key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        other = _create_run(url, exp, key, name="different")  # same key, other request
        assert other.status_code == 400 and "different request" in other.json()["error"]["message"]
    with sqlite_server(tmp_path) as url:  # a new server process over the same database
        assert _create_run(url, exp, key).json() == first.json()
        runs = open_metadata(url).tracking.search_runs([exp]).items
    assert [r.id for r in runs] == [first.json()["id"]]


def test_logging_through_a_kill_9_and_restart_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'server.db'}"
    db = open_metadata(store, create=True)
    db.ensure_schema()
    from cairn.access.admin import create_admin

    _, admin = create_admin(db.access, "root")  # the server requires a token
    db.close()
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", admin.secret)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(store, str(tmp_path / "artifacts"), port)
    wait_healthy(url)
    monkeypatch.setenv("CAIRN_HTTP_RETRY_SECONDS", "60")
    backend = open_metadata(url)
    exp = backend.tracking.create_experiment("e").id
    runs, batches, per_batch = 5, 30, 20
    halfway = threading.Event()
    done: list[str] = []
    failures: list[BaseException] = []

    def log() -> None:
        try:
            for r in range(runs):
                run = backend.tracking.create_run(exp, name=f"run-{r}")
                for b in range(batches):
                    points = [
                        Metric("loss", float(b * per_batch + i), b * per_batch + i, 1)
                        for i in range(per_batch)
                    ]
                    backend.tracking.log_batch(
                        run.id, points, params={"b": "x"} if b == 0 else None
                    )
                    if r == 2 and b == batches // 2:
                        halfway.set()
                done.append(run.id)
        except BaseException as exc:  # reported below
            failures.append(exc)

    logger = threading.Thread(target=log)
    logger.start()
    assert halfway.wait(120)
    server.send_signal(signal.SIGKILL)
    server.communicate(timeout=30)
    restarted = start_process(store, str(tmp_path / "artifacts"), port)
    try:
        logger.join(180)
        assert not logger.is_alive() and not failures, failures
        found = backend.tracking.search_runs([exp]).items
        assert sorted(r.name for r in found) == [f"run-{r}" for r in range(runs)]
        for run_id in done:
            history = backend.tracking.get_metric_history(run_id, "loss")
            assert [m.step for m in history] == list(range(batches * per_batch))
    finally:
        backend.close()
        restarted.terminate()
        restarted.communicate(timeout=30)
