"""Store routes: one FastAPI endpoint per entry of the route table.

Each endpoint authenticates the caller, authorizes the route's action on the resource
named by its arguments, calls the store method, and answers its result as JSON. A write
runs inside the guard's mutation scope and honours ``Idempotency-Key`` (see
:mod:`cairn.store.sql.idempotency`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import create_model
from sqlalchemy import exc as sa_exc

from cairn.access.types import ANONYMOUS, Action, Guard, OpenGuard, Principal, Resource
from cairn.errors import AlreadyExists, CairnError, InvalidInput, NotFound, PermissionDenied
from cairn.server.authn import principal_of
from cairn.server.resources import hidden, resources_for, scoped_args, sees_everything, visible
from cairn.server.schemas import STORE_ERRORS
from cairn.store.base import MetadataBackend
from cairn.store.rest.codec import Codec, codec_for
from cairn.store.rest.http import IDEMPOTENCY_HEADER
from cairn.store.rest.routes import STORE_ROUTES, StoreRoute
from cairn.store.sql.idempotency import KeyTaken

log = logging.getLogger("cairn.server")

JSON = "application/json"
_ACTOR_FIELDS = ("actor", "created_by")
_ACTOR_ARGS = ("actor", "granted_by")
#: The OpenAPI extension every operation declares: the action it needs ("public" for
#: the few routes anyone may call); tests/server/test_auth_routes.py reads it.
ACTION_KEY = "x-cairn-action"
RESOURCE_KEY = "x-cairn-resource"


def add_store_routes(
    app: FastAPI, backend: MetadataBackend, guard: Guard, keys: Any | None
) -> None:
    """Add an endpoint for every route of :data:`STORE_ROUTES`."""
    for route in STORE_ROUTES:
        _add(app, route, codec_for(route), backend, guard, keys)


def _pascal(name: str) -> str:
    return "".join(p.title() for p in name.replace(".", "_").split("_"))


def _add(
    app: FastAPI,
    route: StoreRoute,
    codec: Codec,
    backend: MetadataBackend,
    guard: Guard,
    keys: Any | None,
) -> None:
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    if route.verb == "GET":
        for p in codec.params:
            default = None if p.required else p.default
            annotation = Annotated[p.type, Query()]  # type: ignore[name-defined]
            parameters.append(
                inspect.Parameter(
                    p.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=annotation,
                    default=inspect.Parameter.empty if p.required else default,
                )
            )
        body_model = None
    else:
        fields: dict[str, Any] = {
            p.name: (p.type, ... if p.required else p.default) for p in codec.params
        }
        body_model = create_model(f"{_pascal(route.name)}Request", **fields)
        parameters.append(
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_model)
        )

    def endpoint(request: Request, **kwargs: Any) -> Response:
        if body_model is not None:
            body = kwargs["body"]
            args = {name: getattr(body, name) for name in type(body).model_fields}
        else:
            args = kwargs
        try:
            return _handle(request, route, codec, args, backend, guard, keys)
        except (CairnError, KeyTaken):
            raise
        except (sa_exc.IntegrityError, ValueError, TypeError, OverflowError) as exc:
            raise _as_input_error(route, exc) from exc

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.name.replace(".", "_")
    app.add_api_route(
        route.path,
        endpoint,
        methods=[route.verb],
        name=route.name,
        operation_id=route.name.replace(".", "_"),
        response_model=codec.returns,
        responses=STORE_ERRORS,
        tags=[route.domain],
        openapi_extra={
            ACTION_KEY: "alias-policy" if route.alias_arg else route.action,
            RESOURCE_KEY: route.kind,
        },
        summary=(
            inspect.getdoc(getattr(type(getattr(backend, route.domain)), route.method, None))
            or route.name
        ).split("\n")[0],
    )


def _as_input_error(route: StoreRoute, exc: Exception) -> CairnError:
    """A store that let a bad value through to the database or a conversion: the caller
    still gets a 4xx naming the call, and the log keeps the detail for a fix."""
    log.warning("%s raised %s: %s", route.name, type(exc).__name__, exc)
    if isinstance(exc, sa_exc.IntegrityError):
        return AlreadyExists(
            f"{route.name} conflicts with an existing record (a unique id or name is taken, "
            "or a referenced record is missing); check the arguments"
        )
    return InvalidInput(f"{route.name} was given an invalid argument: {exc}")


def _with_actor(args: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """An authenticated caller is the actor of what it does, whatever the body says.

    The open guard's anonymous principal keeps the actor the client names (its local
    user), since nothing better is known."""
    if principal == ANONYMOUS:
        return args
    out = dict(args)
    for name, value in args.items():
        if name in _ACTOR_ARGS:
            out[name] = principal.user
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = {f.name for f in dataclasses.fields(value)}
            changes = {f: principal.user for f in _ACTOR_FIELDS if f in names}
            if changes:
                out[name] = dataclasses.replace(value, **changes)
    return out


def _handle(
    request: Request,
    route: StoreRoute,
    codec: Codec,
    args: dict[str, Any],
    backend: MetadataBackend,
    guard: Guard,
    keys: Any | None,
) -> Response:
    principal = principal_of(request, guard)
    action: Action = route.action
    if route.alias_arg is not None:
        action = guard.action_for_alias(str(args.get(route.alias_arg)))
    open_guard = isinstance(guard, OpenGuard)
    if open_guard:
        resources = [Resource(route.kind, None)]  # nobody asks: skip the look-ups
    else:
        args = scoped_args(route, args, guard, principal, backend)
        resources = _authorize(guard, principal, action, route, args, backend)
    call = getattr(getattr(backend, route.domain), route.method)
    args = _with_actor(args, principal)
    if not route.is_mutation:
        result = call(**args)
        if not open_guard:
            result = visible(route, result, guard, principal, backend)
        return Response(codec.dump_result(result), media_type=JSON)
    address = request.client.host if request.client else ""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or keys is None:
        with guard.mutation(principal, address, route.name, resources[0]):
            return Response(codec.dump_result(call(**args)), media_type=JSON)
    return _keyed(key, route, codec, args, call, keys, guard, principal, address, resources[0])


def _authorize(
    guard: Guard,
    principal: Principal,
    action: Action,
    route: StoreRoute,
    args: dict[str, Any],
    backend: MetadataBackend,
) -> list[Resource]:
    """The resources of the call, once ``principal`` may ``action`` them all.

    A caller who may not read a resource gets the same refusal whether it exists or
    not (an id that names nothing, a name they hold no grant on), so probing ids and
    names tells them nothing; a caller who may read it gets the precise refusal."""
    try:
        resources = resources_for(route, args, backend)
    except NotFound:
        if sees_everything(guard, principal, route.kind):
            raise
        raise PermissionDenied(hidden(principal, action, route, args)) from None
    for resource in resources:
        try:
            guard.authorize(principal, action, resource)
        except PermissionDenied:
            if resource.kind == "server" or guard.allowed(principal, "read", resource):
                raise  # nothing to hide: the server is no secret, or they may read it
            raise PermissionDenied(hidden(principal, action, route, args)) from None
    return resources


def _request_digest(route: StoreRoute, codec: Codec, args: dict[str, Any]) -> str:
    values = {p.name: p.adapter.dump_python(args[p.name], mode="json") for p in codec.params}
    text = json.dumps([route.name, values], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _keyed(
    key: str,
    route: StoreRoute,
    codec: Codec,
    args: dict[str, Any],
    call: Any,
    keys: Any,
    guard: Guard,
    principal: Principal,
    address: str,
    resource: Resource,
) -> Response:
    from cairn.store.sql.idempotency import PendingKey, pending

    if not 8 <= len(key) <= 128:
        raise InvalidInput(
            f"{IDEMPOTENCY_HEADER} {key[:40]!r} must be 8 to 128 characters; send a UUID"
        )
    digest = _request_digest(route, codec, args)
    pk = PendingKey(key, route.name, digest)
    if codec.returns is type(None):
        pk.answer = NULL_ANSWER  # known before the call: the claim records it
    stored = None
    for _attempt in range(3):
        if keys.claim(pk):
            break
        stored = keys.get(key)
        if stored is not None:
            return _replay(key, route, digest, stored)
        # Taken a moment ago by an attempt that has since rolled back: try again.
    else:
        return _replay(key, route, digest, stored)
    try:
        # The call's writes, its audit entry and the key commit together in finish();
        # a failure rolls them back (pending), and the guard then records the failed
        # attempt in a transaction of its own, outside the key's.
        with guard.mutation(principal, address, route.name, resource):
            with pending(pk):
                body = codec.dump_result(call(**args))
            keys.finish(pk, 200, body)
    finally:
        pk.release()
    return Response(body, media_type=JSON)


#: The answer of a write that returns nothing.
NULL_ANSWER = b"null"


def _replay(key: str, route: StoreRoute, digest: str, stored: Any) -> Response:
    if stored is None or stored.operation != route.name or stored.request_digest != digest:
        raise InvalidInput(
            f"{IDEMPOTENCY_HEADER} {key!r} was used for a different request; send a new key "
            "for each write (the same key only when retrying the same request)"
        )
    if stored.status is None:
        raise AlreadyExists(
            f"the request with {IDEMPOTENCY_HEADER} {key!r} ({route.name}) was applied, but "
            "the server stopped before recording its answer; read the result back instead "
            "of sending it again"
        )
    return Response(stored.response, status_code=stored.status, media_type=JSON)
