"""Model flavors: how each kind of model is saved, loaded and called.

The registry is data, ``(name, "dotted.module")``, imported only when needed. Detection
tries the flavors in order and takes the first whose ``matches(model)`` is true, so the
boosters' scikit-learn wrappers go to their native formats before the scikit-learn
flavor sees them, and ``function`` (anything callable) comes last.

A flavor module defines:

- ``NAME``: its name in manifests;
- ``PACKAGES``: distributions whose installed versions are pinned in the manifest;
- ``matches(model) -> bool``: cheap, imports nothing heavy unless the model's own
  module shows the library is loaded already;
- ``save(model, directory) -> dict``: writes files, returns options kept in the manifest;
- ``load(directory, options, trust) -> predictor``: an object with ``predict(X)`` and,
  for classifiers, ``predict_proba(X)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from cairn.errors import InvalidInput

FLAVORS: list[tuple[str, str]] = [
    ("xgboost", "cairn.models.flavors.xgboost"),
    ("lightgbm", "cairn.models.flavors.lightgbm"),
    ("sklearn", "cairn.models.flavors.sklearn"),
    ("onnx", "cairn.models.flavors.onnx"),
    ("function", "cairn.models.flavors.function"),
]


def get(name: str) -> ModuleType:
    """The flavor module called ``name``; ``InvalidInput`` naming the known ones otherwise."""
    for flavor, target in FLAVORS:
        if flavor == name:
            return importlib.import_module(target)
    known = ", ".join(n for n, _ in FLAVORS)
    raise InvalidInput(f"unknown model flavor {name!r}; known flavors: {known}")


def detect(model: Any) -> str:
    """The name of the first flavor that can save ``model``."""
    for name, target in FLAVORS:
        if importlib.import_module(target).matches(model):
            return name
    raise InvalidInput(
        f"no flavor can save a {type(model).__module__}.{type(model).__qualname__}: pass a "
        "scikit-learn estimator, an XGBoost or LightGBM model, an ONNX ModelProto or a callable"
    )


def type_module(model: Any) -> str:
    """The top-level package a model's class comes from (``sklearn``, ``xgboost``...)."""
    return type(model).__module__.split(".", 1)[0]
