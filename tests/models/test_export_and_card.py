from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.errors import InvalidInput
from cairn.models import load, save_model
from cairn.models.card import render_card
from cairn.models.export import export_onnx
from cairn.models.flavors.onnx import OnnxPredictor
from cairn.workspace import Workspace


def test_onnx_export_matches_the_original(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = table
    save_model(pipeline, tmp_path / "m", input_example=X.head(20))
    report = export_onnx(load(str(tmp_path / "m")), tmp_path / "model.onnx", data=X)
    assert report.labels_equal and report.max_abs_diff < 1e-4 and report.rows_checked == len(X)
    onnx_model = OnnxPredictor(tmp_path / "model.onnx")
    np.testing.assert_array_equal(onnx_model.predict(X), pipeline.predict(X))  # type: ignore[attr-defined]


def test_export_of_a_booster_is_refused_and_writes_nothing(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import lightgbm

    X, y = table
    X = X.drop(columns=["plan"])
    model = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    save_model(model, tmp_path / "l", input_example=X.head(3))
    with pytest.raises(InvalidInput, match="lightgbm model; ONNX export supports scikit-learn"):
        export_onnx(load(str(tmp_path / "l")), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_model_card_shows_use_data_metrics_signature_and_environment(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = table
    with cairn.start_run(experiment="churn") as run:
        cairn.log_metrics({"roc_auc": 0.97, "accuracy/plan=basic": 0.91})
        cairn.log_model(pipeline, input_example=X.head(5), registered_name="churn")
    workspace.registry.update_model("churn", description="Flags customers likely to leave.")
    card = render_card(cairn.registry.describe("churn", 1))
    assert card.startswith("# churn, version 1\n")
    assert "## Intended use\n\nFlags customers likely to leave." in card
    assert "| roc_auc | 0.97 |" in card
    assert "| accuracy | plan=basic | 0.91 |" in card
    assert "| plan | str | - |" in card
    assert "`scikit-learn==" in card
    assert f"- Run: `{run.id}`" in card
