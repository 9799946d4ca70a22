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


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of the whole demo (it takes a while), shared by the tests that read it."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    workspace = tmp_path_factory.mktemp("e2e-demo") / "demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo" / "run.py"), "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=900,  # a safety net on a busy machine, not a speed requirement
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    return proc, workspace


def _cairn(workspace: Path, *args: str, code: int = 0) -> str:
    """Run ``cairn ARGS`` in the demo's workspace; assert its exit code; its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == code, f"cairn {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.mark.timeout(900)  # the demo's own run happens in the first of these tests
def test_demo_runs_end_to_end(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, workspace = demo
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
    # The registry step promoted a version to production (the loop moved it later).
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


DRIFTED = {"mean_texture", "worst_smoothness"}


@pytest.mark.timeout(900)
def test_demo_loop_drift_retrains_gates_promotes_and_the_server_swaps(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The monitoring loop of the demo, asserted from the outside with the real commands:
    the traffic of version 1 drifted on two measurements and only those are flagged; the
    drift rule raised exactly one alert (a second cycle raised none); its retrain action
    trained on the newest data, passed the gates against production, and moved the
    alias; the server that answered with version 1 answered with the new version."""
    proc, workspace = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # The check flags the two shifted features, none of the 28 untouched ones.
    report = json.loads(
        _cairn(workspace, "monitor", "check", "breast-cancer/1", "--window", "1h", "--json", code=3)
    )
    flagged = {f["feature"] for f in report["features"] if f["drifted"]}
    assert flagged == DRIFTED
    assert len(report["features"]) == 30
    assert all(f["score"] is not None for f in report["features"])

    # One alert, from the drift rule, on that evidence; both its actions finished.
    alerts = json.loads(_cairn(workspace, "monitor", "alerts", "--json"))
    assert [a["rule"] for a in alerts] == ["drift"]
    alert = alerts[0]
    assert alert["version"] == "1"
    assert set(alert["evidence"]["drifted"]) == DRIFTED
    assert alert["resolved_ms"] is not None  # the second cycle saw the new version healthy
    retrain = next(a for a in alert["actions"] if a["kind"] == "pipeline")
    assert retrain["state"] == "done", retrain["detail"]
    assert retrain["result"]["gates_passed"] is True
    assert retrain["result"]["promoted"] is True
    new = retrain["result"]["version"]

    # The alias moved to that version, because of that alert.
    model = json.loads(_cairn(workspace, "models", "show", "breast-cancer", "--json"))
    assert model["aliases"]["production"] == new
    assert model["latest_version"] == new  # a second cycle registered nothing more
    history = json.loads(_cairn(workspace, "models", "history", "breast-cancer", "--json"))
    assert (history[-1]["from"], history[-1]["to"]) == (1, new)
    assert alert["id"] in history[-1]["reason"]

    # The new version was trained on the newest data: its reference is breast-cancer@v2,
    # and the traffic it served after the swap matches it (exit 0: nothing found).
    fresh = json.loads(
        _cairn(workspace, "monitor", "check", f"breast-cancer/{new}", "--window", "1h", "--json")
    )
    assert fresh["reference"].startswith("breast-cancer@v2 ")
    assert not any(f["drifted"] for f in fresh["features"])

    # The server kept running: the same process answered with version 1, then the new one.
    assert f"GET /v2/models/breast-cancer: version {new} (was 1; swapped in" in proc.stdout
    assert f"[model version {new}]" in proc.stdout
    log = subprocess.run(
        [
            sys.executable, "-c",
            "import cairn.serving, json; d = cairn.serving.read_log('breast-cancer'); "
            "print(json.dumps(d.groupby(d.request_id.str.split('-').str[0])"
            ".version.unique().apply(sorted).to_dict()))",
        ],
        cwd=workspace, capture_output=True, text=True, check=True,
    )  # fmt: skip
    served = json.loads(log.stdout)
    assert served["drifted"] == ["1"]
    assert served["after"] == [str(new)]


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
