"""Hyperparameter search on Optuna, and automated model selection.

    import cairn
    from cairn.tuning import Float, Int

    result = cairn.tune(objective, {"C": Float(1e-3, 100, log=True)}, n_trials=50,
                        metric="auc", direction="maximize")
    model, board = cairn.select_model(X, y, cv=5, metric="roc_auc")

Every trial is a child run of one parent run, which ends up with the best trial's
params, metrics and model. Importing this package loads neither Optuna nor
scikit-learn; they load when a search starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cairn.tuning.space import Choice, Float, Int
from cairn.tuning.trials import TrialPruned

if TYPE_CHECKING:
    from cairn.tuning.search import TrialRecord, TuneResult, tune
    from cairn.tuning.select import FAMILIES, Selection, select_model
    from cairn.tuning.trials import Trial

__all__ = [
    "FAMILIES",
    "Choice",
    "Float",
    "Int",
    "Selection",
    "Trial",
    "TrialPruned",
    "TrialRecord",
    "TuneResult",
    "select_model",
    "tune",
]

_LAZY = {
    "tune": "cairn.tuning.search",
    "TuneResult": "cairn.tuning.search",
    "TrialRecord": "cairn.tuning.search",
    "Trial": "cairn.tuning.trials",
    "select_model": "cairn.tuning.select",
    "Selection": "cairn.tuning.select",
    "FAMILIES": "cairn.tuning.select",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cairn.tuning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
