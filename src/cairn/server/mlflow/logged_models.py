"""MLflow 3's logged models: what ``mlflow.<flavor>.log_model`` creates before uploading.

A logged model lives on its source run (see :mod:`cairn.server.mlflow.files`): its
record and its files are that run's outputs, so ``cairn gc`` keeps them while the run
exists, and lineage shows which run made them. A model logged outside a run has
nowhere to live in Cairn and is refused.
"""

from __future__ import annotations

from typing import Any

from cairn.access.types import Resource
from cairn.errors import InvalidInput, NotFound
from cairn.server.mlflow import convert
from cairn.server.mlflow.files import model_record, new_model_id, save_model_record
from cairn.server.mlflow.wire import Args, Context, Handler, NotSupported
from cairn.types import now_ms

_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
#: A run tag per model name, listing that name's model ids: finds models by name.
_NAME_TAG = convert.PRIVATE_TAG + "models."


def model_json(record: dict[str, Any]) -> dict[str, Any]:
    info = {k: v for k, v in record.items() if k not in ("tags", "params")}
    info["tags"] = convert.pairs(record.get("tags", {}))
    info["artifact_uri"] = (
        f"mlflow-artifacts:/{record['experiment_id']}/models/{record['model_id']}/artifacts"
    )
    return {
        "info": info,
        "data": {"params": convert.pairs(record.get("params", {})), "metrics": []},
    }


def create(ctx: Context, args: Args) -> dict[str, Any]:
    run_id = args.opt("source_run_id")
    if run_id is None:
        raise NotSupported(
            "logging a model outside a run",
            "log it inside mlflow.start_run() so its files are kept with the run that made them",
        )
    name = args.get("name", "model")
    resource = ctx.experiment_of_run(run_id)
    with ctx.change("create_logged_model", resource):
        run = ctx.backend.tracking.get_run(run_id)
        model_id = new_model_id(run.id)
        created = now_ms()
        record = {
            "model_id": model_id,
            "experiment_id": run.experiment_id,
            "name": name,
            "creation_timestamp_ms": created,
            "status": "LOGGED_MODEL_PENDING",
            "model_type": args.get("model_type", ""),
            "source_run_id": run.id,
            "tags": args.pairs("tags"),
            "params": args.pairs("params"),
        }
        save_model_record(ctx, record)
        key = _NAME_TAG + name
        ids = " ".join(filter(None, [run.tags.get(key, ""), model_id]))
        ctx.backend.tracking.log_batch(run.id, tags={key: ids})
    return {"model": model_json(record)}


def get(ctx: Context, args: Args) -> dict[str, Any]:
    model_id = args.get("model_id")
    run, record = model_record(ctx, model_id)
    ctx.allow("read", ctx.experiment_of_run(run.id))
    return {"model": model_json(record)}


def _update(ctx: Context, model_id: str, change: Any) -> dict[str, Any]:
    run, record = model_record(ctx, model_id)
    with ctx.change("update_logged_model", ctx.experiment_of_run(run.id)):
        change(record)
        save_model_record(ctx, record)
    return {"model": model_json(record)}


def finalize(ctx: Context, args: Args) -> dict[str, Any]:
    status = args.get("status")
    if status not in _STATUSES:
        raise InvalidInput(f"unknown logged model status {status!r}; one of {', '.join(_STATUSES)}")
    return _update(ctx, args.get("model_id"), lambda r: r.update(status=status))


def set_tags(ctx: Context, args: Args) -> dict[str, Any]:
    tags = args.pairs("tags")
    _update(ctx, args.get("model_id"), lambda r: r.setdefault("tags", {}).update(tags))
    return {}


def delete_tag(ctx: Context, args: Args) -> dict[str, Any]:
    key = args.get("tag_key")
    _update(ctx, args.get("model_id"), lambda r: r.setdefault("tags", {}).pop(key, None))
    return {}


def log_params(ctx: Context, args: Args) -> dict[str, Any]:
    params = args.pairs("params")
    _update(ctx, args.get("model_id"), lambda r: r.setdefault("params", {}).update(params))
    return {}


def log_outputs(ctx: Context, args: Args) -> dict[str, Any]:
    """Models are recorded on their source run when created; another run is refused."""
    run_id = args.get("run_id")
    for item in args.many("models"):
        model_id = str(item.get("model_id", "")) if isinstance(item, dict) else ""
        run, _ = model_record(ctx, model_id)
        if run.id != run_id:
            raise NotSupported(
                f"recording model {model_id} as an output of run {run_id}",
                f"it is an output of its source run {run.id}",
            )
    return {}


def search(ctx: Context, args: Args) -> dict[str, Any]:
    text = args.get("filter", "").strip()
    name = _name_filter(text)
    ids = [str(i) for i in args.many("experiment_ids")]
    if not ctx.open:
        for exp_id in ids:
            exp = ctx.backend.tracking.get_experiment(exp_id)
            ctx.allow("read", Resource("experiment", exp.name))
    key = (_NAME_TAG + name).replace("`", "")
    page = ctx.backend.tracking.search_runs(
        ids or None, f"tags.`{key}` is not null", max_results=1000, view="all"
    )
    models = []
    for run in page.items:
        for model_id in run.tags.get(key, "").split():
            try:
                models.append(model_json(model_record(ctx, model_id)[1]))
            except NotFound:
                continue
    return {"models": models}


def _name_filter(text: str) -> str:
    import re

    match = re.fullmatch(r"""(?:attributes\.)?name\s*=\s*(['"])(.*)\1""", text)
    if match is None:
        raise NotSupported(
            f"searching logged models with the filter {text!r}",
            "Cairn finds logged models by name only: name = 'model'",
        )
    return match.group(2)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "logged-models", create),
    ("POST", "logged-models/search", search),
    ("GET", "logged-models/{model_id}", get),
    ("PATCH", "logged-models/{model_id}", finalize),
    ("PATCH", "logged-models/{model_id}/tags", set_tags),
    ("DELETE", "logged-models/{model_id}/tags/{tag_key}", delete_tag),
    ("POST", "logged-models/{model_id}/params", log_params),
    ("POST", "runs/outputs", log_outputs),
)
