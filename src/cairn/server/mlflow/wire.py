"""MLflow's wire conventions: request arguments, the error body, and the endpoint wrapper.

MLflow's client reads every failure as ``{"error_code": "...", "message": "..."}`` with
an HTTP status it knows (``RESOURCE_DOES_NOT_EXIST`` is 404, ``INVALID_PARAMETER_VALUE``
400, ...), so each Cairn error is answered in that shape, never Cairn's own.
What Cairn does not serve answers ``NOT_IMPLEMENTED`` (501) with a message that says
so; the client does not retry a 501.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cairn import errors
from cairn.access.types import ANONYMOUS, Action, Guard, OpenGuard, Principal, Resource
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend

log = logging.getLogger("cairn.server")

#: Most specific first: the first class an error is an instance of decides.
_CODES: tuple[tuple[type[errors.CairnError], int, str], ...] = (
    (errors.InvalidInput, 400, "INVALID_PARAMETER_VALUE"),
    (errors.NotFound, 404, "RESOURCE_DOES_NOT_EXIST"),
    (errors.AlreadyExists, 400, "RESOURCE_ALREADY_EXISTS"),
    (errors.InUse, 400, "INVALID_STATE"),
    (errors.Unauthenticated, 401, "UNAUTHENTICATED"),
    (errors.PermissionDenied, 403, "PERMISSION_DENIED"),
    (errors.IntegrityError, 400, "INVALID_STATE"),
    (errors.StoreError, 503, "TEMPORARILY_UNAVAILABLE"),
    (errors.CairnError, 400, "BAD_REQUEST"),
)


class NotSupported(errors.CairnError):
    """A part of MLflow's API that Cairn does not serve (HTTP 501, ``NOT_IMPLEMENTED``)."""

    def __init__(self, what: str, instead: str = "") -> None:
        hint = f"; {instead}" if instead else "; see docs/mlflow.md for what Cairn serves"
        super().__init__(f"{what} is not supported by Cairn{hint}")


def error_response(exc: errors.CairnError) -> JSONResponse:
    if isinstance(exc, NotSupported):
        status, code = 501, "NOT_IMPLEMENTED"
    else:
        status, code = next((s, c) for cls, s, c in _CODES if isinstance(exc, cls))
    return JSONResponse({"error_code": code, "message": str(exc)}, status_code=status)


class Args:
    """A request's arguments: the JSON body of a POST/PATCH/DELETE, the query of a GET."""

    def __init__(self, values: dict[str, Any], multi: dict[str, list[str]] | None = None) -> None:
        self.values = values
        self.multi = multi or {}

    def get(self, name: str, default: str | None = None, *, alias: str = "") -> str:
        value = self.values.get(name)
        if (value is None or value == "") and alias:
            value = self.values.get(alias)
        if value is None or value == "":
            if default is None:
                raise errors.InvalidInput(f"missing value for required parameter '{name}'")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise errors.InvalidInput(f"parameter '{name}' must be a string, not {value!r}")
        return str(value)

    def opt(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None or value == "" else self.get(name)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise errors.InvalidInput(
                f"parameter '{name}' must be a whole number, not {value!r}"
            ) from None

    def many(self, name: str) -> list[Any]:
        if name in self.multi:
            return list(self.multi[name])
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            return [value]
        return value

    def pairs(self, name: str) -> dict[str, str]:
        """``[{"key": k, "value": v}, ...]`` (tags, params) as a dict."""
        out: dict[str, str] = {}
        for item in self.many(name):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise errors.InvalidInput(f"each of '{name}' needs a 'key' and a 'value': {item!r}")
            out[item["key"]] = "" if item.get("value") is None else str(item["value"])
        return out


@dataclass
class Context:
    """What an MLflow endpoint works with: the stores, the guard, and who is calling."""

    backend: MetadataBackend
    artifacts: ArtifactStore
    guard: Guard
    principal: Principal = ANONYMOUS
    address: str = ""

    @property
    def open(self) -> bool:
        return isinstance(self.guard, OpenGuard)

    @property
    def actor(self) -> str:
        return "" if self.principal == ANONYMOUS else self.principal.user

    def allow(self, action: Action, resource: Resource) -> None:
        self.guard.authorize(self.principal, action, resource)

    def experiment_of_run(self, run_id: str) -> Resource:
        """The resource a run belongs to (its experiment's name), for the guard."""
        if self.open:
            return Resource("experiment", None)
        return Resource("experiment", self.backend.tracking.run_experiment(run_id).name)

    @contextmanager
    def change(self, operation: str, resource: Resource) -> Iterator[None]:
        """Authorize an edit of ``resource`` and audit it as ``mlflow.<operation>``."""
        self.allow("edit", resource)
        with self.guard.mutation(self.principal, self.address, f"mlflow.{operation}", resource):
            yield


Handler = Callable[[Context, Args], dict[str, Any]]


async def read_args(request: Request) -> Args:
    if request.method in ("GET", "HEAD"):
        query = request.query_params
        multi = {k: query.getlist(k) for k in query if len(query.getlist(k)) > 1}
        return Args({**query, **request.path_params}, multi)
    raw = await request.body()
    if not raw.strip():
        return Args(dict(request.path_params))
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.InvalidInput("the request body must be a JSON object")
    return Args({**body, **request.path_params})


def endpoint(handler: Handler, base: Context) -> Callable[[Request], Any]:
    """An ASGI endpoint calling ``handler`` in a worker thread, answering MLflow's shapes."""
    from starlette.concurrency import run_in_threadpool

    async def call(request: Request) -> Response:
        try:
            args = await read_args(request)
            # The authentication middleware found the caller before routing; a mounted
            # app without it authenticates here, off the event loop.
            found = getattr(request.state, "principal", None)
            principal: Principal = (
                found
                if isinstance(found, Principal)
                else await run_in_threadpool(
                    base.guard.authenticate, request.headers.get("authorization")
                )
            )
            ctx = Context(
                base.backend,
                base.artifacts,
                base.guard,
                principal,
                request.client.host if request.client else "",
            )
            result = await run_in_threadpool(handler, ctx, args)
        except errors.CairnError as exc:
            return error_response(exc)
        except (ValueError, TypeError) as exc:
            return error_response(errors.InvalidInput(f"invalid request: {exc}"))
        # NaN and infinite metric values are legal in MLflow: its client reads them back.
        body = json.dumps(result, allow_nan=True, separators=(",", ":"))
        return Response(body, media_type="application/json")

    return call


def unsupported(request: Request) -> Response:
    what = f"{request.method} {request.url.path}"
    return error_response(NotSupported(f"MLflow's {what}"))
