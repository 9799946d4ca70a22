"""Cairn records in MLflow's JSON shapes (the proto3 JSON of MLflow's REST API).

Run ids are the same 32-hex ids on both sides; experiment ids are Cairn's numbers as
strings. A run's artifacts live under ``mlflow-artifacts:/<experiment>/<run>/artifacts``,
served by :mod:`cairn.server.mlflow.artifacts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cairn.store.registry import ModelVersion, RegisteredModel
from cairn.types import Experiment, Metric, Run

#: Tags Cairn keeps for its own bookkeeping of MLflow records; hidden from MLflow.
PRIVATE_TAG = "cairn.mlflow."
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
NOTE_TAG = "mlflow.note.content"
GIT_TAG = "mlflow.source.git.commit"


def pairs(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


def experiment(exp: Experiment) -> dict[str, Any]:
    # The description is MLflow's note tag; a note set later as a tag wins.
    tags = {NOTE_TAG: exp.description} if exp.description else {}
    tags.update(exp.tags)
    return {
        "experiment_id": exp.id,
        "name": exp.name,
        "artifact_location": f"mlflow-artifacts:/{exp.id}",
        "lifecycle_stage": "deleted" if exp.is_deleted else "active",
        "creation_time": exp.created_at,
        "last_update_time": exp.deleted_at or exp.created_at,
        "tags": pairs(tags),
    }


def run_artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def number(value: float) -> float | str:
    """A double as proto3 JSON writes it: NaN and infinities are quoted strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def metric(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": number(m.value), "timestamp": m.timestamp, "step": m.step}


def run(r: Run, dataset_inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    tags = {k: v for k, v in r.tags.items() if not k.startswith(PRIVATE_TAG)}
    tags.setdefault(RUN_NAME_TAG, r.name)
    if r.environment.user:
        tags.setdefault(USER_TAG, r.environment.user)
    if r.environment.git_commit:
        tags.setdefault(GIT_TAG, r.environment.git_commit)
    info = {
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": r.experiment_id,
        "user_id": r.environment.user,
        "status": str(r.status),
        "start_time": r.start_time,
        "artifact_uri": run_artifact_uri(r),
        "lifecycle_stage": "deleted" if r.is_deleted else "active",
    }
    if r.end_time is not None:
        info["end_time"] = r.end_time
    models = [{"model_id": io.name, "step": 0} for io in r.outputs if io.role == LOGGED_MODEL_ROLE]
    return {
        "info": info,
        "data": {
            "metrics": [metric(m) for m in r.metrics.values()],
            "params": pairs(r.params),
            "tags": pairs(tags),
        },
        "inputs": {"dataset_inputs": dataset_inputs or []},
        "outputs": {"model_outputs": models},
    }


#: RunIO roles of what MLflow's client stores on a run, besides plain ``artifact`` files.
LOGGED_MODEL_ROLE = "mlflow-logged-model"  # the logged model's record (JSON object)
MODEL_FILE_ROLE = "mlflow-model"  # a file of a logged model, named <model id>/<path>
DATASET_ROLE = "mlflow-dataset"  # an input dataset's record (JSON object)


def registered_model(m: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.created_at,
        "last_updated_timestamp": m.updated_at,
        "description": m.description,
        "tags": pairs(m.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())],
    }
    return out


def model_version(v: ModelVersion) -> dict[str, Any]:
    tags = {k: val for k, val in v.tags.items() if not k.startswith(PRIVATE_TAG)}
    out: dict[str, Any] = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.created_at,
        "user_id": v.created_by,
        "current_stage": "Archived" if v.status == "ARCHIVED" else "None",
        "description": v.description,
        "source": v.source,
        "status": "READY",
        "tags": pairs(tags),
        "aliases": list(v.aliases),
    }
    if v.run_id:
        out["run_id"] = v.run_id
    model_id = v.tags.get(f"{PRIVATE_TAG}model_id")
    if model_id:
        out["model_id"] = model_id
    return out
