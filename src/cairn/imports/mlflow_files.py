"""Read an MLflow file store (an ``mlruns`` folder) without MLflow.

Layout: ``<experiment id>/meta.yaml``; per run ``<experiment>/<run>/meta.yaml`` with
``params/``, ``tags/`` and ``metrics/`` holding one file per key (a metric file has one
``timestamp value step`` line per point) and ``artifacts/``; MLflow 3 logged models in
``<experiment>/models/<model id>/``; the registry in ``models/<name>/meta.yaml``
(aliases there) with ``version-N/meta.yaml`` and ``tags/`` folders. Deleted experiments
sit in ``.trash/`` and are read from there.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from cairn.errors import InvalidInput
from cairn.imports.common import (
    SourceExperiment,
    SourceLoggedModel,
    SourceModel,
    SourceRun,
    SourceVersion,
)
from cairn.imports.local import local_tree
from cairn.imports.mlflow_status import run_status
from cairn.types import Metric


class MlflowFileSource:
    """The ``mlruns`` folder at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise InvalidInput(f"{root} is not a folder; give an MLflow mlruns folder")
        experiments = [p for p in self.root.iterdir() if (p / "meta.yaml").is_file()]
        if not experiments and not (self.root / "models").is_dir():
            raise InvalidInput(
                f"{root} is not an MLflow file store: no <experiment>/meta.yaml inside; "
                "give the mlruns folder MLflow wrote (or its sqlite:/// or http:// URI)"
            )
        for exp in experiments:
            meta = _yaml(exp / "meta.yaml")
            if "experiment_id" not in meta or "name" not in meta:
                raise InvalidInput(
                    f"{exp / 'meta.yaml'} is not an MLflow experiment record (no "
                    "experiment_id and name); is this an mlruns folder?"
                )

    def describe(self) -> str:
        return str(self.root)

    def close(self) -> None:
        pass

    def open_tree(self, uri: str) -> contextlib.AbstractContextManager[Path | None]:
        return local_tree(uri)

    def experiments(self) -> list[SourceExperiment]:
        found = []
        trash = self.root / ".trash"
        folders = sorted(self.root.iterdir())
        if trash.is_dir():
            folders += sorted(trash.iterdir())
        for path in folders:
            if path.name.startswith(".") or not (path / "meta.yaml").is_file():
                continue
            meta = _yaml(path / "meta.yaml")
            found.append(
                SourceExperiment.from_tags(
                    str(meta["experiment_id"]),
                    str(meta["name"]),
                    meta.get("lifecycle_stage") == "deleted",
                    _key_files(path / "tags"),
                )
            )
        return found

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        folder = self.root / experiment_id
        if not folder.is_dir():  # a deleted experiment
            folder = self.root / ".trash" / experiment_id
        metas = []
        for path in folder.iterdir():
            if path.name != "models" and (path / "meta.yaml").is_file():
                metas.append((path, _yaml(path / "meta.yaml")))
        metas.sort(key=lambda m: (int(m[1].get("start_time") or 0), m[0].name))
        for path, meta in metas:
            end = meta.get("end_time")
            yield SourceRun(
                id=str(meta.get("run_id") or meta.get("run_uuid") or path.name),
                experiment_id=experiment_id,
                name=str(meta.get("run_name") or ""),
                status=run_status(meta.get("status")),
                start_time=int(meta.get("start_time") or 0),
                end_time=None if end is None else int(end),
                deleted=meta.get("lifecycle_stage") == "deleted",
                params=_key_files(path / "params"),
                tags=_key_files(path / "tags"),
                metrics=tuple(_metrics(path / "metrics")),
                artifact_uri=str(meta.get("artifact_uri") or path / "artifacts"),
            )

    def logged_models(self, run: SourceRun) -> list[SourceLoggedModel]:
        folder = self.root / run.experiment_id / "models"
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
            meta = _yaml(path / "meta.yaml") if (path / "meta.yaml").is_file() else {}
            if meta.get("source_run_id") == run.id and meta.get("lifecycle_stage") != "deleted":
                found.append(
                    SourceLoggedModel(
                        str(meta.get("model_id") or path.name),
                        str(meta.get("name") or "model"),
                        str(meta.get("artifact_location") or path / "artifacts"),
                    )
                )
        return found

    def logged_model_uri(self, model_id: str) -> str | None:
        for meta_file in self.root.glob(f"*/models/{model_id}/meta.yaml"):
            location = _yaml(meta_file).get("artifact_location")
            return str(location or meta_file.parent / "artifacts")
        return None

    def models(self) -> list[SourceModel]:
        folder = self.root / "models"
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
            if not (path / "meta.yaml").is_file():
                continue
            meta = _yaml(path / "meta.yaml")
            aliases = {str(a): int(v) for a, v in (meta.get("aliases") or {}).items()}
            versions = []
            for vpath in path.glob("version-*"):
                vmeta = _yaml(vpath / "meta.yaml") if (vpath / "meta.yaml").is_file() else {}
                if not vmeta or vmeta.get("current_stage") == "Deleted_Internal":
                    continue
                versions.append(
                    SourceVersion(
                        name=str(meta["name"]),
                        version=int(vmeta["version"]),
                        source=str(vmeta.get("source") or ""),
                        run_id=vmeta.get("run_id") or None,
                        stage=str(vmeta.get("current_stage") or "None"),
                        description=str(vmeta.get("description") or ""),
                        tags=_key_files(vpath / "tags"),
                        created_at=int(vmeta.get("creation_timestamp") or 0),
                        user=str(vmeta.get("user_id") or ""),
                        storage_location=str(vmeta.get("storage_location") or ""),
                    )
                )
            versions.sort(key=lambda v: v.version)
            found.append(
                SourceModel(
                    name=str(meta["name"]),
                    description=str(meta.get("description") or ""),
                    tags=_key_files(path / "tags"),
                    aliases=aliases,
                    versions=tuple(versions),
                )
            )
        return found


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read MLflow record {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not an MLflow record (not a YAML mapping)")
    return data


def _key_files(folder: Path) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (keys with ``/`` are sub-folders)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _metrics(folder: Path) -> Iterator[Metric]:
    if not folder.is_dir():
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(folder).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                ts, value = int(parts[0]), float(parts[1])
                step_ = int(parts[2]) if len(parts) > 2 else 0
            except (ValueError, IndexError):
                raise InvalidInput(
                    f"{path}:{number}: {line!r} is not an MLflow metric line "
                    "(timestamp value step); fix or remove the line and import again"
                ) from None
            yield Metric(key, value if not math.isnan(value) else math.nan, step_, ts)
