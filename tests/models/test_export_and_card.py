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


def _estimator(kind: str) -> object:
    import lightgbm
    import xgboost
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "random-forest": lambda: RandomForestClassifier(n_estimators=20, random_state=0),
        "ridge": lambda: Ridge(),
        "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=20),
        "scaler-logreg-pipeline": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
        "xgboost-classifier": lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=3),
        "xgboost-regressor": lambda: xgboost.XGBRegressor(n_estimators=20, max_depth=3),
        "lightgbm-classifier": lambda: lightgbm.LGBMClassifier(n_estimators=20, verbose=-1),
        "lightgbm-regressor": lambda: lightgbm.LGBMRegressor(n_estimators=20, verbose=-1),
    }[kind]()


@pytest.mark.parametrize("fitted_on", ["dataframe", "array"])
@pytest.mark.parametrize(
    "kind",
    [
        "random-forest",
        "ridge",
        "gradient-boosting",
        "scaler-logreg-pipeline",
        "xgboost-classifier",
        "xgboost-regressor",
        "lightgbm-classifier",
        "lightgbm-regressor",
    ],
)
def test_onnx_export_of_common_models_matches_them(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray], kind: str, fitted_on: str
) -> None:
    """The most common case: an estimator fitted on a numeric DataFrame (or its array)."""
    X, y = table
    X = X.drop(columns=["plan"])
    data = X if fitted_on == "dataframe" else X.to_numpy()
    model = _estimator(kind).fit(data, y)  # type: ignore[attr-defined]
    save_model(model, tmp_path / "m", input_example=data[:20])
    report = export_onnx(load(str(tmp_path / "m")), tmp_path / "model.onnx", data=data)
    assert report.rows_checked == len(X) and report.labels_equal
    exported = OnnxPredictor(tmp_path / "model.onnx")
    frame = X if fitted_on == "dataframe" else pd.DataFrame(data)
    got, want = exported.predict(frame), np.asarray(model.predict(data))  # type: ignore[attr-defined]
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(got, want)


def test_export_of_a_model_without_an_onnx_converter_is_refused_and_writes_nothing(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import lightgbm

    X, y = table
    X = X.drop(columns=["plan"])
    labels = np.where(y == 1, "yes", "no")
    model = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, labels)
    save_model(model, tmp_path / "l", input_example=X.head(3))
    with pytest.raises(InvalidInput, match=r"classes are \['no', 'yes'\].*encoded labels"):
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
