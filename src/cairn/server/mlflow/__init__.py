"""MLflow's REST API on ``cairn server``: unmodified MLflow client code works against it.

Mounted under MLflow's own paths (``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...``
and the proxied artifacts ``/api/2.0/mlflow-artifacts/artifacts/...``). Each endpoint
calls the same store methods as Cairn's own API, with the same guard: MLflow's client
sends ``MLFLOW_TRACKING_TOKEN`` as ``Authorization: Bearer``, checked like any Cairn
token. Everything else under MLflow's paths answers MLflow's error format with
``NOT_IMPLEMENTED`` and says it is not supported by Cairn (docs/mlflow.md lists it).
"""

from __future__ import annotations

from typing import Any

from cairn.access.types import Guard
from cairn.server.mlflow import artifacts, logged_models, registry, tracking
from cairn.server.mlflow.wire import Context, endpoint, unsupported
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend

PREFIXES = ("/api/2.0", "/ajax-api/2.0")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def add_mlflow_routes(
    app: Any, backend: MetadataBackend, store: ArtifactStore, guard: Guard
) -> None:
    """Add MLflow's endpoints to ``app`` (a Starlette or FastAPI app)."""
    base = Context(backend, store, guard)
    handlers = (*tracking.ROUTES, *logged_models.ROUTES, *registry.ROUTES)
    for prefix in PREFIXES:
        for method, path, handler in handlers:
            app.add_route(
                f"{prefix}/mlflow/{path}",
                endpoint(handler, base),
                methods=[method],
                include_in_schema=False,
            )
    artifacts.add_routes(app, base, PREFIXES)
    for prefix in (*PREFIXES, "/api/3.0", "/ajax-api/3.0"):
        for root in ("mlflow", "mlflow-artifacts"):
            app.add_route(
                f"{prefix}/{root}/{{rest:path}}",
                unsupported,
                methods=_ALL_METHODS,
                include_in_schema=False,
            )
