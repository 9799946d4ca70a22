"""``cairn import mlflow``: bring an MLflow tracking store into a Cairn workspace.

The source is an MLflow database (``sqlite:///mlflow.db``, ``postgresql://...``), an
``mlruns`` folder or a live server (``http://host:5000``), read without MLflow installed.
Experiments map by name; each run becomes a Cairn run with its params, tags, every metric
point (steps and timestamps kept), status, start and end times, and its artifacts stored
by digest and attached as the run's outputs, like Cairn's own logged artifacts. The
registry follows (:mod:`cairn.imports.mlflow_registry`).

Idempotent and resumable: every imported run carries ``mlflow.run_id`` and
``mlflow.import``, which reads ``partial`` until the run's last record is written and
``complete`` after. A rerun skips complete runs and finishes partial ones (a run cut
short by a kill), logging only the metric points not already there, so nothing is
doubled. The source is opened and checked before anything is written: a path that is not
an MLflow store, or a schema this importer does not know, fails with nothing imported.

Example:
    >>> summary = import_mlflow("sqlite:///mlflow.db")  # doctest: +SKIP
    >>> summary["runs imported"]  # doctest: +SKIP
    42
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cairn.errors import InvalidInput, NotFound
from cairn.imports.common import (
    ImportSummary,
    Progress,
    SourceExperiment,
    SourceLoggedModel,
    SourceModel,
    SourceRun,
    fit_strings,
    step,
)
from cairn.types import Metric, Run, RunIO

if TYPE_CHECKING:
    from cairn.workspace import Workspace

#: Tag naming the MLflow run a Cairn run was imported from.
RUN_TAG = "mlflow.run_id"
#: ``partial`` while a run's records are being written, ``complete`` once all are.
MARK = "mlflow.import"
#: Artifact holding params and tags whose key or value Cairn's limits refuse.
OVERSIZED = "mlflow-oversized.json"
BATCH = 5000


class MlflowSource(Protocol):
    """What the importer reads; one implementation per kind of MLflow store."""

    def describe(self) -> str: ...
    def experiments(self) -> list[SourceExperiment]: ...
    def runs(self, experiment_id: str) -> Iterator[SourceRun]: ...
    def logged_models(self, run: SourceRun) -> list[SourceLoggedModel]: ...
    def logged_model_uri(self, model_id: str) -> str | None: ...
    def models(self) -> list[SourceModel]: ...
    def open_tree(self, uri: str) -> contextlib.AbstractContextManager[Path | None]: ...
    def close(self) -> None: ...


def open_source(location: str) -> MlflowSource:
    """The reader for ``location``; ``InvalidInput`` if it is not an MLflow store."""
    if location.startswith(("http://", "https://")):
        from cairn.imports.mlflow_rest import MlflowRestSource

        return MlflowRestSource(location)
    if location.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        from cairn.imports.mlflow_sql import MlflowSqlSource

        return MlflowSqlSource(location)
    from cairn.imports.local import local_path
    from cairn.imports.mlflow_files import MlflowFileSource

    path = local_path(location)
    if path is None:
        raise InvalidInput(
            f"cannot read an MLflow store at {location!r}: give sqlite:///mlflow.db, "
            "postgresql://..., an mlruns folder or http://mlflow-host:5000"
        )
    if path.is_file():
        raise InvalidInput(
            f"{location} is a file; for an MLflow SQLite database write sqlite:///{path}"
        )
    return MlflowFileSource(path)


def import_mlflow(
    location: str,
    *,
    experiments: Sequence[str] = (),
    workspace: Workspace | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import the MLflow store at ``location`` (only ``experiments``, by name, if given)."""
    from cairn.imports.mlflow_registry import import_models
    from cairn.workspace import resolve

    ws = resolve(workspace)
    source = open_source(location)
    try:
        summary = ImportSummary()
        chosen = _choose(source.experiments(), experiments, summary)
        ws.metadata.ensure_schema()  # a workspace behind this Cairn fails before any write
        imported: dict[str, str] = {}  # MLflow run id -> Cairn run id
        artifact_uris: dict[str, str] = {}
        for exp in chosen:
            _import_experiment(ws, source, exp, imported, artifact_uris, summary, progress)
        import_models(
            ws,
            source,
            imported,
            artifact_uris,
            summary,
            only_imported_runs=bool(experiments),
            progress=progress,
        )
        return summary
    finally:
        source.close()


