"""Executors: where pipeline steps and tuning trials run (see :mod:`.base`).

``EXECUTORS`` lists them as data, imported only when chosen::

    with open_executor("process", max_cpus=2) as ex:
        ex.submit(fn, (1, 2)).result()
"""

from __future__ import annotations

import importlib
from typing import Any

from cairn.errors import InvalidInput
from cairn.pipelines.executors.base import (
    DEFAULT_RESOURCES,
    Executor,
    Resources,
    TaskTimeout,
    WorkerDied,
)

__all__ = [
    "DEFAULT_RESOURCES",
    "EXECUTORS",
    "Executor",
    "Resources",
    "TaskTimeout",
    "WorkerDied",
    "open_executor",
]

#: (name, "module:class"): ``--executor NAME`` picks one.
EXECUTORS: list[tuple[str, str]] = [
    ("inprocess", "cairn.pipelines.executors.inprocess:InProcessExecutor"),
    ("process", "cairn.pipelines.executors.process:ProcessExecutor"),
    ("ray", "cairn.pipelines.executors.ray:RayExecutor"),
]


def open_executor(name: str, **options: Any) -> Executor:
    """Create the executor called ``name`` (one of :data:`EXECUTORS`) with ``options``
    (``max_cpus=`` for the process pool, ``address=`` for Ray)."""
    for entry, target in EXECUTORS:
        if entry == name:
            module_name, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
            executor: Executor = cls(**options)
            return executor
    names = ", ".join(entry for entry, _ in EXECUTORS)
    raise InvalidInput(f"unknown executor {name!r}; choose one of: {names}")
