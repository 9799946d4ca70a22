"""Several processes log runs into one workspace at once; nothing is lost or locked out.

4 processes x 250 runs x 20 metric points, through the public API, against one SQLite
file and against one PostgreSQL database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cairn
import cairn.workspace
from cairn.types import RunStatus
from cairn.workspace import Workspace

PROCESSES = 4
RUNS = 250
POINTS = 20

WORKER = textwrap.dedent(
    """
    import sys
    import cairn

    worker, runs, points = (int(a) for a in sys.argv[1:4])
    for r in range(runs):
        with cairn.start_run(
            experiment="concurrent", name=f"w{worker}-r{r}", params={"worker": worker, "run": r}
        ):
            for i in range(points):
                cairn.log_metric("loss", 1.0 / (i + 1))
            cairn.log_metric("worker", worker)
    print("done", worker)
    """
)


def _log_concurrently(root: Path) -> float:
    script = root / "worker.py"
    script.write_text(WORKER)
    began = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(w), str(RUNS), str(POINTS)],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    elapsed = time.monotonic() - began
    for w, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert "database is locked" not in err.lower(), err
        assert proc.returncode == 0, f"worker {w} failed:\n{err}"
        assert out.strip() == f"done {w}"
    return elapsed


def _check_everything_arrived() -> None:
    runs = cairn.search_runs("concurrent", max_results=10 * PROCESSES * RUNS)
    assert len(runs) == PROCESSES * RUNS
    assert {r.status for r in runs} == {RunStatus.FINISHED}
    assert {r.name for r in runs} == {f"w{w}-r{r}" for w in range(PROCESSES) for r in range(RUNS)}
    points = 0
    for run in runs:
        history = cairn.get_metric_history(run.id, "loss")
        assert [m.step for m in history] == list(range(POINTS)), run.name
        points += len(history)
        assert run.metrics["worker"].value == float(run.params["worker"])
    assert points == PROCESSES * RUNS * POINTS


@pytest.mark.slow
def test_concurrent_processes_lose_nothing_in_one_sqlite_workspace(workspace: Workspace) -> None:
    elapsed = _log_concurrently(workspace.root)  # type: ignore[arg-type]
    _check_everything_arrived()
    print(f"sqlite: {PROCESSES * RUNS} runs in {elapsed:.1f}s")


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_processes_lose_nothing_in_one_postgres_database(
    workspace: Workspace, postgres_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_TRACKING_URI", postgres_uri)
    cairn.workspace.reset()
    cairn.workspace.current().metadata.upgrade()  # `cairn db upgrade`: a new database
    elapsed = _log_concurrently(workspace.root)  # type: ignore[arg-type]
    _check_everything_arrived()
    print(f"postgres: {PROCESSES * RUNS} runs in {elapsed:.1f}s")


TIGHT_WORKER = textwrap.dedent(
    """
    import sys
    import cairn
    from cairn.tracking.fluent import current_client

    worker, points = int(sys.argv[1]), int(sys.argv[2])
    with cairn.start_run(experiment="tight", name=f"w{worker}") as run:
        for step in range(points):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        buffer = current_client().metric_buffer
    print(run.id, buffer.capacity, buffer.high_water)
    """
)


@pytest.mark.slow
def test_processes_held_back_by_a_small_buffer_lose_nothing(workspace: Workspace) -> None:
    """Four tight logging loops against one SQLite file, each with a buffer far smaller
    than what it logs: every loop waits on its writer, and the writers wait on each
    other's transactions; every point still arrives and no buffer outgrows its size."""
    script = workspace.root / "tight.py"  # type: ignore[operator]
    script.write_text(TIGHT_WORKER)
    points = 40_000
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(w), str(points)],
            cwd=workspace.root,
            env={**os.environ, "CAIRN_METRIC_BUFFER": "1000"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for w, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, f"worker {w} failed:\n{err}"
        run_id, capacity, high_water = out.split()
        assert (capacity, 0 < int(high_water) <= 1000) == ("1000", True), out
        run = cairn.get_run(run_id)
        assert run.status is RunStatus.FINISHED
        history = cairn.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(points)), run.name