#: Who the store records as restoring and deleting experiments during an import.
IMPORT_ACTOR = "cairn import"


def _choose(
    found: list[SourceExperiment], names: Sequence[str], summary: ImportSummary
) -> list[SourceExperiment]:
    if names:
        by_name = {e.name: e for e in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            known = ", ".join(sorted(by_name)) or "none"
            raise InvalidInput(
                f"no MLflow experiment named {', '.join(map(repr, missing))}; "
                f"the store has: {known}"
            )
        return [by_name[n] for n in dict.fromkeys(names)]
    return found


def _import_experiment(
    ws: Workspace,
    source: MlflowSource,
    exp: SourceExperiment,
    imported: dict[str, str],
    artifact_uris: dict[str, str],
    summary: ImportSummary,
    progress: Progress | None,
) -> None:
    tracking = ws.tracking
    tags, _ = fit_strings("tag", exp.tags)
    try:
        target = tracking.get_experiment(exp.name)
    except NotFound:
        target = tracking.create_experiment(exp.name, exp.description, tags)
        summary.add("experiments created")
    for key, value in tags.items():  # a re-import carries tags set since
        if target.tags.get(key) != value:
            tracking.set_experiment_tag(target.id, key, value)
    existing = _imported_runs(ws, target.id)
    runs = [r for r in source.runs(exp.id)]
    if not exp.deleted:
        deleted = sum(r.deleted for r in runs)
        if deleted:
            summary.add("runs skipped (deleted in MLflow)", deleted)
        runs = [r for r in runs if not r.deleted]
    # MLflow deletes every run of an experiment it deletes, and its restore brings them
    # all back: in Cairn they are live runs of the deleted experiment, hidden with it.
    # The experiment takes runs only while live, so it is deleted again after them.
    if target.is_deleted:
        target = tracking.restore_experiment(target.id, actor=IMPORT_ACTOR)
    runs = _parents_first(runs)
    with step(progress, f"runs of {exp.name}", len(runs)) as advance:
        for run in runs:
            artifact_uris[run.id] = run.artifact_uri
            imported[run.id] = _import_run(
                ws, source, target.id, run, existing.get(run.id), imported, summary
            )
            advance(1)
    if exp.deleted:
        tracking.delete_experiment(target.id, actor=IMPORT_ACTOR)
        summary.add("experiments imported as deleted (as in MLflow)")


def _imported_runs(ws: Workspace, experiment_id: str) -> dict[str, Run]:
    """Runs of the Cairn experiment imported before, by MLflow run id."""
    found: dict[str, Run] = {}
    token: str | None = None
    while True:
        page = ws.tracking.search_runs(
            [experiment_id], max_results=1000, page_token=token, view="all"
        )
        for run in page.items:
            source_id = run.tags.get(RUN_TAG)
            if source_id:
                found[source_id] = run
        token = page.next_token
        if not token:
            return found


def _parents_first(runs: list[SourceRun]) -> list[SourceRun]:
    """Runs ordered so a parent comes before its children (nesting depth, then time)."""
    by_id = {r.id: r for r in runs}

    def depth(run: SourceRun) -> int:
        seen = {run.id}
        n = 0
        while run.parent_id in by_id and run.parent_id not in seen:
            run = by_id[run.parent_id]
            seen.add(run.id)
            n += 1
        return n

    return sorted(runs, key=depth)  # stable: time order within a depth


def _import_run(
    ws: Workspace,
    source: MlflowSource,
    experiment_id: str,
    run: SourceRun,
    prior: Run | None,
    imported: Mapping[str, str],
    summary: ImportSummary,
) -> str:
    """Write one run; returns its Cairn id. The ``complete`` mark is written last."""
    tracking = ws.tracking
    if prior is not None and prior.tags.get(MARK) == "complete":
        summary.add("runs already imported")
        return prior.id
    params, oversized = fit_strings("param", run.params)
    tags, oversized_tags = fit_strings("tag", run.tags)
    oversized.update({f"tag:{k}": v for k, v in oversized_tags.items()})
    tags.update({RUN_TAG: run.id, MARK: "partial"})
    have: Counter[tuple[str, int, int, float | str]] = Counter()
    if prior is None:
        parent = imported.get(run.parent_id) if run.parent_id else None
        run_id = tracking.create_run(
            experiment_id,
            name=run.name,
            parent_id=parent,
            start_time=run.start_time,
            params=params,
            tags=tags,
        ).id
    else:  # cut short before: keep what is there, add only what is missing
        run_id = prior.id
        tracking.log_batch(run_id, params=params, tags=tags)
        for key in {m.key for m in run.metrics}:
            have.update(_point(m) for m in tracking.get_metric_history(run_id, key))
        summary.add("runs resumed")
    todo = []
    for m in run.metrics:
        if have[_point(m)] > 0:
            have[_point(m)] -= 1
        else:
            todo.append(m)
    for start in range(0, len(todo), BATCH):
        tracking.log_batch(run_id, todo[start : start + BATCH])
    summary.add("metric points", len(todo))
    items = _artifacts(ws, source, run, oversized, summary)
    if items:
        tracking.log_io(run_id, items)
    if run.status.is_terminal:
        end = run.end_time if run.end_time is not None else run.start_time
        tracking.end_run(run_id, run.status, end_time=max(end, 0))
    tracking.log_batch(run_id, tags={MARK: "complete"})
    if prior is None:
        summary.add("runs imported")
    return run_id


def _point(m: Metric) -> tuple[str, int, int, float | str]:
    # NaN != NaN: a stand-in lets a resumed run match the NaN points it already has.
    return (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)


def _artifacts(
    ws: Workspace,
    source: MlflowSource,
    run: SourceRun,
    oversized: Mapping[str, str],
    summary: ImportSummary,
) -> list[RunIO]:
    """Store the run's artifacts and logged models by digest; their lineage edges."""
    from cairn.tracking.client import artifact_name

    items: list[RunIO] = []
    with source.open_tree(run.artifact_uri) as folder:
        if folder is None and run.artifact_uri:
            summary.add("runs with unreadable artifacts")
            if summary["runs with unreadable artifacts"] == 1:
                summary.note(
                    f"artifacts at {run.artifact_uri} (and others like it) are not "
                    "reachable from here; those runs were imported without them"
                )
        elif folder is not None and folder.is_dir():  # a missing folder: nothing logged
            for entry in sorted(folder.iterdir()):
                info = ws.artifacts.put(entry)
                name = artifact_name(entry.name)
                items.append(RunIO("output", "artifact", name, info.digest, info.kind, info.size))
    names = {i.name for i in items}
    for model in source.logged_models(run):
        with source.open_tree(model.artifact_uri) as folder:
            if folder is None or not folder.is_dir():
                continue
            info = ws.artifacts.put(folder)
        name = model.name if model.name not in names else f"{model.name}-{model.id}"
        names.add(name)
        items.append(RunIO("output", "artifact", name, info.digest, info.kind, info.size))
    if oversized:
        data = json.dumps(dict(oversized), sort_keys=True, indent=1).encode()
        info = ws.artifacts.put_bytes(data)
        items.append(RunIO("output", "artifact", OVERSIZED, info.digest, "file", info.size))
        summary.add("runs with oversized params or tags kept as an artifact")
    summary.add("artifacts", len(items))
    return items
