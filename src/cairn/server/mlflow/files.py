"""The files behind MLflow's artifact paths, and the logged models that hold some of them.

MLflow's client addresses artifacts by path under ``mlflow-artifacts:/``; Cairn keeps
every file in the content-addressed store and records it on a run as a lineage output:

* ``<experiment>/<run>/artifacts/<path>``: a run's artifact (role ``artifact``, named
  ``<path>``, as ``cairn.log_artifact`` records it; Cairn's tree artifacts are seen as
  folders).
* ``<experiment>/models/<model id>/artifacts/<path>``: a file of a logged model (role
  ``mlflow-model``, named ``<model id>/<path>``) on the model's source run. The model's
  own record (name, status, tags, params) is a JSON object stored by digest, the run's
  output ``mlflow-logged-model`` named by the model id, rewritten on each change.
* ``registry/<model name>/<version>/<path>``: a registered version's files, read from
  the version's tree, so what a client loads is exactly what was registered.

Model ids are ``m-`` followed by the source run's id and 8 hex digits, so a model's run
is found without a search.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput, NotFound
from cairn.server.mlflow import convert
from cairn.server.mlflow.wire import Context
from cairn.store.trees import is_safe_path
from cairn.types import Run, RunIO, TreeEntry, now_ms

_MODEL_ID = re.compile(r"m-([0-9a-f]{32})[0-9a-f]{8}")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Place:
    """Where an artifact path points: a run's artifacts, a logged model's files, or a
    registered version; ``rel`` is the path inside it ('' for its root)."""

    kind: str  # "run" | "model" | "version"
    owner: str  # run id, model id, or "name/version"
    rel: str
    experiment_id: str = ""


def parse_path(path: str) -> Place:
    parts = [p for p in path.strip("/").split("/") if p]
    rel = "/".join(parts[3:])  # after <experiment>/<run>/artifacts or registry/<name>/<n>
    if rel and not is_safe_path(rel):
        raise InvalidInput(f"artifact path {path!r} is not a safe relative path")
    if len(parts) >= 3 and parts[0] == "registry" and parts[2].isdigit():
        return Place("version", f"{parts[1]}/{parts[2]}", rel)
    if len(parts) >= 3 and parts[2] == "artifacts" and _RUN_ID.fullmatch(parts[1]):
        return Place("run", parts[1], rel, parts[0])
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        model_run(parts[2])
        return Place("model", parts[2], "/".join(parts[4:]), parts[0])
    raise NotFound(
        f"no artifact location {path!r} on this server: paths look like "
        "<experiment>/<run id>/artifacts/<file> or <experiment>/models/<model id>/artifacts/<file>"
    )


def model_run(model_id: str) -> str:
    """The run id inside a model id; ``NotFound`` for an id Cairn did not give."""
    match = _MODEL_ID.fullmatch(model_id)
    if match is None:
        raise NotFound(f"no logged model {model_id!r} on this server")
    return match.group(1)


def new_model_id(run_id: str) -> str:
    return f"m-{run_id}{uuid.uuid4().hex[:8]}"


def files(ctx: Context, place: Place) -> dict[str, TreeEntry]:
    """Every file of ``place``, by path relative to its root."""
    if place.kind == "version":
        name, version = place.owner.split("/")
        mv = ctx.backend.registry.get_version(name, int(version))
        return {e.path: e for e in ctx.artifacts.read_tree(mv.digest)}
    if place.kind == "model":
        run = ctx.backend.tracking.get_run(model_run(place.owner))
        prefix = place.owner + "/"
        return {
            io.name[len(prefix) :]: TreeEntry(io.name[len(prefix) :], io.digest, io.size)
            for io in run.outputs
            if io.role == convert.MODEL_FILE_ROLE and io.name.startswith(prefix)
        }
    run = ctx.backend.tracking.get_run(place.owner)
    out: dict[str, TreeEntry] = {}
    for io in run.outputs:
        if io.role != "artifact":
            continue
        if io.kind == "tree":
            for e in ctx.artifacts.read_tree(io.digest):
                path = f"{io.name}/{e.path}"
                out[path] = TreeEntry(path, e.digest, e.size, e.pack, e.offset)
        else:
            out[io.name] = TreeEntry(io.name, io.digest, io.size)
    return out


def under(entries: dict[str, TreeEntry], rel: str) -> dict[str, TreeEntry]:
    """The files inside folder ``rel`` (all of them for ''), keyed by path inside it."""
    if not rel:
        return dict(entries)
    prefix = rel.rstrip("/") + "/"
    return {p[len(prefix) :]: e for p, e in entries.items() if p.startswith(prefix)}


# -- logged models ---------------------------------------------------------------------


def model_record(ctx: Context, model_id: str) -> tuple[Run, dict[str, Any]]:
    run = ctx.backend.tracking.get_run(model_run(model_id))
    for io in run.outputs:
        if io.role == convert.LOGGED_MODEL_ROLE and io.name == model_id:
            return run, json.loads(ctx.artifacts.read_bytes(io.digest))
    raise NotFound(f"no logged model {model_id!r} on this server")


def save_model_record(ctx: Context, record: dict[str, Any]) -> None:
    record["last_updated_timestamp_ms"] = now_ms()
    info = ctx.artifacts.put_bytes(json.dumps(record, sort_keys=True).encode())
    edge = RunIO(
        "output", convert.LOGGED_MODEL_ROLE, record["model_id"], info.digest, "file", info.size
    )
    ctx.backend.tracking.log_io(record["source_run_id"], [edge])
