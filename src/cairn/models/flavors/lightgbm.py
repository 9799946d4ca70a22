"""LightGBM models in LightGBM's text format (no pickle).

The scikit-learn wrappers are saved as their booster plus what the wrapper adds (the
class labels of a classifier), so loading needs only ``lightgbm.Booster``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.models.flavors import type_module
from cairn.models.manifest import model_file

NAME = "lightgbm"
PACKAGES = ("lightgbm", "numpy", "scipy", "pandas")
FILE = "model.txt"


def matches(model: Any) -> bool:
    return type_module(model) == "lightgbm"


def save(model: Any, directory: Path) -> dict[str, Any]:
    import lightgbm

    options: dict[str, Any] = {"file": FILE}
    if isinstance(model, lightgbm.Booster):
        booster, options["task"] = model, "booster"
    elif isinstance(model, lightgbm.LGBMClassifier):
        booster, options["task"] = model.booster_, "classifier"
        options["classes"] = model.classes_.tolist()
    elif isinstance(model, lightgbm.LGBMModel):
        booster, options["task"] = model.booster_, "regressor"
    else:
        raise InvalidInput(f"unsupported LightGBM model type {type(model).__name__}")
    booster.save_model(str(directory / FILE))
    return options


class LightGBMPredictor:
    """A LightGBM booster behaving like the wrapper it was saved from."""

    def __init__(self, booster: Any, task: str, classes: list[Any] | None) -> None:
        self.booster = booster
        self.task = task
        self.classes = classes

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        if self.task != "classifier":
            raise InvalidInput("predict_proba needs a classifier; this model is a regressor")
        raw = np.asarray(self.booster.predict(data))
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, data: Any) -> Any:
        import numpy as np

        if self.task != "classifier":
            return self.booster.predict(data)
        proba = self.predict_proba(data)
        return np.asarray(self.classes)[np.argmax(proba, axis=1)]


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    import lightgbm

    booster = lightgbm.Booster(model_file=str(model_file(directory, options.get("file", FILE))))
    classes = options.get("classes")
    return LightGBMPredictor(booster, str(options.get("task", "booster")), classes)
