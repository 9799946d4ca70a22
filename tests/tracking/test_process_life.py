"""What happens to runs when a real Python process ends: SIGTERM, crash, plain exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cairn
from cairn.tracking.fluent import ERROR_TYPE_TAG
from cairn.types import RunStatus
from cairn.workspace import Workspace


def _spawn(root: Path, body: str, **env: str) -> subprocess.Popen[str]:
    script = root / "job.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=root,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(root: Path, body: str) -> tuple[int, str, str]:
    proc = _spawn(root, body)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _wait_for_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else ""
    return line


def test_sigterm_ends_the_run_killed_and_the_process_dies_by_sigterm(
    workspace: Workspace,
) -> None:
    proc = _spawn(
        workspace.root,  # type: ignore[arg-type]
        """
        import signal, cairn
        run = cairn.start_run(experiment="long")
        for i in range(500):
            cairn.log_metric("loss", 1.0 / (i + 1))
        print(run.id, flush=True)  # the run and its handlers exist before this line
        signal.pause()
        """,
    )
    # The line is the condition: the child prints it once its handlers are in place,
    # so the signal needs no head start.
    run_id = _wait_for_line(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    stored = cairn.get_run(run_id)
    assert stored.status is RunStatus.KILLED
    assert len(cairn.get_metric_history(run_id, "loss")) == 500


def test_sigterm_still_reaches_the_programs_own_handler(workspace: Workspace) -> None:
    proc = _spawn(
        workspace.root,  # type: ignore[arg-type]
        """
        import signal, sys, cairn
        def own(signum, frame):
            print("own handler", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, own)
        with cairn.start_run() as run:
            print(run.id, flush=True)  # both handlers are installed before this line
            signal.pause()
        """,
    )
    # The line is the condition: the child prints it once its handlers are in place,
    # so the signal needs no head start.
    run_id = _wait_for_line(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert "own handler" in out
    assert cairn.get_run(run_id).status is RunStatus.KILLED


def test_buffered_metrics_are_written_at_plain_exit_without_end_run(
    workspace: Workspace,
) -> None:
    code, out, err = _run(
        workspace.root,  # type: ignore[arg-type]
        """
        import cairn
        run = cairn.start_run()
        for i in range(20000):
            cairn.log_metric("m", float(i))
        print(run.id)
        """,
    )
    assert code == 0, err
    run_id = out.strip()
    assert cairn.get_run(run_id).status is RunStatus.FINISHED
    history = cairn.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(20000))


def test_client_points_are_written_at_exit_without_flush(workspace: Workspace) -> None:
    code, out, err = _run(
        workspace.root,  # type: ignore[arg-type]
        """
        import cairn.workspace
        from cairn.tracking import TrackingClient
        client = TrackingClient(cairn.workspace.current())
        run = client.create_run("plain")
        for i in range(3000):
            client.log_metric(run.id, "m", float(i), step=i)
        print(run.id)
        """,
    )
    assert code == 0, err
    assert len(cairn.get_metric_history(out.strip(), "m")) == 3000


def test_uncaught_exception_ends_the_open_run_failed(workspace: Workspace) -> None:
    code, out, err = _run(
        workspace.root,  # type: ignore[arg-type]
        """
        import cairn
        run = cairn.start_run()
        cairn.log_metric("before", 1.0)
        print(run.id, flush=True)
        raise RuntimeError("diverged")
        """,
    )
    assert code == 1
    assert "RuntimeError: diverged" in err
    stored = cairn.get_run(out.strip())
    assert stored.status is RunStatus.FAILED
    assert stored.tags[ERROR_TYPE_TAG] == "RuntimeError"
    assert stored.metrics["before"].value == 1.0


def test_forked_worker_logs_to_the_parent_run_but_does_not_end_it(
    workspace: Workspace,
) -> None:
    code, out, err = _run(
        workspace.root,  # type: ignore[arg-type]
        """
        import os, sys, cairn
        with cairn.start_run() as run:
            pid = os.fork()
            if pid == 0:
                cairn.log_metric("from_child", 1.0)
                sys.exit(0)  # a normal exit: atexit runs in the child
            os.waitpid(pid, 0)
            print(run.id, cairn.active_run() is run, cairn.get_run(run.id).status)
        """,
    )
    assert code == 0, err
    run_id, still_active, status_in_parent = out.split()
    assert (still_active, status_in_parent) == ("True", "RUNNING")
    stored = cairn.get_run(run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.metrics["from_child"].value == 1.0


# -- a logging loop faster than the store: bounded memory, bounded loss --------------------


def test_a_tight_logging_loop_holds_no_more_than_the_buffer_size(workspace: Workspace) -> None:
    """300,000 points as fast as Python can log them: the queue stops at the buffer size
    (the logger waits for the writer) instead of growing by tens of megabytes."""
    proc = _spawn(
        workspace.root,  # type: ignore[arg-type]
        """
        import resource, cairn
        from cairn.tracking.fluent import current_client
        with cairn.start_run() as run:
            cairn.log_metric("loss", 0.0, step=0)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for step in range(1, 300_000):
                cairn.log_metric("loss", 1.0 / step, step=step)
            grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            buffer = current_client().metric_buffer
            print(run.id, buffer.capacity, buffer.high_water, grown_kib)
        """,
        CAIRN_METRIC_BUFFER="5000",
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    run_id, capacity, high_water, grown_kib = out.split()
    assert int(capacity) == 5000
    assert 0 < int(high_water) <= 5000
    # The queue of 5,000 points is well under a megabyte; the unbounded queue of the
    # same loop grew by about 45 MiB.
    assert int(grown_kib) < 16 * 1024
    assert len(cairn.get_metric_history(run_id, "loss")) == 300_000


def test_sigkill_during_a_tight_logging_loop_loses_at_most_the_buffer_size(
    workspace: Workspace,
) -> None:
    """Kill -9 a process logging as fast as it can, once it has logged many times the
    buffer size for more than one flush interval: every point but the last
    ``metric_buffer`` of those it reported logged is in the store."""
    proc = _spawn(
        workspace.root,  # type: ignore[arg-type]
        """
        import time, cairn
        from cairn.tracking.fluent import current_client
        run = cairn.start_run()
        buffer = current_client().metric_buffer
        print(run.id, buffer.capacity, buffer.interval, flush=True)
        began = time.monotonic()
        step = 0
        while True:
            cairn.log_metric("loss", 1.0, step=step)
            step += 1
            if step % 1000 == 0:
                print(step, time.monotonic() - began, flush=True)
        """,
        CAIRN_METRIC_BUFFER="5000",
    )
    try:
        run_id, capacity_text, interval_text = _wait_for_line(proc).split()
        capacity, interval = int(capacity_text), float(interval_text)
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline().split()
            assert line, "the logging process ended before it was killed"
            logged, elapsed = int(line[0]), float(line[1])
            if logged >= 20 * capacity and elapsed >= 2 * interval:
                break
        proc.kill()
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    stored = len(cairn.get_metric_history(run_id, "loss"))
    assert stored >= logged - capacity, f"{logged - stored} of {logged} points lost"
    assert cairn.get_run(run_id).status is RunStatus.RUNNING  # nobody could end it


def test_sigterm_while_the_logger_waits_on_a_full_buffer_loses_nothing(
    workspace: Workspace,
) -> None:
    """A scheduler stops a job whose loop is held back by a full buffer: the handler
    still gets to run, writes every point logged and ends the run KILLED."""
    proc = _spawn(
        workspace.root,  # type: ignore[arg-type]
        """
        import cairn
        run = cairn.start_run()
        print(run.id, flush=True)
        step = 0
        while True:
            cairn.log_metric("loss", 1.0, step=step)
            step += 1
            if step % 1000 == 0:
                print(step, flush=True)
        """,
        CAIRN_METRIC_BUFFER="2000",
    )
    try:
        run_id = _wait_for_line(proc)
        assert proc.stdout is not None
        logged = 0
        while logged < 50_000:  # 25 times the buffer: the loop has waited on it often
            logged = int(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM
    assert cairn.get_run(run_id).status is RunStatus.KILLED
    history = cairn.get_metric_history(run_id, "loss")
    assert len(history) >= logged
    assert [m.step for m in history] == list(range(len(history)))


def test_a_full_disk_at_exit_ends_the_run_failed_and_says_how_many_points_were_lost(
    workspace: Workspace,
) -> None:
    """The script never ends its run; the database fills up while it logs (SQLite's own
    disk-full error, through ``PRAGMA max_page_count``). At exit the run ends FAILED
    with the count, and stderr says so."""
    code, out, err = _run(
        workspace.root,  # type: ignore[arg-type]
        """
        import cairn
        from sqlalchemy import event
        from cairn.tracking.fluent import current_client
        run = cairn.start_run()
        engine = current_client().workspace.metadata.engine
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        @event.listens_for(engine, "connect")
        def limit(dbapi_conn, record):
            dbapi_conn.execute(f"PRAGMA max_page_count={pages + 4}")
        engine.dispose()
        for step in range(50_000):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        print(run.id)
        """,
    )
    assert code == 0, err
    run_id = out.strip()
    stored = cairn.get_run(run_id)
    assert stored.status is RunStatus.FAILED
    lost = int(stored.tags["cairn.metrics.lost"])
    assert lost > 0
    assert len(cairn.get_metric_history(run_id, "loss")) + lost == 50_000
    assert (
        f"cairn: while ending run {run_id}: run {run_id} ended FAILED: "
        f"{lost} metric point(s) of run {run_id} could not be recorded "
        "(OperationalError: database or disk is full)"
    ) in err
