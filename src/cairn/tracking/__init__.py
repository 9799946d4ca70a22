"""Experiment tracking: runs, params, metrics, artifacts and lineage.

- :mod:`cairn.tracking.client`: :class:`TrackingClient`, the explicit API (run ids).
- :mod:`cairn.tracking.fluent`: ``start_run`` and the active-run functions re-exported
  by :mod:`cairn`.
- :mod:`cairn.tracking.buffer`: the metric buffer and its background writer.
- :mod:`cairn.tracking.environment`: git, Python, package, host and user capture.
- :mod:`cairn.tracking.autolog`: automatic logging of scikit-learn fits.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.tracking.client import TrackingClient
    from cairn.tracking.fluent import ActiveRun, current_client

#: Loaded on first access, so that a command needing only ``environment`` (git state,
#: user) does not import the client and the fluent API (about 50 ms).
_LAZY = {
    "TrackingClient": "cairn.tracking.client",
    "ActiveRun": "cairn.tracking.fluent",
    "current_client": "cairn.tracking.fluent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cairn.tracking' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["ActiveRun", "TrackingClient", "current_client"]
