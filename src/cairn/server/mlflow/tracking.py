"""MLflow's experiment, run and metric endpoints over Cairn's tracking store.

Every call maps to one tracking store method (``log-metric``, ``log-parameter`` and
``set-tag`` go through ``log_batch``, like Cairn's own client), so what MLflow's client
writes is an ordinary Cairn record. MLflow's default experiment (id ``0``) is Cairn's
``Default`` experiment.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from cairn.access.types import Resource
from cairn.errors import InvalidInput, NotFound
from cairn.server.mlflow import convert
from cairn.server.mlflow.filters import translate_filter, translate_order_by
from cairn.server.mlflow.wire import Args, Context, Handler, NotSupported
from cairn.server.resources import experiment_name_by_id, remember_experiment_name
from cairn.store.base import DEFAULT_EXPERIMENT, RunView
from cairn.types import Environment, Experiment, Metric, Run, RunIO, RunStatus, now_ms

_VIEWS: dict[str, RunView] = {
    "ACTIVE_ONLY": "active",
    "DELETED_ONLY": "deleted",
    "ALL": "all",
}
_NAME_FILTER = re.compile(
    r"^\s*(?:attributes?\.)?name\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$", re.IGNORECASE
)
_MLFLOW_DEFAULT_ID = "0"
PARENT_TAG = "mlflow.parentRunId"


# -- experiments -----------------------------------------------------------------------


def find_experiment(ctx: Context, experiment_id: str) -> Experiment:
    """The experiment with this id (``0`` is ``Default``); never a name lookup."""
    tracking = ctx.backend.tracking
    if experiment_id == _MLFLOW_DEFAULT_ID:
        try:
            return tracking.get_experiment(DEFAULT_EXPERIMENT)
        except NotFound:
            with ctx.change("create_experiment", Resource("experiment", None)):
                return tracking.create_experiment(DEFAULT_EXPERIMENT)
    if not experiment_id.isdigit():
        raise InvalidInput(f"experiment id {experiment_id!r} is not a number; ids look like '1'")
    exp = tracking.get_experiment(experiment_id)
    if exp.id != experiment_id:  # the store fell back to a name lookup
        raise NotFound(f"no experiment with id {experiment_id}; see experiments/search")
    return exp


def create_experiment(ctx: Context, args: Args) -> dict[str, Any]:
    name = args.get("name")
    tags = args.pairs("tags")
    description = tags.pop(convert.NOTE_TAG, "")
    with ctx.change("create_experiment", Resource("experiment", None)):
        exp = ctx.backend.tracking.create_experiment(name, description, tags)
    return {"experiment_id": exp.id}


def delete_experiment(ctx: Context, args: Args) -> dict[str, Any]:
    exp = find_experiment(ctx, args.get("experiment_id"))
    resource = Resource("experiment", exp.name)
    ctx.allow("manage", resource)
    with ctx.change("delete_experiment", resource):
        ctx.backend.tracking.delete_experiment(exp.id, actor=ctx.actor or "mlflow")
    return {}


def restore_experiment(ctx: Context, args: Args) -> dict[str, Any]:
    exp = find_experiment(ctx, args.get("experiment_id"))
    resource = Resource("experiment", exp.name)
    ctx.allow("manage", resource)
    with ctx.change("restore_experiment", resource):
        ctx.backend.tracking.restore_experiment(exp.id, actor=ctx.actor or "mlflow")
    return {}


def set_experiment_tag(ctx: Context, args: Args) -> dict[str, Any]:
    exp = find_experiment(ctx, args.get("experiment_id"))
    with ctx.change("set_experiment_tag", Resource("experiment", exp.name)):
        ctx.backend.tracking.set_experiment_tag(exp.id, args.get("key"), args.get("value", ""))
    return {}


def get_experiment(ctx: Context, args: Args) -> dict[str, Any]:
    exp = find_experiment(ctx, args.get("experiment_id"))
    ctx.allow("read", Resource("experiment", exp.name))
    return {"experiment": convert.experiment(exp)}


def get_experiment_by_name(ctx: Context, args: Args) -> dict[str, Any]:
    name = args.get("experiment_name")
    ctx.allow("read", Resource("experiment", name))
    exp = ctx.backend.tracking.get_experiment(name)
    if exp.name != name:  # the store matched an id
        raise NotFound(f"no experiment named {name!r}; see experiments/search")
    return {"experiment": convert.experiment(exp)}


def search_experiments(ctx: Context, args: Args) -> dict[str, Any]:
    ctx.allow("read", Resource("experiment", None))
    view = _VIEWS.get(args.get("view_type", "ACTIVE_ONLY").upper())
    if view is None:
        raise InvalidInput("view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL")
    found = ctx.backend.tracking.list_experiments(view=view)
    text = args.get("filter", "")
    if text.strip():
        found = [e for e in found if _name_matches(e.name, text)]
    order = [o.lower().split() for o in args.many("order_by")]
    for parts in reversed(order):
        field, desc = parts[0], len(parts) > 1 and parts[1] == "desc"
        keys = {"name": lambda e: e.name, "experiment_id": lambda e: int(e.id)}
        field = field.removeprefix("attributes.").removeprefix("attribute.")
        key = keys.get(field, lambda e: e.created_at)
        found.sort(key=key, reverse=desc)
    start = int(args.get("page_token", "0") or 0)
    size = args.integer("max_results", 1000) or 1000
    page = found[start : start + size]
    out: dict[str, Any] = {"experiments": [convert.experiment(e) for e in page]}
    if start + size < len(found):
        out["next_page_token"] = str(start + size)
    return out


def _name_matches(name: str, text: str) -> bool:
    match = _NAME_FILTER.match(text)
    if match is None:
        raise NotSupported(
            f"the experiment filter {text!r}",
            "Cairn filters experiments by name only: name = 'x', name != 'x', "
            "name LIKE 'x%' or name ILIKE 'x%'",
        )
    op, value = match.group(1).upper(), match.group(2).replace("''", "'")
    if op == "=":
        return name == value
    if op == "!=":
        return name != value
    pattern = "^" + ".*".join(re.escape(p).replace("_", ".") for p in value.split("%")) + "$"
    flags = re.IGNORECASE if op == "ILIKE" else 0
    return re.match(pattern, name, flags | re.DOTALL) is not None


# -- runs ------------------------------------------------------------------------------


def _run_id(args: Args) -> str:
    return args.get("run_id", alias="run_uuid")


def create_run(ctx: Context, args: Args) -> dict[str, Any]:
    experiment_id = args.get("experiment_id", _MLFLOW_DEFAULT_ID)
    # An experiment seen by its id is that experiment for good (never renamed nor
    # removed): no look-up before the run's own transaction, which checks it is live.
    experiment = experiment_name_by_id(ctx.backend, experiment_id)
    if experiment is None:
        found = find_experiment(ctx, experiment_id)
        experiment_id, experiment = found.id, found.name
        remember_experiment_name(ctx.backend, experiment_id, experiment)
    tags = args.pairs("tags")
    name = args.get("run_name", "") or tags.get(convert.RUN_NAME_TAG, "")
    user = args.get("user_id", "") or tags.get(convert.USER_TAG, "")
    env = Environment(git_commit=tags.get(convert.GIT_TAG) or None, user=user)
    with ctx.change("create_run", Resource("experiment", experiment, known=True)):
        run = ctx.backend.tracking.create_run(
            experiment_id,
            name=name,
            parent_id=tags.get(PARENT_TAG) or None,
            start_time=args.integer("start_time"),
            environment=env,
            tags=tags,
        )
    return {"run": convert.run(run)}


def update_run(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    tracking = ctx.backend.tracking
    run = tracking.get_run(run_id)
    name = args.opt("run_name")
    if name is not None and name != run.name:
        raise NotSupported("renaming a run", f"run {run_id} keeps its name {run.name!r}")
    status = _status(args.get("status", str(run.status)))
    if status is RunStatus.RUNNING:
        if run.status is not RunStatus.RUNNING:
            raise NotSupported(
                f"reopening run {run_id} ({run.status})", "start a new run to log more"
            )
    elif run.status is RunStatus.RUNNING or run.end_time != args.integer("end_time", run.end_time):
        end = args.integer("end_time") or now_ms()
        with ctx.change("update_run", ctx.experiment_of_run(run_id)):
            tracking.end_run(run_id, status, end)
        run = dataclasses.replace(run, status=status, end_time=end)  # what end_run stored
    return {"run_info": convert.run(run)["info"]}


def _status(text: str) -> RunStatus:
    text = text.upper()
    if text == "SCHEDULED":
        return RunStatus.RUNNING
    try:
        return RunStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"unknown run status {text!r}; one of {known}") from None


def get_run(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    ctx.allow("read", ctx.experiment_of_run(run_id))
    run = ctx.backend.tracking.get_run(run_id)
    return {"run": convert.run(run, _dataset_inputs(ctx, run))}


def delete_run(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    with ctx.change("delete_run", ctx.experiment_of_run(run_id)):
        ctx.backend.tracking.delete_run(run_id, actor=ctx.actor or "mlflow")
    return {}


def restore_run(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    with ctx.change("restore_run", ctx.experiment_of_run(run_id)):
        ctx.backend.tracking.restore_run(run_id, actor=ctx.actor or "mlflow")
    return {}


def _metric(item: Any) -> Metric:
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise InvalidInput(f"a metric needs a 'key', a 'value' and a 'timestamp': {item!r}")
    try:
        value = float(item.get("value"))  # type: ignore[arg-type]  # "NaN" arrives as a string
        step = int(item.get("step") or 0)
        timestamp = int(item.get("timestamp") or now_ms())
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {item.get('key')!r} has a value that is not a number") from None
    return Metric(item["key"], value, step, timestamp)


def _log(ctx: Context, run_id: str, **what: Any) -> dict[str, Any]:
    with ctx.change("log_batch", ctx.experiment_of_run(run_id)):
        ctx.backend.tracking.log_batch(run_id, **what)
    return {}


def log_batch(ctx: Context, args: Args) -> dict[str, Any]:
    metrics = [_metric(m) for m in args.many("metrics")]
    return _log(
        ctx, _run_id(args), metrics=metrics, params=args.pairs("params"), tags=args.pairs("tags")
    )


def log_metric(ctx: Context, args: Args) -> dict[str, Any]:
    metric = _metric(args.values)
    return _log(ctx, _run_id(args), metrics=[metric])


def log_param(ctx: Context, args: Args) -> dict[str, Any]:
    return _log(ctx, _run_id(args), params={args.get("key"): args.get("value", "")})


def set_tag(ctx: Context, args: Args) -> dict[str, Any]:
    return _log(ctx, _run_id(args), tags={args.get("key"): args.get("value", "")})


def log_inputs(ctx: Context, args: Args) -> dict[str, Any]:
    """Datasets become lineage inputs of the run: the dataset's MLflow record is stored
    by digest and the run reads it (role ``mlflow-dataset``, named ``name@digest``)."""
    run_id = _run_id(args)
    if args.many("models"):
        raise NotSupported("logging models as run inputs", "log the datasets only")
    items = []
    for entry in args.many("datasets"):
        ds = entry.get("dataset") if isinstance(entry, dict) else None
        if not isinstance(ds, dict) or not ds.get("name"):
            raise InvalidInput(f"each dataset input needs a 'dataset' with a 'name': {entry!r}")
        record = json.dumps({"dataset": ds, "tags": entry.get("tags") or []}, sort_keys=True)
        info = ctx.artifacts.put_bytes(record.encode())
        name = f"{ds['name']}@{ds.get('digest', '')}"
        items.append(RunIO("input", convert.DATASET_ROLE, name, info.digest, "file", info.size))
    with ctx.change("log_io", ctx.experiment_of_run(run_id)):
        ctx.backend.tracking.log_io(run_id, items)
    return {}


def _dataset_inputs(ctx: Context, run: Run) -> list[dict[str, Any]]:
    out = []
    for io in run.inputs:
        if io.role == convert.DATASET_ROLE:
            out.append(json.loads(ctx.artifacts.read_bytes(io.digest)))
    return out


def search_runs(ctx: Context, args: Args) -> dict[str, Any]:
    ids = [find_experiment(ctx, str(i)).id for i in args.many("experiment_ids")]
    if not ctx.open:
        tracking = ctx.backend.tracking
        for exp_id in ids:
            ctx.allow("read", Resource("experiment", tracking.get_experiment(exp_id).name))
    view = _VIEWS.get(args.get("run_view_type", "ACTIVE_ONLY").upper())
    if view is None:
        raise InvalidInput("run_view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL")
    page = ctx.backend.tracking.search_runs(
        ids or None,
        translate_filter(args.get("filter", "")),
        translate_order_by([str(o) for o in args.many("order_by")]),
        max_results=args.integer("max_results", 1000) or 1000,
        page_token=args.opt("page_token"),
        view=view,
    )
    out: dict[str, Any] = {"runs": [convert.run(r) for r in page.items]}
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


def metric_history(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    ctx.allow("read", ctx.experiment_of_run(run_id))
    points = ctx.backend.tracking.get_metric_history(run_id, args.get("metric_key"))
    start = int(args.get("page_token", "0") or 0)
    size = args.integer("max_results") or len(points) or 1
    out: dict[str, Any] = {"metrics": [convert.metric(m) for m in points[start : start + size]]}
    if start + size < len(points):
        out["next_page_token"] = str(start + size)
    return out


#: (method, path under /2.0/mlflow/, handler)
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "experiments/create", create_experiment),
    ("GET", "experiments/get", get_experiment),
    ("GET", "experiments/get-by-name", get_experiment_by_name),
    ("POST", "experiments/search", search_experiments),
    ("POST", "experiments/delete", delete_experiment),
    ("POST", "experiments/restore", restore_experiment),
    ("POST", "experiments/set-experiment-tag", set_experiment_tag),
    ("GET", "experiments/search", search_experiments),
    ("POST", "runs/create", create_run),
    ("POST", "runs/update", update_run),
    ("GET", "runs/get", get_run),
    ("POST", "runs/delete", delete_run),
    ("POST", "runs/restore", restore_run),
    ("POST", "runs/log-batch", log_batch),
    ("POST", "runs/log-metric", log_metric),
    ("POST", "runs/log-parameter", log_param),
    ("POST", "runs/set-tag", set_tag),
    ("POST", "runs/log-inputs", log_inputs),
    ("POST", "runs/search", search_runs),
    ("GET", "metrics/get-history", metric_history),
)
