"""MLflow's model registry endpoints over Cairn's registry store.

A version's files are gathered from where its ``source`` points on this server (a
logged model ``models:/m-...``, ``runs:/<run>/<path>``, or an ``mlflow-artifacts:/``
path), stored as one tree, and registered with flavor ``mlflow``; downloads of the
version read that tree (``mlflow-artifacts:/registry/<name>/<version>``). Stages are
not served: aliases are Cairn's way to point at a version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cairn.access.types import Resource
from cairn.errors import InvalidInput
from cairn.server.mlflow import convert
from cairn.server.mlflow.files import Place, files, model_run, parse_path, under
from cairn.server.mlflow.wire import Args, Context, Handler, NotSupported
from cairn.store.registry import ModelVersion, NewModelVersion
from cairn.store.trees import encode_tree
from cairn.types import TreeEntry

FLAVOR = "mlflow"
MODEL_ID_TAG = convert.PRIVATE_TAG + "model_id"
_CLAUSE = re.compile(
    r"""^\s*((?:tags?\.)?(?:`[^`]+`|[\w.]+))\s*(=|!=|LIKE|ILIKE)\s*(['"])(.*)\3\s*$""",
    re.IGNORECASE,
)


def _model(ctx: Context, action: Any, name: str) -> Resource:
    resource = Resource("model", name)
    ctx.allow(action, resource)
    return resource


def create_model(ctx: Context, args: Args) -> dict[str, Any]:
    name = args.get("name")
    with ctx.change("create_registered_model", Resource("model", None)):
        model = ctx.backend.registry.create_model(
            name, args.get("description", ""), args.pairs("tags")
        )
    return {"registered_model": convert.registered_model(model)}


def get_model(ctx: Context, args: Args) -> dict[str, Any]:
    name = args.get("name")
    _model(ctx, "read", name)
    return {"registered_model": convert.registered_model(ctx.backend.registry.get_model(name))}


def update_model(ctx: Context, args: Args) -> dict[str, Any]:
    name = args.get("name")
    with ctx.change("update_registered_model", Resource("model", name)):
        model = ctx.backend.registry.update_model(name, description=args.get("description", ""))
    return {"registered_model": convert.registered_model(model)}


def set_model_tag(ctx: Context, args: Args) -> dict[str, Any]:
    name, key = args.get("name"), args.get("key")
    with ctx.change("update_registered_model", Resource("model", name)):
        ctx.backend.registry.update_model(name, tags={key: args.get("value", "")})
    return {}


def delete_model_tag(ctx: Context, args: Args) -> dict[str, Any]:
    name, key = args.get("name"), args.get("key")
    with ctx.change("update_registered_model", Resource("model", name)):
        ctx.backend.registry.update_model(name, tags={key: ""})  # empty removes
    return {}


def _matches(text: str, fields: dict[str, str], tags: Mapping[str, str]) -> bool:
    """MLflow's registry filter: ``and`` of ``field op 'value'`` clauses, where a field
    is one of ``fields`` or ``tags.<key>`` (a missing tag compares as '')."""
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = _CLAUSE.match(clause)
        field = match.group(1).replace("`", "") if match else ""
        if field.lower().startswith(("tag.", "tags.")):
            fields = {**fields, field: tags.get(field.split(".", 1)[1], "")}
        if match is None or field not in fields:
            raise NotSupported(
                f"the registry filter {clause!r}",
                "Cairn filters by "
                + ", ".join([*sorted(fields), "tags.<key>"])
                + " with =, !=, LIKE or ILIKE",
            )
        _, op, _, value = match.groups()
        have, op = fields[field], op.upper()
        if op in ("=", "!="):
            if (have == value) != (op == "="):
                return False
            continue
        pattern = "^" + ".*".join(re.escape(p).replace("_", ".") for p in value.split("%")) + "$"
        if not re.match(pattern, have, (re.IGNORECASE if op == "ILIKE" else 0) | re.DOTALL):
            return False
    return True


def _page(items: list[Any], args: Args, key: str) -> dict[str, Any]:
    start = int(args.get("page_token", "0") or 0)
    size = args.integer("max_results", 1000) or 1000
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["next_page_token"] = str(start + size)
    return out


def search_models(ctx: Context, args: Args) -> dict[str, Any]:
    ctx.allow("read", Resource("model", None))
    text = args.get("filter", "")
    found = [
        convert.registered_model(m)
        for m in ctx.backend.registry.list_models()
        if _matches(text, {"name": m.name}, m.tags)
    ]
    return _page(found, args, "registered_models")


def _source_place(ctx: Context, source: str, model_id: str | None) -> Place:
    if model_id or source.startswith("models:/m-"):
        model_id = model_id or source.removeprefix("models:/").split("/")[0]
        model_run(model_id)
        return Place("model", model_id, "")
    if source.startswith("runs:/"):
        run_id, _, rel = source.removeprefix("runs:/").partition("/")
        return Place("run", run_id, rel.strip("/"))
    if source.startswith("mlflow-artifacts:/"):
        return parse_path(source.removeprefix("mlflow-artifacts:").lstrip("/"))
    raise InvalidInput(
        f"model source {source!r} is not on this server: register models:/<model id>, "
        "runs:/<run id>/<path> or an mlflow-artifacts:/ path of this server"
    )


def create_version(ctx: Context, args: Args) -> dict[str, Any]:
    name, source = args.get("name"), args.get("source")
    model_id = args.opt("model_id")
    place = _source_place(ctx, source, model_id)
    entries = under(files(ctx, place), place.rel)
    if not entries:
        raise InvalidInput(
            f"model source {source!r} holds no files on this server; log the model first"
        )
    tree = ctx.artifacts.put_bytes(
        encode_tree(TreeEntry(p, e.digest, e.size, e.pack, e.offset) for p, e in entries.items())
    )
    tags = args.pairs("tags")
    if place.kind == "model":
        tags[MODEL_ID_TAG] = place.owner
    run_id = args.opt("run_id") or (place.owner[2:34] if place.kind == "model" else place.owner)
    with ctx.change("create_model_version", Resource("model", name)):
        version = ctx.backend.registry.create_version(
            NewModelVersion(
                name=name,
                digest=tree.digest,
                flavor=FLAVOR,
                source=source,
                run_id=run_id,
                size=sum(e.size for e in entries.values()),
                description=args.get("description", ""),
                tags=tags,
                created_by=ctx.actor,
            )
        )
    return {"model_version": convert.model_version(version)}


def _version(ctx: Context, args: Args, action: Any = "read") -> ModelVersion:
    name = args.get("name")
    _model(ctx, action, name)
    number = args.integer("version")
    if number is None:
        raise InvalidInput("missing value for required parameter 'version'")
    return ctx.backend.registry.get_version(name, number)


def get_version(ctx: Context, args: Args) -> dict[str, Any]:
    return {"model_version": convert.model_version(_version(ctx, args))}


def update_version(ctx: Context, args: Args) -> dict[str, Any]:
    v = _version(ctx, args, "edit")
    with ctx.change("update_model_version", Resource("model", v.name)):
        v = ctx.backend.registry.update_version(
            v.name, v.version, description=args.get("description", "")
        )
    return {"model_version": convert.model_version(v)}


def set_version_tag(ctx: Context, args: Args) -> dict[str, Any]:
    v = _version(ctx, args, "edit")
    with ctx.change("update_model_version", Resource("model", v.name)):
        ctx.backend.registry.update_version(
            v.name, v.version, tags={args.get("key"): args.get("value", "")}
        )
    return {}


def delete_version_tag(ctx: Context, args: Args) -> dict[str, Any]:
    v = _version(ctx, args, "edit")
    with ctx.change("update_model_version", Resource("model", v.name)):
        ctx.backend.registry.update_version(v.name, v.version, tags={args.get("key"): ""})
    return {}


def search_versions(ctx: Context, args: Args) -> dict[str, Any]:
    ctx.allow("read", Resource("model", None))
    text = args.get("filter", "")
    registry = ctx.backend.registry
    found = []
    for model in registry.list_models():
        for v in registry.list_versions(model.name):
            fields = {
                "name": v.name,
                "run_id": v.run_id or "",
                "source": v.source,
                "version": str(v.version),
            }
            if _matches(text, fields, v.tags):
                found.append(convert.model_version(v))
    return _page(found, args, "model_versions")


def download_uri(ctx: Context, args: Args) -> dict[str, Any]:
    v = _version(ctx, args)
    return {"artifact_uri": f"mlflow-artifacts:/registry/{v.name}/{v.version}"}


def set_alias(ctx: Context, args: Args) -> dict[str, Any]:
    name, alias = args.get("name"), args.get("alias")
    version = args.integer("version")
    with ctx.change("set_alias", Resource("model", name)):
        ctx.backend.registry.set_alias(name, alias, version, actor=ctx.actor or "mlflow")
    return {}


def delete_alias(ctx: Context, args: Args) -> dict[str, Any]:
    name, alias = args.get("name"), args.get("alias")
    with ctx.change("set_alias", Resource("model", name)):
        ctx.backend.registry.set_alias(
            name, alias, None, actor=ctx.actor or "mlflow", action="remove"
        )
    return {}


def get_by_alias(ctx: Context, args: Args) -> dict[str, Any]:
    name, alias = args.get("name"), args.get("alias")
    _model(ctx, "read", name)
    version = ctx.backend.registry.get_alias(name, alias)
    if version is None:
        from cairn.errors import NotFound

        raise NotFound(f"registered model {name!r} has no alias {alias!r}")
    return {"model_version": convert.model_version(ctx.backend.registry.get_version(name, version))}


def _stages(ctx: Context, args: Args) -> dict[str, Any]:
    raise NotSupported("model version stages", "point an alias at the version instead")


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "registered-models/create", create_model),
    ("GET", "registered-models/get", get_model),
    ("PATCH", "registered-models/update", update_model),
    ("GET", "registered-models/search", search_models),
    ("POST", "registered-models/set-tag", set_model_tag),
    ("DELETE", "registered-models/delete-tag", delete_model_tag),
    ("POST", "registered-models/alias", set_alias),
    ("DELETE", "registered-models/alias", delete_alias),
    ("GET", "registered-models/alias", get_by_alias),
    ("POST", "registered-models/get-latest-versions", _stages),
    ("POST", "model-versions/create", create_version),
    ("GET", "model-versions/get", get_version),
    ("PATCH", "model-versions/update", update_version),
    ("GET", "model-versions/search", search_versions),
    ("POST", "model-versions/set-tag", set_version_tag),
    ("DELETE", "model-versions/delete-tag", delete_version_tag),
    ("GET", "model-versions/get-download-uri", download_uri),
    ("POST", "model-versions/transition-stage", _stages),
)
