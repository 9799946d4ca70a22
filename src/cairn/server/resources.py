"""Which resource a store call touches, for the guard: names, not ids; and which items
of a listing the caller may see.

Runs are authorized on their experiment's name, pipeline runs and schedules on their
pipeline's name, tokens on their user's name.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from cairn.access.types import Guard, Principal, Resource
from cairn.errors import NotFound
from cairn.store.base import MetadataBackend
from cairn.store.rest.routes import StoreRoute

#: A name no resource has: asking the guard about it asks what the caller may do to a
#: resource it holds no grant on (the default level), which is what decides whether
#: telling "there is none" from "you may not" would reveal anything.
_UNNAMED = ""


def _argument(args: dict[str, Any], path: str) -> Any:
    value: Any = args
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value


def resources_for(
    route: StoreRoute, args: dict[str, Any], backend: MetadataBackend
) -> list[Resource]:
    """The resources ``route`` called with ``args`` needs (usually one); ``NotFound``
    when an id in ``args`` names nothing."""
    value = None if route.arg is None else _argument(args, route.arg)
    if route.lookup == "grant":
        return [Resource(args["kind"], str(args["name"]))]
    if value is None:
        return [Resource(route.kind, None)]
    # Names read from a stored record are known to exist (``known``).
    if route.lookup == "experiment":
        return [_found(route, _experiment_name(backend, str(value)))]
    if route.lookup == "run":
        return [_found(route, _run_experiment_name(backend, str(value)))]
    if route.lookup == "experiments":
        names = {_experiment_name(backend, str(v)) for v in value}
        return [_found(route, n) for n in sorted(names)] or [Resource(route.kind, None)]
    if route.lookup == "pipeline_run":
        return [_found(route, backend.pipelines.get_run(str(value)).pipeline)]
    if route.lookup == "steps":
        runs = {str(getattr(record, "run_id", "")) for record in value}
        names = {backend.pipelines.get_run(r).pipeline for r in runs}
        return [_found(route, n) for n in sorted(names)] or [Resource(route.kind, None)]
    if route.lookup == "schedule":
        # A schedule's pipeline may have no run yet: not known to exist as a pipeline.
        return [Resource(route.kind, backend.schedules.get_schedule(str(value)).pipeline)]
    if route.lookup == "model_ref":
        return [Resource(route.kind, _model_name(str(value)))]
    if route.lookup == "alert":
        return [_found(route, _model_name(backend.alerts.get_alert(str(value)).model))]
    if route.lookup == "cache_entries":
        # An entry is written as the output of the run that made it: editing the cache
        # is editing that run's experiment. An entry naming no run is a plain pipeline
        # write (and is never served back: see _trusted_cache).
        found: list[Resource] = []
        runs = {str(e.step_run_id) for e in value if getattr(e, "step_run_id", None)}
        for name in sorted({_run_experiment_name(backend, r) for r in runs}):
            found.append(Resource("experiment", name, known=True))
        if len(runs) < len(value):
            found.append(Resource(route.kind, None))
        return found or [Resource(route.kind, None)]
    if route.lookup == "token":
        for token in backend.access.list_tokens():
            if token.id == value:
                return [_found(route, token.user)]
        raise NotFound(f"no token with id {value!r}; see `cairn tokens ls`")
    return [Resource(route.kind, str(value))]


class _Names:
    """Experiment names by experiment id and by run id, remembered per backend.

    Both never change: an experiment is never renamed nor removed (its deletion is
    soft), and a run never moves (a purged run's id, a random UUID, is never reused).
    So the hot path (a client logging to a run) asks the database once per run.
    """

    MAX = 100_000

    def __init__(self) -> None:
        self.by_experiment: dict[str, str] = {}
        self.by_run: dict[str, str] = {}

    def remember(self, table: dict[str, str], key: str, name: str) -> str:
        if len(table) >= self.MAX:
            table.clear()
        table[key] = name
        return name


_names: weakref.WeakKeyDictionary[Any, _Names] = weakref.WeakKeyDictionary()


def _names_of(backend: MetadataBackend) -> _Names:
    names = _names.get(backend)
    if names is None:
        names = _names[backend] = _Names()
    return names


def _experiment_name(backend: MetadataBackend, id_or_name: str) -> str:
    names = _names_of(backend)
    found = names.by_experiment.get(id_or_name)
    if found is not None:
        return found
    experiment = backend.tracking.get_experiment(id_or_name)
    if experiment.id != id_or_name:
        return experiment.name  # named, not by id: a name may later be shadowed by an id
    return names.remember(names.by_experiment, id_or_name, experiment.name)


def remember_experiment_name(backend: MetadataBackend, experiment_id: str, name: str) -> None:
    names = _names_of(backend)
    names.remember(names.by_experiment, experiment_id, name)


def experiment_name_by_id(backend: MetadataBackend, experiment_id: str) -> str | None:
    """The name of experiment ``experiment_id`` if this process has seen it by that id
    (no database call); None otherwise."""
    return _names_of(backend).by_experiment.get(experiment_id)


def _run_experiment_name(backend: MetadataBackend, run_id: str) -> str:
    names = _names_of(backend)
    found = names.by_run.get(run_id)
    if found is not None:
        return found
    return names.remember(names.by_run, run_id, backend.tracking.run_experiment(run_id).name)


def _found(route: StoreRoute, name: str) -> Resource:
    return Resource(route.kind, name, known=True)


def _model_name(ref: str) -> str:
    """The registered model a reference names (``churn@production`` -> ``churn``)."""
    from cairn.refs import parse

    return parse(ref).name or ref


def sees_everything(guard: Guard, principal: Principal, kind: Any) -> bool:
    """Whether ``principal`` may read any resource of ``kind``, granted or not: then
    listings need no filtering and "there is none" reveals nothing."""
    return guard.allowed(principal, "read", Resource(kind, _UNNAMED))


def scoped_args(
    route: StoreRoute,
    args: dict[str, Any],
    guard: Guard,
    principal: Principal,
    backend: MetadataBackend,
) -> dict[str, Any]:
    """``args`` narrowed to what the caller may see, before the call: a listing of
    tokens or grants without a user is the caller's own; a search over all experiments
    is a search over the ones they may read."""
    if (
        route.kind == "user"
        and route.arg in args  # a plain argument (not a field of a record)
        and args[route.arg] is None
        and not principal.is_admin
    ):
        return {**args, route.arg: principal.user}
    if (
        route.name == "tracking.search_runs"
        and args.get("experiment_ids") is None
        and not sees_everything(guard, principal, "experiment")
    ):
        readable = [
            e.id
            for e in backend.tracking.list_experiments(view="all")
            if guard.allowed(principal, "read", Resource("experiment", e.name))
        ]
        return {**args, "experiment_ids": readable}
    return args


def _experiment_names(backend: MetadataBackend) -> Callable[[str], str]:
    names: dict[str, str] = {}

    def name(experiment_id: str) -> str:
        if experiment_id not in names:
            names[experiment_id] = backend.tracking.get_experiment(experiment_id).name
        return names[experiment_id]

    return name


def _schedule_pipelines(backend: MetadataBackend) -> Callable[[str], str]:
    pipelines = {s.name: s.pipeline for s in backend.schedules.list_schedules()}
    return lambda schedule: pipelines.get(schedule, schedule)


def _item_resources(
    route: StoreRoute, backend: MetadataBackend
) -> Callable[[Any], Resource] | None:
    """How to name the resource of one item of ``route``'s listing (None: no listing)."""
    name = route.name
    if name == "tracking.list_experiments":
        return lambda e: Resource("experiment", e.name)
    if name == "tracking.runs_for_digest":
        experiment = _experiment_names(backend)
        return lambda r: Resource("experiment", experiment(r.experiment_id))
    if name in ("datasets.list_datasets", "datasets.find_digest"):
        return lambda d: Resource("dataset", d.name)
    if name == "registry.list_models":
        return lambda m: Resource("model", m.name)
    if name in ("pipelines.list_runs", "schedules.list_schedules"):
        return lambda r: Resource("pipeline", r.pipeline)
    if name == "alerts.list_alerts":
        return lambda a: Resource("model", _model_name(a.model))
    if name == "schedules.list_firings":
        pipeline = _schedule_pipelines(backend)
        return lambda f: Resource("pipeline", pipeline(f.schedule))
    return None


def visible(
    route: StoreRoute,
    result: Any,
    guard: Guard,
    principal: Principal,
    backend: MetadataBackend,
) -> Any:
    """``result`` without the items the caller may not read (listings only)."""
    if route.name in _CACHE_READS and isinstance(result, dict):
        return _trusted_cache(result, guard, principal, backend)
    if route.kind not in ("experiment", "model", "dataset", "pipeline"):
        return result
    if not isinstance(result, list) or sees_everything(guard, principal, route.kind):
        return result
    resource_of = _item_resources(route, backend)
    if resource_of is None:
        return result
    return [item for item in result if guard.allowed(principal, "read", resource_of(item))]


_CACHE_READS = frozenset({"pipelines.get_cache", "pipelines.recent_cache"})


def _trusted_cache(
    result: dict[str, Any], guard: Guard, principal: Principal, backend: MetadataBackend
) -> dict[str, Any]:
    """Only the step cache entries made by a run of an experiment the caller may edit.

    A cached output stands in for the caller's own step, so it must be one the caller
    could have written: a user cannot plant outputs in another user's pipeline by
    putting an entry under a key that pipeline will look up (keys are content hashes,
    shared by every pipeline). An entry naming no run is never served."""
    trusted: dict[str, bool] = {}
    out = {}
    for key, entry in result.items():
        run_id = getattr(entry, "step_run_id", None)
        if not run_id:
            continue
        try:
            name = _run_experiment_name(backend, str(run_id))
        except NotFound:
            continue  # the run was purged: nothing vouches for the entry any more
        ok = trusted.get(name)
        if ok is None:
            resource = Resource("experiment", name, known=True)
            ok = trusted[name] = guard.allowed(principal, "edit", resource)
        if ok:
            out[key] = entry
    return out


def hidden(principal: Principal, action: str, route: StoreRoute, args: dict[str, Any]) -> str:
    """The refusal a caller without read gets, the same whether the resource exists or
    not, naming only what the caller sent."""
    kind = args.get("kind", route.kind) if route.lookup == "grant" else route.kind
    value = None if route.arg is None else _argument(args, route.arg)
    if route.lookup == "grant":
        value = args.get("name")
    what = f"{kind}s" if value is None else f"the {kind} named by {route.arg}={value!r}"
    if route.lookup == "cache_entries":
        kind, what = "experiment", "the experiments of the runs that made these cache entries"
    if kind == "user":
        return (
            f"{principal.user} may not {action} {what}, or there is none; only that user "
            "and server admins may (`cairn users ls` lists the admins)"
        )
    return (
        f"{principal.user} may not {action} {what}, or there is none; someone with manage "
        f"on it can grant access with `cairn grant {principal.user} {action} {kind}:NAME`"
    )
