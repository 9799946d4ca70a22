"""Load-test support: the client process, real server processes, and exact counts.

Run as a script (``python load_support.py CLIENT RUNS PARAMS POINTS``, with
``CAIRN_TRACKING_URI`` set), it is one client: it logs RUNS runs through the public API
(``cairn.start_run``, ``log_param``, ``log_metric``), each started with PARAMS
parameters, given one more while active, logging POINTS metric points, and ending
FINISHED. Run names (``c<CLIENT>-r<i>``) and values are chosen so :func:`check_counts`
can account for every record exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

EXPERIMENT = "load"
HERE = Path(__file__).resolve()


def client_main(client: int, runs: int, params: int, points: int) -> None:
    import cairn

    for i in range(runs):
        given = {f"p{j}": f"{client}-{i}-{j}" for j in range(params)}
        with cairn.start_run(experiment=EXPERIMENT, name=f"c{client}-r{i}", params=given) as run:
            run.log_param("late", i)
            for step in range(points):
                run.log_metric("loss", value_of(client, i, step), step=step)
    print("done", flush=True)


def value_of(client: int, run: int, step: int) -> float:
    return client * 1_000_000 + run * 100 + step


def start_clients(
    urls: list[str],
    clients: int,
    runs: int,
    params: int,
    points: int,
    log_dir: Path,
    token: str | None = None,
) -> list[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """``clients`` client processes, spread round-robin over ``urls``."""
    started = []
    for c in range(clients):
        env = {
            **os.environ,
            "CAIRN_TRACKING_URI": urls[c % len(urls)],
            "CAIRN_HTTP_RETRY_SECONDS": "90",
            **({"CAIRN_TRACKING_TOKEN": token} if token else {}),
        }
        out = (log_dir / f"client-{c}.log").open("wb")
        argv = [sys.executable, str(HERE), str(c), str(runs), str(params), str(points)]
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append((proc, out))
    return started


def wait_clients(
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]], log_dir: Path, timeout: float
) -> None:
    """Every client exits 0 after printing ``done``; else fail showing its output."""
    deadline = time.monotonic() + timeout
    for c, (proc, out) in enumerate(started):
        try:
            code = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p, _ in started:
                p.kill()
            code = None
        out.close()
        text = (log_dir / f"client-{c}.log").read_text(errors="replace")
        assert code == 0 and text.rstrip().endswith("done"), f"client {c} ({code}):\n{text[-3000:]}"


@contextmanager
def server_process(
    store: str, artifacts: str, port: int, log: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``cairn server`` as a process whose output goes to ``log`` (a pipe nobody reads
    would fill and stall the server under load); stopped at the end."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn",
                "server",
                "--store",
                store,
                "--artifacts",
                artifacts,
                "--port",
                str(port),
                *extra,
            ],
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # --workers N: signal the whole group
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)


def create_schema(store: str) -> str:
    """Create the schema and an admin (``loader``); returns the admin's API token."""
    from cairn.access.admin import create_admin
    from cairn.store import open_metadata

    backend = open_metadata(store, create=True)
    try:
        backend.ensure_schema()
        return create_admin(backend.access, "loader", expires="1d")[1].secret
    finally:
        backend.close()


def wait_up(proc: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float = 60) -> None:
    """Until ``url`` answers ``/health`` with 200; fail at once, with the server's
    output, if the process ends first."""
    import httpx

    deadline = time.monotonic() + deadline_s
    while True:
        code = proc.poll()
        assert code is None, f"the server exited ({code}):\n{log.read_text(errors='replace')}"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"no answer from {url}:\n{log.read_text()}"
        time.sleep(0.05)


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and every worker it started: no shutdown, no flush."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def count_runs(pg_uri: str) -> int:
    import psycopg

    with psycopg.connect(pg_uri) as conn:
        row = conn.execute(
            "SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE e.name = %s",
            (EXPERIMENT,),
        ).fetchone()
    return int(row[0]) if row else 0


def check_counts(pg_uri: str, clients: int, runs: int, params: int, points: int) -> None:
    """Exactly the runs, params and metric points the clients logged: none missing, none
    doubled, every run FINISHED, every value where it belongs."""
    import psycopg

    with psycopg.connect(pg_uri) as conn:
        found = conn.execute(
            "SELECT r.id, r.name, r.status FROM runs r JOIN experiments e "
            "ON e.id = r.experiment_id WHERE e.name = %s",
            (EXPERIMENT,),
        ).fetchall()
        names = sorted(name for _, name, _ in found)
        expected = sorted(f"c{c}-r{i}" for c in range(clients) for i in range(runs))
        assert len(names) == len(expected), (len(names), len(expected))
        assert names == expected  # no run doubled, none missing
        assert {status for _, _, status in found} == {"FINISHED"}
        by_id = {run_id: name for run_id, name, _ in found}

        rows = conn.execute(
            "SELECT r.id, p.key, p.value FROM params p JOIN runs r ON r.run_key = p.run_key"
        ).fetchall()
        assert len(rows) == len(found) * (params + 1)
        for run_id, key, value in rows:
            c, i = (int(x) for x in by_id[run_id][1:].split("-r"))
            assert value == (str(i) if key == "late" else f"{c}-{i}-{key[1:]}")

        rows = conn.execute(
            "SELECT r.id, m.key, m.step, m.value FROM metrics m "
            "JOIN runs r ON r.run_key = m.run_key"
        ).fetchall()
        assert len(rows) == len(found) * points  # a doubled batch would add rows
        seen = set()
        for run_id, key, step, value in rows:
            c, i = (int(x) for x in by_id[run_id][1:].split("-r"))
            assert key == "loss" and value == value_of(c, i, step)
            seen.add((run_id, step))
        assert len(seen) == len(rows)


def check_audit(pg_uri: str, runs: int) -> None:
    """One ``ok`` audit entry per applied write, none doubled: exactly one per run
    created (a start, or a run recorded whole), at most one end per run, one
    experiment, and for every operation as many as the server recorded answered
    requests (idempotency keys) for it."""
    import psycopg

    with psycopg.connect(pg_uri) as conn:
        audited = dict(
            conn.execute(
                "SELECT operation, count(*) FROM audit_log WHERE result = 'ok' GROUP BY 1"
            ).fetchall()
        )
        answered = dict(
            conn.execute(
                "SELECT operation, count(*) FROM idempotency_keys WHERE status = 200 GROUP BY 1"
            ).fetchall()
        )
        users = {u for (u,) in conn.execute('SELECT DISTINCT "user" FROM audit_log')}
    created = audited.get("tracking.create_run", 0) + audited.get("tracking.record_run", 0)
    assert created == runs
    # A run is ended by end_run, or recorded whole (start and end in one request).
    assert audited.get("tracking.end_run", 0) <= runs
    assert audited.get("tracking.end_run", 0) + audited.get("tracking.record_run", 0) >= runs
    assert audited["tracking.create_experiment"] == 1
    assert audited == answered
    assert users == {"loader"}


if __name__ == "__main__":
    client_main(*(int(a) for a in sys.argv[1:5]))
