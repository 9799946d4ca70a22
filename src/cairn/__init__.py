"""Cairn: track experiments, version data and models, gate and serve them.

The public Python API::

    import cairn

    with cairn.start_run(experiment="churn", params={"C": 1.0}) as run:
        cairn.log_metric("auc", 0.93)
        cairn.log_artifact("report.html")

    best = cairn.search_runs("churn", "metrics.auc > 0.9", order_by="metrics.auc DESC")

One workspace per process: ``cairn.init(path)`` creates (or opens) it and ``cairn.use(path)``
opens an existing one; every domain (tracking, ``cairn.data``, ``cairn.models``,
``cairn.registry``, ``cairn.serving``) then acts on it, whatever the current directory.
Each public domain function also takes ``workspace=`` for one call.

Everything but the errors loads on first use (the types, the tracking functions, the
domain subpackages ``cairn.data``, ``cairn.models``, ``cairn.registry``,
``cairn.serving`` and ``log_model``), so ``import cairn`` stays fast and pulls in
neither SQLAlchemy nor pandas, numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError

if TYPE_CHECKING:
    from cairn.api import log_model
    from cairn.pipelines.graph import pipeline
    from cairn.pipelines.step import step
    from cairn.tracking.autolog import autolog
    from cairn.tracking.fluent import (
        ActiveRun,
        active_run,
        end_run,
        flush,
        get_metric_history,
        get_run,
        init,
        log_artifact,
        log_artifacts,
        log_input,
        log_metric,
        log_metrics,
        log_output,
        log_param,
        log_params,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from cairn.tuning.search import tune
    from cairn.tuning.select import select_model
    from cairn.types import Experiment, Metric, Run, RunStatus
    from cairn.workspace import Workspace, use

__all__ = [
    "ActiveRun",
    "CairnError",
    "Experiment",
    "Metric",
    "Run",
    "RunStatus",
    "Workspace",
    "active_run",
    "autolog",
    "end_run",
    "flush",
    "get_metric_history",
    "get_run",
    "init",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_output",
    "log_param",
    "log_params",
    "pipeline",
    "search_runs",
    "select_model",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
    "use",
]

_FLUENT = (
    "ActiveRun", "active_run", "end_run", "flush", "get_metric_history", "get_run", "init",
    "log_artifact", "log_artifacts", "log_input", "log_metric", "log_metrics", "log_output",
    "log_param", "log_params", "search_runs", "set_tag", "set_tags", "start_run",
)  # fmt: skip

#: Loaded on first attribute access: (attribute, "module" or "module:attribute"). Even the
#: tracking API is: a command-line tool that only needs ``cairn.errors`` skips its imports.
LAZY: list[tuple[str, str]] = [
    *((name, f"cairn.types:{name}") for name in ("Experiment", "Metric", "Run", "RunStatus")),
    *((name, f"cairn.tracking.fluent:{name}") for name in _FLUENT),
    ("autolog", "cairn.tracking.autolog:autolog"),
    ("data", "cairn.data"),
    ("models", "cairn.models"),
    ("registry", "cairn.registry"),
    ("serving", "cairn.serving"),
    ("pipelines", "cairn.pipelines"),
    ("tuning", "cairn.tuning"),
    ("log_model", "cairn.api:log_model"),
    ("use", "cairn.workspace:use"),
    ("Workspace", "cairn.workspace:Workspace"),
    ("tune", "cairn.tuning.search:tune"),
    ("select_model", "cairn.tuning.select:select_model"),
    ("step", "cairn.pipelines.step:step"),
    ("pipeline", "cairn.pipelines.graph:pipeline"),
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("cairn-mlops")
    for attr, target in LAZY:
        if attr == name:
            module_name, _, member = target.partition(":")
            module = importlib.import_module(module_name)
            value = getattr(module, member) if member else module
            globals()[name] = value  # later lookups skip this function
            return value
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *(attr for attr, _ in LAZY)})
