"""log_model inside a run, loading by runs:/ and models:/ URIs, tamper refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.errors import CairnError, IntegrityError, InvalidInput, NotFound
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


# -- every file a model reads is one of its hashed files, inside its folder -------------


def _edit_manifest(directory: Path, **changes: object) -> None:
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "file":
            data["options"]["file"] = value
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def _other_model(table: tuple[pd.DataFrame, np.ndarray], directory: Path) -> Path:
    """A different, valid model saved outside the model under attack: its model.skops."""
    from sklearn.dummy import DummyClassifier

    X, y = table
    save_model(DummyClassifier(strategy="constant", constant=0).fit(X, y), directory)
    return directory / "model.skops"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"file": "/etc/passwd"}, r"options\.file '/etc/passwd' is an absolute path"),
        ({"file": "../outside.skops"}, r"options\.file '\.\./outside\.skops' is not a normalised"),
        ({"file": "./model.skops"}, r"options\.file '\./model\.skops' is not a normalised"),
        ({"file": "C:/x.skops"}, r"options\.file 'C:/x\.skops' is an absolute path"),
        ({"file": "input_example.jsonx"}, r"options\.file .* is not one of the model's hashed"),
        ({"input_example": "/etc/passwd"}, r"input_example '/etc/passwd' is an absolute path"),
        ({"input_example": "../x.json"}, r"input_example '\.\./x\.json' is not a normalised"),
        (
            {"files": [{"path": "../model.skops", "digest": "0" * 64, "size": 1}]},
            r"files\[\]\.path '\.\./model\.skops' is not a normalised",
        ),
    ],
    ids=["absolute", "dotdot", "dot", "drive", "unhashed", "example-abs", "example-up", "files"],
)
def test_crafted_manifest_naming_a_file_outside_the_folder_refuses_to_load(
    tmp_path: Path, pipeline: object, changes: dict[str, object], message: str
) -> None:
    save_model(pipeline, tmp_path / "m", input_example=np.zeros((1, 7)))
    _edit_manifest(tmp_path / "m", **changes)
    with pytest.raises(InvalidInput, match=message):
        load(str(tmp_path / "m"))


def test_symlink_inside_the_model_folder_pointing_out_refuses_to_load(
    tmp_path: Path, pipeline: object
) -> None:
    save_model(pipeline, tmp_path / "m")
    inside = tmp_path / "m" / "model.skops"
    outside = tmp_path / "elsewhere.skops"
    inside.rename(outside)  # same bytes, so the digest in the manifest still matches
    inside.symlink_to(outside)
    with pytest.raises(IntegrityError, match=r"model\.skops is a symbolic link"):
        load(str(tmp_path / "m"))


def test_symlinked_input_example_refuses_to_load(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    save_model(pipeline, tmp_path / "m", input_example=table[0].head(2))
    inside = tmp_path / "m" / "input_example.json"
    outside = tmp_path / "example.json"
    inside.rename(outside)
    inside.symlink_to(outside)
    with pytest.raises(IntegrityError, match=r"input_example\.json is a symbolic link"):
        load(str(tmp_path / "m"))


def test_manifest_naming_a_file_outside_is_refused_when_saving(tmp_path: Path) -> None:
    from cairn.models.manifest import Manifest, ModelFile
    from cairn.models.signature import Signature

    with pytest.raises(InvalidInput, match=r"options\.file '/etc/passwd' is an absolute path"):
        Manifest("sklearn", Signature(()), options={"file": "/etc/passwd"})
    with pytest.raises(InvalidInput, match=r"input_example 'x\.json' is not one of the model"):
        Manifest(
            "sklearn", Signature(()), files=(ModelFile("m", "0" * 64, 1),), input_example="x.json"
        )


def test_registering_a_crafted_folder_stores_nothing(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    root = workspace.root
    assert root is not None
    outside = _other_model(table, root / "other")
    save_model(pipeline, root / "m")
    _edit_manifest(root / "m", file=str(outside))
    with pytest.raises(InvalidInput, match=rf"options\.file '{outside}' is an absolute path"):
        cairn.registry.register(str(root / "m"), "churn")
    assert cairn.registry.list_models() == []


def test_stored_version_with_manifest_pointing_outside_refuses_to_load_and_serve(
    workspace: Workspace, table: tuple[pd.DataFrame, np.ndarray], pipeline: object
) -> None:
    """The attack end to end: a version is put in the store directly (past register's
    checks) whose manifest points at another model's file outside its folder. Before,
    loading read that file: predictions changed while the version's digest did not."""
    from cairn.serving.server import ServeConfig, build_app
    from cairn.store.registry import NewModelVersion

    X, _ = table
    root = workspace.root
    assert root is not None
    with cairn.start_run():
        info = cairn.log_model(pipeline, input_example=X.head(2), registered_name="churn")
    outside = _other_model(table, root / "other")
    crafted = root / "crafted"
    workspace.artifacts.checkout(info.digest, crafted)
    _edit_manifest(crafted, file=str(outside))
    stored = workspace.artifacts.put_tree(crafted)
    workspace.registry.create_version(
        NewModelVersion(name="churn", digest=stored.digest, flavor="sklearn", size=stored.size)
    )
    with pytest.raises(InvalidInput, match=rf"options\.file '{outside}' is an absolute path"):
        load("models:/churn/2")
    with pytest.raises(InvalidInput, match=r"options\.file .* is an absolute path"):
        build_app(ServeConfig("churn/2"))
    assert load("models:/churn/1").predict(X).tolist() == pipeline.predict(X).tolist()  # type: ignore[attr-defined]
