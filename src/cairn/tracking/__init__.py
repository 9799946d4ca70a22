"""Experiment tracking: runs, params, metrics, artifacts and lineage.

- :mod:`cairn.tracking.client`: :class:`TrackingClient`, the explicit API (run ids).
- :mod:`cairn.tracking.fluent`: ``start_run`` and the active-run functions re-exported
  by :mod:`cairn`.
- :mod:`cairn.tracking.buffer`: the metric buffer and its background writer.
- :mod:`cairn.tracking.environment`: git, Python, package, host and user capture.
- :mod:`cairn.tracking.autolog`: automatic logging of scikit-learn fits.
"""

from __future__ import annotations

from cairn.tracking.client import TrackingClient
from cairn.tracking.fluent import ActiveRun, current_client

__all__ = ["ActiveRun", "TrackingClient", "current_client"]
