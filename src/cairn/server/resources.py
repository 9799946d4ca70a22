"""Which resource a store call touches, for the guard: names, not ids.

Runs are authorized on their experiment's name, pipeline runs on their pipeline's name.
"""

from __future__ import annotations

from typing import Any

from cairn.access.types import Resource
from cairn.store.base import MetadataBackend
from cairn.store.rest.routes import StoreRoute


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
    """The resources ``route`` called with ``args`` needs (usually one)."""
    value = None if route.arg is None else _argument(args, route.arg)
    if value is None:
        return [Resource(route.kind, None)]
    if route.lookup == "experiment":
        return [Resource(route.kind, backend.tracking.get_experiment(str(value)).name)]
    if route.lookup == "run":
        run = backend.tracking.get_run(str(value))
        return [Resource(route.kind, backend.tracking.get_experiment(run.experiment_id).name)]
    if route.lookup == "experiments":
        names = {backend.tracking.get_experiment(str(v)).name for v in value}
        return [Resource(route.kind, n) for n in sorted(names)] or [Resource(route.kind, None)]
    if route.lookup == "pipeline_run":
        return [Resource(route.kind, backend.pipelines.get_run(str(value)).pipeline)]
    return [Resource(route.kind, str(value))]
