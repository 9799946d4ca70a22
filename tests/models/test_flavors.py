"""Every flavor saves and loads back to identical predictions; unsafe loads are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from cairn.errors import InvalidInput
from cairn.models import load, save_model


class Doubler(BaseEstimator, TransformerMixin):  # a type skops does not know
    def fit(self, X: object, y: object = None) -> Doubler:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X * 2


def numeric(table: tuple[pd.DataFrame, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = table
    return X.drop(columns=["plan"]), y


def test_sklearn_pipeline_round_trip_predicts_identically(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = table
    manifest = save_model(pipeline, tmp_path / "m", input_example=X.head(5))
    assert manifest.flavor == "sklearn"
    assert "scikit-learn" in manifest.packages and "skops" in manifest.packages
    model = load(str(tmp_path / "m"))
    np.testing.assert_array_equal(model.predict(X), pipeline.predict(X))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(model.predict_proba(X), pipeline.predict_proba(X))  # type: ignore[attr-defined]
    assert model.version is None and model.flavor == "sklearn"


def test_sklearn_random_forest_loads_without_trust(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = numeric(table)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    save_model(forest, tmp_path / "rf", input_example=X.head(3))
    np.testing.assert_array_equal(load(str(tmp_path / "rf")).predict(X), forest.predict(X))


def test_skops_refuses_unknown_types_naming_them(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = numeric(table)
    model = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(X, y)
    save_model(model, tmp_path / "m", input_example=X.head(3))
    with pytest.raises(InvalidInput, match=r"not known to be safe: .*test_flavors\.Doubler"):
        load(str(tmp_path / "m"))
    trusted = load(str(tmp_path / "m"), trust=True)
    np.testing.assert_array_equal(trusted.predict(X), model.predict(X))


def test_xgboost_round_trip_in_native_format(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import xgboost

    X, y = numeric(table)
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    manifest = save_model(model, tmp_path / "x", input_example=X.head(3))
    assert manifest.flavor == "xgboost"
    assert [f.path for f in manifest.files if f.path.startswith("model")] == ["model.ubj"]
    loaded = load(str(tmp_path / "x"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_round_trip_in_native_format(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import lightgbm

    X, y = numeric(table)
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    manifest = save_model(model, tmp_path / "l", input_example=X.head(3))
    assert manifest.flavor == "lightgbm"
    loaded = load(str(tmp_path / "l"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_onnx_round_trip(tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = numeric(table)
    data = X.to_numpy(np.float32)
    model = LogisticRegression(max_iter=1000).fit(data, y)
    proto = to_onnx(model, data[:1], options={id(model): {"zipmap": False}})
    manifest = save_model(proto, tmp_path / "o", input_example=data[:4])
    assert manifest.flavor == "onnx" and manifest.signature.is_tensor
    loaded = load(str(tmp_path / "o"))
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    np.testing.assert_allclose(loaded.predict_proba(data), model.predict_proba(data), atol=1e-5)


def test_function_flavor_needs_trust(tmp_path: Path) -> None:
    def score(frame: pd.DataFrame) -> np.ndarray:
        return (frame["a"] * 2).to_numpy()

    example = pd.DataFrame({"a": [1.0, 2.0]})
    assert save_model(score, tmp_path / "f", input_example=example).flavor == "function"
    with pytest.raises(InvalidInput, match=r"function flavor.*pickle.*trust=True"):
        load(str(tmp_path / "f"))
    loaded = load(str(tmp_path / "f"), trust=True)
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame({"a": [3.0]})), [6.0])


def test_save_refuses_non_empty_directory(tmp_path: Path, pipeline: object) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not empty"):
        save_model(pipeline, tmp_path / "m")


def test_unsupported_object_is_refused_naming_its_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"no flavor can save a builtins\.int"):
        save_model(3, tmp_path / "m")
    assert not (tmp_path / "m").exists()
