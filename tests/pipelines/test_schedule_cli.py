"""`cairn scheduler` as a real process: a new dataset version starts the pipeline with it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.pipelines import schedule as schedules
from cairn.workspace import Workspace

HERE = Path(__file__).parent
FLOW = """
from __future__ import annotations
import cairn

@cairn.step
def count(dataset: str) -> int:
    return len(dataset)

@cairn.pipeline
def train(dataset: str = "none", lr: float = 0.1):
    count(dataset)
"""


def _cairn(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        check=False,
    )


def _new_version(root: Path, rows: str) -> None:
    data = root / "churn.csv"
    data.write_text("a,b\n" + rows, encoding="utf-8")
    cairn.data.add(data, name="churn")


@pytest.mark.parametrize("runner", ["default", "custom"])
def test_cairn_scheduler_once_starts_the_pipeline_for_a_new_dataset_version(
    workspace: Workspace, tmp_path: Path, runner: str
) -> None:
    if runner == "default" and importlib.util.find_spec("cairn.pipelines.runner") is None:
        pytest.skip("this installation has no pipeline runner (cairn.pipelines.runner)")
    assert workspace.root is not None
    root = workspace.root
    (root / "flow.py").write_text(FLOW, encoding="utf-8")
    _new_version(root, "1,2\n")
    schedules.add_schedule(
        "retrain", "flow.py:train", on_dataset="churn", params={"lr": 0.5}, workspace=workspace
    )
    log = tmp_path / "calls.jsonl"
    extra = [] if runner == "default" else ["--runner", "schedule_helpers:recording_runner"]
    env = {"SCHEDULE_TEST_LOG": str(log)}

    idle = _cairn(root, "scheduler", "--once", *extra, env=env)
    assert (idle.returncode, idle.stdout, idle.stderr) == (0, "", "")  # v1 is not new

    _new_version(root, "1,2\n3,4\n")
    fired = _cairn(root, "scheduler", "--once", *extra, env=env)
    assert fired.returncode == 0, fired.stderr
    assert fired.stdout.splitlines()[0] == "started retrain churn@v2"
    (firing,) = schedules.store(workspace).list_firings("retrain")
    assert (firing.fire_key, firing.state) == ("churn@v2", "finished")
    if runner == "custom":
        (call,) = [json.loads(line) for line in log.read_text().splitlines()]
        assert call["params"] == {"lr": "0.5", "dataset": "churn@v2"}
        assert firing.run_id == "run-from-test"
    else:
        run = cairn.get_run(firing.run_id)  # the pipeline's own run
        assert run.status is cairn.RunStatus.FINISHED

    again = _cairn(root, "scheduler", "--once", *extra, env=env)
    assert again.stdout == ""  # v2 was started once; nothing new since
    assert len(schedules.store(workspace).list_firings("retrain")) == 1
