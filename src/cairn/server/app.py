"""The ASGI app of ``cairn server``.

Example:
    >>> from cairn.access import TokenGuard
    >>> from cairn.store import open_metadata
    >>> from cairn.store.artifacts import ArtifactStore
    >>> backend = open_metadata("sqlite:///cairn.db", create=True)
    >>> app = create_app(backend, ArtifactStore("artifacts"),
    ...                  guard=TokenGuard(backend))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from cairn.access.types import Guard
from cairn.server import errors
from cairn.server.artifacts import add_artifact_routes
from cairn.server.authn import Authenticate, principal_of
from cairn.server.middleware import DEFAULT_MAX_BODY, BodyLimit, Metrics
from cairn.server.rpc import ACTION_KEY, add_store_routes
from cairn.server.schemas import error_responses
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend
from cairn.ui.routes import add_ui_routes


class Health(BaseModel):
    status: str
    version: str
    store: str


class WhoAmI(BaseModel):
    """The caller as the server sees it (``cairn login`` checks a token with it)."""

    user: str
    admin: bool
    token_id: str | None
    read_only: bool


#: Routes anyone may call: liveness for load balancers and Prometheus scrapes, which
#: reveal counts, never records.
_PUBLIC = {ACTION_KEY: "public"}


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
    guard: Guard,
    max_body: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The server app over ``backend`` and ``artifacts``; ``guard`` decides who may do
    what: :class:`~cairn.access.guard.TokenGuard` for a shared server, or
    :class:`~cairn.access.types.OpenGuard` (everyone may do everything), named on
    purpose since there is no default."""
    app = FastAPI(title="Cairn server", version=_version(), docs_url=None, redoc_url=None)
    errors.install(app)
    registry = CollectorRegistry()

    @app.get(
        "/health",
        response_model=Health,
        tags=["server"],
        responses={503: {"model": Health, "description": "the store is not reachable"}},
        openapi_extra=_PUBLIC,
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
        openapi_extra=_PUBLIC,
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/api/whoami",
        response_model=WhoAmI,
        tags=["server"],
        responses=error_responses(401),
        openapi_extra={ACTION_KEY: "authenticated"},
    )
    def whoami(request: Request) -> WhoAmI:
        who = principal_of(request, guard)
        return WhoAmI(
            user=who.user, admin=who.is_admin, token_id=who.token_id, read_only=who.read_only
        )

    add_store_routes(app, backend, guard, key_store(backend))
    add_artifact_routes(app, artifacts, guard)
    add_ui_routes(app, backend, artifacts, guard)
    app.add_middleware(BodyLimit, max_body=max_body)
    app.add_middleware(Authenticate, guard=guard)  # outside the body limit: 401 first
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
