"""XGBoost models in XGBoost's own UBJSON format (no pickle).

Both the scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``) and a bare
``Booster`` are supported; the wrapper class is recorded so loading rebuilds the same
wrapper, with ``predict_proba`` for classifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.models.flavors import type_module
from cairn.models.manifest import model_file

NAME = "xgboost"
PACKAGES = ("xgboost", "numpy", "scipy", "pandas")
FILE = "model.ubj"
WRAPPERS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


def matches(model: Any) -> bool:
    return type_module(model) == "xgboost"


def save(model: Any, directory: Path) -> dict[str, Any]:
    import xgboost

    wrapper = type(model).__name__
    if isinstance(model, xgboost.Booster):
        wrapper = "Booster"
    elif wrapper not in WRAPPERS:
        raise InvalidInput(f"unsupported XGBoost model type {wrapper}; use one of {WRAPPERS}")
    model.save_model(str(directory / FILE))
    return {"file": FILE, "wrapper": wrapper}


class _BoosterPredictor:
    """A bare Booster with ``predict`` taking arrays or DataFrames."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: Any) -> Any:
        import xgboost

        return (
            self.booster.inplace_predict(data)
            if hasattr(data, "shape")
            else (self.booster.predict(xgboost.DMatrix(data)))
        )


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    import xgboost

    path = str(model_file(directory, options.get("file", FILE)))
    wrapper = str(options.get("wrapper", "Booster"))
    if wrapper == "Booster":
        booster = xgboost.Booster()
        booster.load_model(path)
        return _BoosterPredictor(booster)
    if wrapper not in WRAPPERS:
        raise InvalidInput(f"unknown XGBoost wrapper {wrapper!r} in the model manifest")
    model = getattr(xgboost, wrapper)()
    model.load_model(path)
    return model
