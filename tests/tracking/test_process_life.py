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


def _spawn(root: Path, body: str) -> subprocess.Popen[str]:
    script = root / "job.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=root,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
