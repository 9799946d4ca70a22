"""The ASGI app of ``cairn server``.

Example:
    >>> from cairn.store import open_metadata
    >>> from cairn.store.artifacts import ArtifactStore
    >>> app = create_app(open_metadata("sqlite:///cairn.db", create=True),
    ...                  ArtifactStore("artifacts"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from cairn.access.types import Guard, OpenGuard
from cairn.server import errors
from cairn.server.artifacts import add_artifact_routes
from cairn.server.middleware import DEFAULT_MAX_BODY, BodyLimit, Metrics
from cairn.server.rpc import add_store_routes
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend


class Health(BaseModel):
    status: str
    version: str
    store: str


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cairn-mlops")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def key_store(backend: MetadataBackend) -> Any | None:
    """Where idempotency keys persist: the SQL database itself; None for other backends."""
    from cairn.store.sql.database import SqlDatabase

    if isinstance(backend, SqlDatabase):
        from cairn.store.sql.idempotency import SqlKeyStore

        return SqlKeyStore(backend)
    return None


def create_app(
    backend: MetadataBackend,
    artifacts: ArtifactStore,
    *,
    guard: Guard | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The server app over ``backend`` and ``artifacts``; ``guard`` decides who may do
    what (default: :class:`~cairn.access.types.OpenGuard`, everyone may do everything)."""
    guard = guard if guard is not None else OpenGuard()
    app = FastAPI(title="Cairn server", version=_version(), docs_url=None, redoc_url=None)
    errors.install(app)
    registry = CollectorRegistry()

    @app.get(
        "/health",
        response_model=Health,
        tags=["server"],
        responses={503: {"model": Health, "description": "the store is not reachable"}},
    )
    def health() -> Any:
        try:
            backend.ensure_schema()
            _ping(backend)
        except Exception as exc:  # any failure means "not healthy": say which
            body = Health(status="unavailable", version=_version(), store=f"{type(exc).__name__}")
            return JSONResponse(body.model_dump(), status_code=503)
        return Health(status="ok", version=_version(), store="reachable")

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    add_store_routes(app, backend, guard, key_store(backend))
    add_artifact_routes(app, artifacts, guard)
    app.add_middleware(BodyLimit, max_body=max_body)
    app.add_middleware(Metrics, registry=registry)
    return app


def _ping(backend: MetadataBackend) -> None:
    """One cheap round trip to the database."""
    read = getattr(backend, "read", None)
    if read is not None:
        import sqlalchemy as sa

        with read() as conn:
            conn.execute(sa.text("SELECT 1"))
    else:
        backend.tracking.list_experiments()
