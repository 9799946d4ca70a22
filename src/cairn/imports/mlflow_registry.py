"""The registry half of ``cairn import mlflow``: registered models, versions, aliases.

Each MLflow version becomes a Cairn version of the model with the same name: its model
files are stored by digest (the tree MLflow keeps for it), its source run is linked to
the imported Cairn run, and tags record ``mlflow.model``, ``mlflow.version`` and
``mlflow.stage``. MLflow models are not a Cairn flavor, so the version's flavor is
``mlflow`` and its files stay an artifact tree (a ``cairn.note`` tag says so):
``cairn models checkout`` and the artifact commands reach them; ``cairn serve`` does not.

Aliases carry over as they are. Stages map to aliases: ``Production`` to
``production`` and ``Staging`` to ``staging`` (the highest version in the stage wins;
an MLflow alias of the same name wins over a stage); an ``Archived`` version is archived
unless an alias points at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.imports.common import (
    ImportSummary,
    Progress,
    SourceModel,
    SourceVersion,
    fit_strings,
    step,
)
from cairn.store.registry import NewModelVersion, check_alias, check_model_name

if TYPE_CHECKING:
    from cairn.imports.mlflow import MlflowSource
    from cairn.workspace import Workspace

FLAVOR = "mlflow"
NOTE = (
    "imported from MLflow: not a Cairn flavor, stored as an artifact tree; "
    "load it with MLflow, or re-log it with cairn.log_model to serve it with Cairn"
)
STAGE_ALIASES = {"Staging": "staging", "Production": "production"}
ACTOR = "cairn import mlflow"


def import_models(
    ws: Workspace,
    source: MlflowSource,
    imported: Mapping[str, str],
    artifact_uris: Mapping[str, str],
    summary: ImportSummary,
    *,
    only_imported_runs: bool,
    progress: Progress | None,
) -> None:
    """Import every registered model (only versions of imported runs, if restricted)."""
    models = source.models()
    with step(progress, "registered models", len(models)) as advance:
        for model in models:
            versions = [v for v in model.versions if not only_imported_runs or v.run_id in imported]
            if versions or not only_imported_runs:
                _import_model(ws, source, model, versions, imported, artifact_uris, summary)
            advance(1)


def _import_model(
    ws: Workspace,
    source: MlflowSource,
    model: SourceModel,
    versions: list[SourceVersion],
    imported: Mapping[str, str],
    artifact_uris: Mapping[str, str],
    summary: ImportSummary,
) -> None:
    registry = ws.registry
    try:
        check_model_name(model.name)
    except InvalidInput as exc:
        summary.add("registered models skipped (name Cairn refuses)")
        summary.note(str(exc))
        return
    try:
        registry.get_model(model.name)
    except NotFound:
        try:
            registry.create_model(model.name, model.description, _fit(model.tags))
            summary.add("registered models created")
        except AlreadyExists:  # created meanwhile by someone else: fine, versions follow
            pass
    done = {
        v.tags["mlflow.version"]: v.version
        for v in registry.list_versions(model.name)
        if v.tags.get("mlflow.model") == model.name and "mlflow.version" in v.tags
    }
    mapping: dict[int, int] = {}
    for version in versions:
        if str(version.version) in done:
            mapping[version.version] = done[str(version.version)]
            summary.add("model versions already imported")
            continue
        number = _import_version(ws, source, version, imported, artifact_uris, summary)
        if number is not None:
            mapping[version.version] = number
    _aliases(ws, model, versions, mapping, summary)


def _import_version(
    ws: Workspace,
    source: MlflowSource,
    version: SourceVersion,
    imported: Mapping[str, str],
    artifact_uris: Mapping[str, str],
    summary: ImportSummary,
) -> int | None:
    uri = _files_uri(source, version, artifact_uris)
    with source.open_tree(uri or "") as folder:
        if folder is None or not folder.is_dir() or not any(folder.iterdir()):
            summary.add("model versions skipped (files not found)")
            summary.note(
                f"{version.name} version {version.version}: model files at "
                f"{uri or version.source!r} are not reachable from here; not imported"
            )
            return None
        info = ws.artifacts.put(folder)
        flavors = _flavors(folder)
    tags = {
        **_fit(version.tags),
        "mlflow.model": version.name,
        "mlflow.version": str(version.version),
        "mlflow.stage": version.stage,
        "mlflow.flavors": ",".join(flavors),
        "cairn.note": NOTE,
    }
    if version.run_id and version.run_id not in imported:
        tags["mlflow.run_id"] = version.run_id  # the run was not imported: keep its id
    created = ws.registry.create_version(
        NewModelVersion(
            name=version.name,
            digest=info.digest,
            flavor=FLAVOR,
            source=version.source or uri or "",
            run_id=imported.get(version.run_id or ""),
            size=info.size,
            description=version.description,
            tags=tags,
            created_by=version.user,
        )
    )
    summary.add("model versions imported")
    return created.version


def _files_uri(
    source: MlflowSource, version: SourceVersion, artifact_uris: Mapping[str, str]
) -> str | None:
    """Where the version's model files are: MLflow 3 records ``storage_location``;
    older versions name a ``runs:/<id>/<path>`` source or a path."""
    if version.storage_location:
        return version.storage_location
    src = version.source
    if src.startswith("models:/m-"):
        return source.logged_model_uri(src.removeprefix("models:/").split("/", 1)[0])
    if src.startswith("runs:/"):
        run_id, _, path = src.removeprefix("runs:/").partition("/")
        base = artifact_uris.get(run_id)
        return f"{base.rstrip('/')}/{path}" if base else None
    return src or None


def _flavors(folder: Path) -> list[str]:
    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    return sorted(flavors) if isinstance(flavors, dict) else []


def _aliases(
    ws: Workspace,
    model: SourceModel,
    versions: list[SourceVersion],
    mapping: Mapping[int, int],
    summary: ImportSummary,
) -> None:
    registry = ws.registry
    targets: dict[str, int] = {}
    for version in versions:  # oldest first: the highest version in a stage wins
        alias = STAGE_ALIASES.get(version.stage)
        if alias:
            targets[alias] = version.version
    targets.update(model.aliases)
    pointed = set()
    for alias, mlflow_version in sorted(targets.items()):
        number = mapping.get(mlflow_version)
        if number is None:
            continue
        try:
            check_alias(alias)
        except InvalidInput as exc:
            summary.note(f"{model.name}: alias not set: {exc}")
            continue
        pointed.add(number)
        if registry.get_alias(model.name, alias) == number:
            continue
        registry.set_alias(model.name, alias, number, actor=ACTOR, reason="imported from MLflow")
        summary.add("aliases set")
    for version in versions:
        number = mapping.get(version.version)
        if version.stage != "Archived" or number is None:
            continue
        if number in pointed:
            summary.note(
                f"{model.name}/{number} is Archived in MLflow but an alias points at it; left READY"
            )
        elif registry.get_version(model.name, number).status != "ARCHIVED":
            registry.update_version(model.name, number, status="ARCHIVED")
            summary.add("model versions archived")


def _fit(values: Mapping[str, str]) -> dict[str, str]:
    return fit_strings("tag", values)[0]
