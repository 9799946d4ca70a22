"""log_model inside a run, loading by runs:/ and models:/ URIs, tamper refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.errors import CairnError, IntegrityError, NotFound
from cairn.models import load, save_model
from cairn.models.manifest import MANIFEST_FILE
from cairn.workspace import Workspace


def test_log_model_records_lineage_and_loads_by_run_uri(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = table
    with cairn.start_run(experiment="churn") as run:
        info = cairn.log_model(pipeline, input_example=X.head(5))
    assert info.uri == f"runs:/{run.id}/model"
    outputs = cairn.get_run(run.id).outputs
    assert [(o.role, o.kind, o.name, o.digest) for o in outputs] == [
        ("model", "model", "model", info.digest)
    ]
    model = load(info.uri)
    assert model.version is None and model.run_id == run.id
    assert model.manifest.run_id == run.id
    np.testing.assert_array_equal(model.predict(X), pipeline.predict(X))  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(model.input_example(), X.head(5))


def test_log_model_outside_a_run_is_refused(workspace: Workspace, pipeline: object) -> None:
    with pytest.raises(CairnError, match="no active run"):
        cairn.log_model(pipeline)


def test_unknown_run_model_name_lists_what_was_logged(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    with cairn.start_run() as run:
        cairn.log_model(pipeline, name="clf", input_example=table[0].head(2))
    with pytest.raises(NotFound, match="no model named 'model'; it logged: clf"):
        load(f"runs:/{run.id}/model")


def test_registered_version_and_alias_load(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    X, _ = table
    with cairn.start_run():
        info = cairn.log_model(pipeline, input_example=X.head(5), registered_name="churn")
    assert info.version == 1
    cairn.registry.promote("churn", 1, "production")
    for uri in ("models:/churn/1", "models:/churn@production", "churn@production", "churn/latest"):
        model = load(uri)
        assert (model.name, model.version) == ("churn", 1)
    with pytest.raises(NotFound, match="has no alias 'staging'"):
        load("models:/churn@staging")
    with pytest.raises(NotFound, match="no registered model named 'nope'"):
        load("models:/nope/1")


def test_tampered_store_object_refuses_to_load(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    with cairn.start_run():
        info = cairn.log_model(pipeline, input_example=table[0].head(2))
    store_root = Path(workspace.settings.artifact_uri)
    entry = next(e for e in workspace.artifacts.read_tree(info.digest) if e.path == "model.skops")
    stored = entry.pack or entry.digest  # small files live inside pack objects
    # Objects live at <root>/.../<first 2 hex>/<remaining 62>.
    blob = next(
        p for p in store_root.rglob(stored[2:]) if p.is_file() and p.parent.name == stored[:2]
    )
    data = bytearray(blob.read_bytes())
    data[entry.offset + entry.size // 2] ^= 0xFF  # one flipped bit in the model file
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load(info.uri)


def test_tampered_local_directory_refuses_to_load(tmp_path: Path, pipeline: object) -> None:
    save_model(pipeline, tmp_path / "m")
    with (tmp_path / "m" / "model.skops").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match=r"model\.skops .* does not match its digest"):
        load(str(tmp_path / "m"))


def test_unsupported_manifest_format_is_refused(tmp_path: Path, pipeline: object) -> None:
    save_model(pipeline, tmp_path / "m")
    path = tmp_path / "m" / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["format_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(CairnError, match="format 99 is not supported"):
        load(str(tmp_path / "m"))
