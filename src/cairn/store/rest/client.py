"""The REST backend: :class:`~cairn.store.base.MetadataBackend` over ``cairn server``.

``CAIRN_TRACKING_URI=http://host:5050`` (or ``https://``) opens this backend. Each
domain store is a :class:`RestStore` whose methods are made from
:data:`~cairn.store.rest.routes.STORE_ROUTES`: a call binds its arguments against the
protocol's signature, sends them, and decodes the answer into the protocol's return
type; an error answer raises the same :class:`~cairn.errors.CairnError` the server's
store raised.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from cairn.config import DEFAULT_RUN_START_DELAY
from cairn.errors import CairnError, ConfigError, StoreError
from cairn.store.base import check_view
from cairn.store.rest.codec import Codec, codec_for
from cairn.store.rest.http import Session, new_key, session_for
from cairn.store.rest.routes import DOMAINS, STORE_ROUTES, StoreRoute
from cairn.store.rest.starts import StartQueue
from cairn.store.tracking_validation import (
    check_end_status,
    check_strings,
    check_time,
    checked_run,
    metric_tuples,
    new_run,
)
from cairn.types import Environment, Metric, Run, RunStatus, now_ms


def _json_default(value: Any) -> Any:
    raise TypeError(f"cannot send {type(value).__name__} to the server")


class RestStore:
    """One domain's store over HTTP; methods are added from the route table."""

    def __init__(self, session: Session, domain: str, starts: StartQueue | None = None) -> None:
        self._session = session
        self._domain = domain
        #: Run starts not sent yet (shared by the backend's stores): sent before any
        #: other request, so the server never hears of a run before its start.
        self._starts = starts

    def __repr__(self) -> str:
        return f"<RestStore {self._domain} at {self._session.base}>"

    def _call(self, codec: Codec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        bound = codec.signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        route = codec.route
        starts = self._starts
        if starts is not None and starts.due and route.name != RECORD_RUN:
            starts.send_all()
        check = PRECHECKS.get(route.name)
        if check is not None:
            check(bound.arguments)
        values = codec.dump_args(bound.arguments)
        if route.verb == "GET":
            query = {k: v for k, v in values.items() if v is not None}
            answer = self._session.call("GET", route.path, params=query)
        else:
            body = json.dumps(values, default=_json_default).encode()
            key = new_key() if route.is_mutation else None
            answer = self._session.call(route.verb, route.path, body=body, key=key)
        return codec.load_result(answer)


def _check_batch(args: dict[str, Any]) -> None:
    check_strings("param", args.get("params") or {})
    check_strings("tag", args.get("tags") or {})
    metric_tuples(args.get("metrics") or (), 0)


def _check_view(args: dict[str, Any]) -> None:
    check_view(args["view"])


#: Checks run before sending, where a value of the wrong Python type would otherwise be
#: refused by the wire format with a less helpful message than the store's own.
PRECHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "tracking.log_batch": _check_batch,
    "tracking.end_run": _check_batch,
    "tracking.create_run": _check_batch,
    "tracking.search_runs": _check_view,
}


def _method(route: StoreRoute) -> Any:
    def method(self: RestStore, *args: Any, **kwargs: Any) -> Any:
        return self._call(codec_for(route), args, kwargs)

    method.__name__ = route.method
    method.__qualname__ = f"Rest{route.domain.title()}Store.{route.method}"
    return method


def _store_class(domain: str) -> type[RestStore]:
    members = {r.method: _method(r) for r in STORE_ROUTES if r.domain == domain}
    return type(f"Rest{domain.title()}Store", (RestStore,), members)


STORE_CLASSES: dict[str, type[RestStore]] = {d: _store_class(d) for d in DOMAINS}


RECORD_RUN = "tracking.record_run"


