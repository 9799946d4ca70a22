"""Authentication before anything else: every request but the public few needs a token.

:class:`Authenticate` runs the guard's ``authenticate`` on the ``Authorization`` header
before the request reaches routing or body parsing, so a caller without a valid token
gets 401 for every path, known or not, well-formed or not: nothing about the routes,
their arguments or the records is answered first. Routes read the principal back with
:func:`principal_of`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.access.types import Guard, Principal
from cairn.errors import CairnError
from cairn.store.rest.errors import error_body, status_and_code

#: Paths anyone may call: liveness for load balancers, Prometheus scrapes (counts per
#: route template, never records) and the API's description.
PUBLIC_PATHS = frozenset({"/health", "/metrics", "/openapi.json"})
#: MLflow's client reads refusals in MLflow's error format.
MLFLOW_PATHS = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
_STATE_KEY = "principal"


class Authenticate:
    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in PUBLIC_PATHS or _is_ui(path):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        try:
            principal = self.guard.known(header) or await run_in_threadpool(
                self.guard.authenticate, header
            )
        except CairnError as exc:
            if path.startswith(MLFLOW_PATHS):
                from cairn.server.mlflow.wire import error_response

                response = error_response(exc)
            else:
                status, _ = status_and_code(exc)
                response = JSONResponse(error_body(exc), status_code=status)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = principal
        await self.app(scope, receive, send)


def _is_ui(path: str) -> bool:
    """The web UI signs its users in itself (a login page, the token in a cookie, checked
    by the same guard on every page), so its pages redirect to the login page instead of
    answering 401."""
    return path == "/ui" or path.startswith("/ui/")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def principal_of(request: Request, guard: Guard) -> Principal:
    """The caller :class:`Authenticate` found (authenticated again when the app runs
    without the middleware, as a mounted sub-app may)."""
    found: Any = getattr(request.state, _STATE_KEY, None)
    if isinstance(found, Principal):
        return found
    return guard.authenticate(request.headers.get("authorization"))
