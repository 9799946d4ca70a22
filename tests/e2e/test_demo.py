"""The demo (`make demo`) runs end to end in a fresh workspace and ranks its models."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    workspace = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo" / "run.py"), "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo stopped" not in proc.stderr
    assert "best model:" in proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr[:3000]  # a new user sees no noise

    listed = subprocess.run(
        [
            sys.executable, "-m", "cairn", "runs", "ls", "--json", "--experiment",
            "breast-cancer", "--sort", "metrics.auc desc",
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    runs = json.loads(listed.stdout)
    assert len(runs) == 3
    assert all(r["status"] == "FINISHED" for r in runs)
    aucs = [r["metrics"]["auc"] for r in runs]
    assert aucs == sorted(aucs, reverse=True)
    assert all(auc > 0.9 for auc in aucs)
    assert {r["params"]["model"] for r in runs} == {"logreg", "rf", "gb"}
    # Each training run read the demo's dataset version and wrote a model.
    assert all(any(i["kind"] == "dataset" for i in r["inputs"]) for r in runs)
    assert all(any(o["kind"] == "model" for o in r["outputs"]) for r in runs)
    # The registry step promoted a version to production.
    shown = subprocess.run(
        [sys.executable, "-m", "cairn", "models", "history", "breast-cancer"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "production" in shown.stdout
    verify = subprocess.run(
        [sys.executable, "-m", "cairn", "verify"], cwd=workspace, capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_run", ROOT / "examples/demo/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_stops_at_a_failing_step_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_step.py").write_text(
        "def run(ctx):\n    raise ValueError('the data set is empty')\n"
    )
    (tmp_path / "after_step.py").write_text("def run(ctx):\n    print('AFTER RAN')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = _load_runner()
    monkeypatch.setattr(
        runner,
        "STEPS",
        [("missing", "steps.not_written_yet"), ("broken", "broken_step"), ("after", "after_step")],
    )
    monkeypatch.chdir(tmp_path)
    assert runner.main(["--workspace", str(tmp_path / "ws")]) == 1
    out, err = capsys.readouterr()
    assert "demo stopped: step 'broken' failed: ValueError: the data set is empty" in err
    assert "AFTER RAN" not in out
    assert "step: missing" not in out  # steps not written yet are skipped


def test_demo_stops_when_the_workspace_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples/demo/run.py"), "--workspace", str(blocker / "ws")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "demo stopped: could not create the workspace" in proc.stderr
    assert "Traceback" not in proc.stderr