class RestTrackingStore(STORE_CLASSES["tracking"]):  # type: ignore[misc,valid-type,name-defined]
    """The tracking store over HTTP, starting runs without a round trip of their own
    (see :mod:`cairn.store.rest.starts`)."""

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str = "",
        parent_id: str | None = None,
        start_time: int | None = None,
        environment: Environment | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        starts = self._starts
        experiment_id = str(experiment_id)
        options: dict[str, Any] = {"name": name, "parent_id": parent_id}
        options |= {"start_time": start_time, "environment": environment}
        options |= {"params": params, "tags": tags}
        # A child of a run the server already has goes at once, like the first run of
        # an experiment: a missing parent is then refused where the child was started.
        if (
            starts is None
            or not starts.defers(experiment_id)
            or (parent_id is not None and not starts.holds(parent_id))
        ):
            run: Run = super().create_run(experiment_id, **options)
            if starts is not None:
                starts.sent(experiment_id)
            return run
        # Checked here, as the server's store checks it, so bad input fails at the start.
        run = checked_run(new_run(experiment_id, **options))
        starts.add(run)
        return run

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        metrics: Sequence[Metric] = (),
    ) -> None:
        starts = self._starts
        run = None
        if starts is not None:
            final = check_end_status(status)
            run = starts.take(run_id)
        if starts is None or run is None:
            super().end_run(run_id, status, end_time=end_time, metrics=metrics)
            return
        end = now_ms() if end_time is None else check_time("end_time", end_time)
        ended = dataclasses.replace(run, status=final, end_time=end)
        others: CairnError | None = None
        try:
            starts.send_all()  # runs started before this one (its parent, say) go first
        except StoreError:
            starts.add(run)
            raise
        except CairnError as exc:
            others = exc
        try:
            self.record_run(ended, metrics)
        except StoreError:
            starts.add(run)  # unreachable: its start is sent with the next request
            raise
        starts.sent(run.experiment_id)
        if others is not None:
            raise others

    def delete_experiment(self, id_or_name: str, *, actor: str) -> Any:
        if self._starts is not None:
            self._starts.forget_experiments()
        return super().delete_experiment(id_or_name, actor=actor)


class RestAccessStore(STORE_CLASSES["access"]):  # type: ignore[misc,valid-type,name-defined]
    """Users, tokens, grants and the audit log of a server. Checking a token's digest
    and writing audit entries happen only on the server, never on a client's say."""

    def verify_token(self, token_id: str, digest: str) -> Any:
        raise ConfigError(
            f"tokens are checked by the server at {self._session.base}, not through it; "
            "send the token as CAIRN_TRACKING_TOKEN (or `cairn login`) instead"
        )

    def record_audit(self, entry: Any) -> Any:
        raise ConfigError(
            f"the server at {self._session.base} writes its own audit log; a client cannot "
            "append to it"
        )


class RestBackend:
    """A metadata backend served by ``cairn server`` at ``uri``.

    ``create`` is accepted for symmetry with the SQL backend and ignored: the server's
    database exists already.
    """

    #: The server audits what is done through it (cairn.access.admin reads this).
    audited_by_server = True

    def __init__(
        self,
        uri: str,
        *,
        create: bool = False,
        ca_bundle: str | None = None,
        run_start_delay: float = DEFAULT_RUN_START_DELAY,
    ) -> None:
        self.uri = uri.rstrip("/")
        self.session = session_for(self.uri, ca_bundle)
        self.run_start_delay = run_start_delay

    def _store(self, domain: str) -> Any:
        return STORE_CLASSES[domain](self.session, domain, self.starts)

    @cached_property
    def starts(self) -> StartQueue:
        """Run starts this backend has not sent yet (see :mod:`cairn.store.rest.starts`)."""
        return StartQueue(
            lambda run, points: self.tracking.record_run(run, points), self.run_start_delay
        )

    @cached_property
    def tracking(self) -> Any:
        return RestTrackingStore(self.session, "tracking", self.starts)

    @cached_property
    def datasets(self) -> Any:
        return self._store("datasets")

    @cached_property
    def registry(self) -> Any:
        return self._store("registry")

    @cached_property
    def pipelines(self) -> Any:
        return self._store("pipelines")

    @cached_property
    def schedules(self) -> Any:
        return self._store("schedules")

    @cached_property
    def access(self) -> Any:
        return RestAccessStore(self.session, "access", self.starts)

    @cached_property
    def alerts(self) -> Any:
        return self._store("alerts")

    def ensure_schema(self) -> None:
        """The server checks its own schema; this checks that it answers and is healthy."""
        self.session.request("GET", "/health")

    def close(self) -> None:
        """Send the run starts still queued, then close the connections (a later
        backend or blob store opens new ones)."""
        try:
            if "starts" in self.__dict__:
                self.starts.send_all()
        finally:
            self.session.close()


def whoami(uri: str, token: str) -> dict[str, Any]:
    """Who the server at ``uri`` takes ``token`` for: ``{"user", "admin", "token_id",
    "read_only"}``; ``Unauthenticated`` (naming why, never the token) when it refuses."""
    session = session_for(uri.rstrip("/"))
    response = session.request("GET", "/api/whoami", headers={"Authorization": f"Bearer {token}"})
    found: dict[str, Any] = json.loads(response.content)
    return found
