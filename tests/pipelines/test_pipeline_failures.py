"""A step that raises, hangs, or is interrupted: the other branches' results stay stored,
downstream steps are skipped, the run can be resumed, and the error names the step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_helpers import load, states

import cairn.workspace
from cairn.pipelines import PipelineFailed, run_pipeline

BRANCHES = """
import os

@cairn.step
def source(n: int) -> list:
    return list(range(n))

@cairn.step
def good(rows: list) -> int:
    return sum(rows)

@cairn.step
def bad(rows: list) -> int:
    if not os.path.exists("fixed"):
        raise ValueError("column 'age' has negative values")
    return len(rows)

@cairn.step
def report(count: int) -> dict:
    return {"count": count}

@cairn.pipeline
def flow(n: int = 5):
    rows = source(n)
    good(rows)
    report(bad(rows))
"""


def _wait_for(condition: Callable[[], bool], what: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_failing_step_keeps_other_branches_and_resume_reruns_only_what_failed(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    project("flow.py", BRANCHES)
    failed = cli("pipeline", "run", "flow.py:flow")
    assert failed.returncode == 1
    # The step's own traceback, once, under its name; then the one-line error.
    assert failed.stderr.count("Traceback") == 1
    assert failed.stderr.count("ValueError: column 'age' has negative values") == 2
    assert "step 'bad' failed:" in failed.stderr
    assert 'flow.py", line ' in failed.stderr and "in bad" in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pipeline run ")
    assert "step 'bad' raised ValueError: column 'age' has negative values" in last
    assert "1 downstream step(s) skipped" in last and "cairn pipeline resume" in last
    assert "ran      good" in failed.stdout

    runs = workspace.metadata.pipelines.list_runs()
    assert [r.state for r in runs] == ["failed"]
    records = {r.step: r for r in workspace.metadata.pipelines.list_steps(runs[0].run_id)}
    assert {k: r.state for k, r in records.items()} == {
        "source": "ran", "good": "ran", "bad": "failed", "report": "skipped",
    }  # fmt: skip
    stored = json.loads(records["good"].outputs)[0]["digest"]
    assert workspace.artifacts.exists(stored)
    step_run = workspace.tracking.get_run(records["bad"].step_run_id or "")
    assert step_run.status == "FAILED" and "negative" in step_run.tags["cairn.step.error"]

    (workspace.root / "fixed").write_text("")  # type: ignore[operator]
    resumed = cli("pipeline", "resume", runs[0].run_id[:12])
    assert resumed.returncode == 0, resumed.stderr
    assert "cached   source" in resumed.stdout and "cached   good" in resumed.stdout
    assert "ran      bad" in resumed.stdout and "ran      report" in resumed.stdout
    newest = workspace.metadata.pipelines.list_runs()[0]
    assert newest.resumed_from == runs[0].run_id and newest.state == "finished"


def test_retries_run_a_flaky_step_again_until_it_succeeds(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        COUNT = __file__ + ".attempts"

        @cairn.step(retries=2, retry_delay=0.01)
        def flaky(n: int) -> int:
            with open(COUNT, "a+") as f:
                f.write("x")
                f.seek(0)
                attempts = len(f.read())
            if attempts < 3:
                raise ConnectionError("service busy")
            return n

        @cairn.pipeline
        def flow(n: int = 1):
            flaky(n)
        """,
    )
    outcome = run_pipeline(load(path), {})
    assert states(outcome) == {"flaky": "ran"}
    assert outcome.steps["flaky"].attempts == 3
    assert outcome.output("flaky") == 1


def test_a_step_that_keeps_failing_fails_after_its_retries(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        @cairn.step(retries=1, retry_delay=0.01)
        def broken(n: int) -> int:
            raise RuntimeError("always")

        @cairn.pipeline
        def flow(n: int = 1):
            broken(n)
        """,
    )
    with pytest.raises(PipelineFailed, match="step 'broken' raised RuntimeError: always") as info:
        run_pipeline(load(path), {})
    assert info.value.outcome is not None
    assert info.value.outcome.steps["broken"].attempts == 2


def test_a_step_past_its_timeout_is_stopped_and_the_others_finish(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        import os, time

        @cairn.step(timeout=1)
        def hangs(n: int) -> int:
            while not os.path.exists("never"):   # a step stuck on a resource
                time.sleep(0.05)
            return n

        @cairn.step
        def quick(n: int) -> int:
            return n + 1

        @cairn.pipeline
        def flow(n: int = 1):
            hangs(n)
            quick(n)
        """,
    )
    with pytest.raises(PipelineFailed, match="step 'hangs' failed with TaskTimeout") as info:
        run_pipeline(load(path), {}, executor="process")
    outcome = info.value.outcome
    assert outcome is not None
    assert states(outcome) == {"hangs": "failed", "quick": "ran"}
    assert outcome.output("quick") == 2


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_ctrl_c_records_the_run_as_interrupted_and_resume_finishes_it(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    cli: Callable[..., subprocess.CompletedProcess[str]],
    executor: str,
) -> None:
    project(
        "flow.py",
        """
        import os, time

        @cairn.step
        def first(n: int) -> int:
            return n * 10

        @cairn.step
        def slow(x: int) -> int:
            open("started", "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists("release") and time.monotonic() < deadline:
                time.sleep(0.02)
            return x + 1

        @cairn.pipeline
        def flow(n: int = 1):
            slow(first(n))
        """,
    )
    root = workspace.root
    assert root is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow", "--executor", executor],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a child inherits an ignored SIGINT (Python
        # then never raises KeyboardInterrupt), so the disposition is reset, not inherited
        # from whatever the test process was doing.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env=dict(os.environ),
    )
    try:
        _wait_for(lambda: (root / "started").exists(), "the slow step to start")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # closes the pipes (an open one fails the next test)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted: pipeline run ")
    assert "cairn pipeline resume" in err and "Traceback" not in err
    run = workspace.metadata.pipelines.list_runs()[0]
    assert run.state == "interrupted"
    records = {r.step: r.state for r in workspace.metadata.pipelines.list_steps(run.run_id)}
    assert records == {"first": "ran", "slow": "interrupted"}
    assert workspace.tracking.get_run(run.run_id).status == "KILLED"

    (root / "release").write_text("")
    resumed = cli("pipeline", "resume", run.run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "cached   first" in resumed.stdout and "ran      slow" in resumed.stdout
