"""The retraining action end to end: a drift alert runs the real training pipeline, the
new version is gated against the production holder, and the alias moves only when the
gates pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loop_reports import report

import cairn
import cairn.workspace
from cairn import registry
from cairn.monitoring.rules import load_config
from cairn.monitoring.runner import Runner
from cairn.tracking import fluent

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "train.py"


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Any:
    fluent.reset()
    yield
    fluent.reset()


@pytest.fixture
def champion(workspace: cairn.workspace.Workspace) -> Path:
    """Version 1 of ``churn`` from the pipeline, holding ``production``; a hold-out file."""
    from sklearn.datasets import load_breast_cancer

    from cairn.pipelines import run_pipeline
    from cairn.pipelines.loader import load_target

    root = workspace.root
    assert root is not None
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.sample(frac=0.3, random_state=1).to_csv(root / "holdout.csv", index=False)
    pipe, target = load_target(f"{PIPELINE}:train_pipeline")
    run_pipeline(pipe, {"name": "churn", "min_auc": 2.0}, target=target, workspace=workspace)
    registry.promote("churn", 1, "production", workspace=workspace)
    return root


def _monitor(root: Path, gates: str, C: float) -> Any:
    (root / "gates.yaml").write_text(
        f"data: holdout.csv\ntarget: target\nrules:\n{gates}", encoding="utf-8"
    )
    return load_config(
        {
            "model": "churn@production",
            "rules": [
                {"name": "drift", "when": {"drift_share": {"above": 0.3}}, "actions": ["retrain"]}
            ],
            "actions": {
                "retrain": {
                    "pipeline": {
                        "target": f"{PIPELINE}:train_pipeline",
                        # min_auc 2.0: the pipeline's own staging step never promotes.
                        "params": {"name": "churn", "C": C, "min_auc": 2.0},
                        "model": "churn",
                        "alias": "production",
                        "gates": str(root / "gates.yaml"),
                        "auto_promote": True,
                    }
                }
            },
        }
    )


def test_drift_retrains_gates_and_promotes(
    workspace: cairn.workspace.Workspace, champion: Path
) -> None:
    config = _monitor(
        champion, "  - {metric: roc_auc, no_worse_than: production, tolerance: 0.01}\n", 0.5
    )
    cycle = Runner(config, check=lambda m, **_: report(drifted=3), workspace=workspace).run_once()
    (alert,) = cycle.alerts
    (action,) = cycle.actions
    assert action.state == "done", action.detail
    assert action.result["version"] == 2 and action.result["promoted"] is True
    assert registry.resolve_alias("churn", "production", workspace=workspace) == 2
    moved = registry.history("churn", workspace=workspace)[-1]
    assert (moved.from_version, moved.to_version) == (1, 2)
    assert alert.id in moved.reason


def test_a_worse_candidate_is_not_promoted(
    workspace: cairn.workspace.Workspace, champion: Path
) -> None:
    config = _monitor(champion, "  - {metric: roc_auc, min: 0.9999}\n", 0.25)
    cycle = Runner(config, check=lambda m, **_: report(drifted=3), workspace=workspace).run_once()
    (action,) = cycle.actions
    assert action.state == "done"
    assert (action.result["version"], action.result["promoted"]) == (2, False)
    assert "not promoting churn/2 to production" in action.detail
    # The champion keeps serving; the refused candidate carries the recorded verdict.
    assert registry.resolve_alias("churn", "production", workspace=workspace) == 1
    (verdict,) = workspace.registry.gate_results("churn", 2)
    assert verdict.passed is False
