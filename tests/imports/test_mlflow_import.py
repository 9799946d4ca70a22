"""``cairn import mlflow`` on stores the real MLflow client wrote: a SQLite database, an
``mlruns`` folder and a live ``mlflow server``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from import_helpers import Store

import cairn.workspace
from cairn.imports.mlflow import MARK, RUN_TAG, import_mlflow
from cairn.types import Run

Workspace = cairn.workspace.Workspace


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def imported_runs(ws: Workspace) -> dict[str, Run]:
    runs = ws.tracking.search_runs(max_results=1000, view="all").items
    return {r.tags[RUN_TAG]: r for r in runs}


def test_import_keeps_runs_histories_artifacts_and_models(
    workspace: Workspace, store: Store
) -> None:
    summary = import_mlflow(store.location, workspace=workspace)
    runs = imported_runs(workspace)
    written = store.written
    assert len(runs) == len(written["runs"]) + 3  # the parent, child and retired too
    for mlflow_id, expected in written["runs"].items():
        run = runs[mlflow_id]
        assert run.name == expected["name"]
        assert str(run.status) == expected["status"]
        assert (run.start_time, run.end_time) == (expected["start_time"], expected["end_time"])
        assert dict(run.params) == expected["params"]
        assert run.tags["owner"] == "ana" and run.tags[MARK] == "complete"
        history = workspace.tracking.get_metric_history(run.id, "loss")
        got = sorted((m.step, m.timestamp, m.value) for m in history)
        # the file store holds a repeated point MLflow itself wrote; every point is kept
        assert set(got) == {tuple(p) for p in expected["loss"]}
        assert len(got) >= len(expected["loss"])
        assert workspace.tracking.get_experiment(expected["experiment"]).id == run.experiment_id
        outputs = {o.name: o for o in run.outputs}
        assert workspace.artifacts.read_bytes(outputs["report.txt"].digest) == (
            f"report {expected['name'][-1]}\n".encode()
        )
        assert outputs["plots"].kind == "tree"
    child = runs[written["child"]]
    assert child.parent_id == runs[written["parent"]].id
    versions = workspace.registry.list_versions("churn-model")
    assert [v.tags["mlflow.version"] for v in versions] == ["1", "2"]
    for v in versions:
        assert v.run_id == runs[written["models"][v.tags["mlflow.version"]]].id
        assert v.flavor == "mlflow" and "not a Cairn flavor" in v.tags["cairn.note"]
        files = {e.path for e in workspace.artifacts.read_tree(v.digest)}
        assert {"MLmodel", "model.skops"} <= files
    model = workspace.registry.get_model("churn-model")
    assert model.description == "churn classifier"
    assert dict(model.aliases) == {"champion": 1, "staging": 2}
    assert summary["runs imported"] == len(runs)


def test_experiment_tags_descriptions_and_deletion_come_along(
    workspace: Workspace, store: Store
) -> None:
    summary = import_mlflow(store.location, workspace=workspace)
    tracking = workspace.tracking
    assert tracking.get_experiment("churn").tags == {"team": "growth"}
    retired = tracking.get_experiment("retired")
    assert retired.is_deleted and retired.description == "old baseline"
    assert retired.tags == {"team": "core", "why": "superseded"}
    assert summary["experiments imported as deleted (as in MLflow)"] == 1
    # Its run came along, hidden with it, and comes back when it is restored.
    baseline = imported_runs(workspace)[store.written["retired"]]
    assert baseline.experiment_id == retired.id and dict(baseline.params) == {"lr": "0.5"}
    assert baseline.id not in {r.id for r in tracking.search_runs().items}
    tracking.restore_experiment("retired", actor="ana")
    assert baseline.id in {r.id for r in tracking.search_runs().items}


def snapshot(ws: Workspace) -> dict[str, Any]:
    runs = imported_runs(ws)
    return {
        "runs": len(ws.tracking.search_runs(max_results=1000, view="all").items),
        "points": {
            k: [
                (m.step, m.timestamp, m.value) for m in ws.tracking.get_metric_history(r.id, "loss")
            ]
            for k, r in runs.items()
        },
        "io": {k: sorted((o.name, o.digest) for o in r.io) for k, r in runs.items()},
        "versions": [v.digest for v in ws.registry.list_versions("churn-model")],
        "aliases": ws.registry.alias_history("churn-model"),
    }


def test_a_second_import_doubles_nothing(workspace: Workspace, sqlite_store: Store) -> None:
    import_mlflow(sqlite_store.location, workspace=workspace)
    before = snapshot(workspace)
    again = import_mlflow(sqlite_store.location, workspace=workspace)
    assert snapshot(workspace) == before
    assert again["runs imported"] == 0 and again["model versions imported"] == 0
    assert again["runs already imported"] == before["runs"]


class Crash(BaseException):
    """Stands in for the process dying (kill -9) between two writes."""


def test_an_import_cut_short_midway_is_completed_without_doubles(
    workspace: Workspace, sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = Workspace.init(tmp_path / "reference")
    import_mlflow(sqlite_store.location, workspace=reference)
    # The attack: the import dies after the second run's first metric batch is written,
    # before its artifacts, its end and its completion mark.
    tracking = workspace.tracking
    real = tracking.log_batch
    calls = {"metrics": 0}

    def dying(run_id: str, metrics: Any = (), params: Any = None, tags: Any = None) -> None:
        real(run_id, metrics, params, tags)
        if metrics:
            calls["metrics"] += 1
            if calls["metrics"] == 2:
                raise Crash

    monkeypatch.setattr(tracking, "log_batch", dying)
    with pytest.raises(Crash):
        import_mlflow(sqlite_store.location, workspace=workspace)
    monkeypatch.setattr(tracking, "log_batch", real)
    partial = [r for r in imported_runs(workspace).values() if r.tags[MARK] == "partial"]
    assert len(partial) == 1 and partial[0].status == "RUNNING"

    summary = import_mlflow(sqlite_store.location, workspace=workspace)
    assert summary["runs resumed"] == 1
    got, want = snapshot(workspace), snapshot(reference)
    assert got["runs"] == want["runs"]
    assert got["points"] == want["points"]
    assert got["io"] == want["io"]
    assert got["versions"] == want["versions"]
    assert all(r.tags[MARK] == "complete" for r in imported_runs(workspace).values())


def test_cli_prints_a_summary_and_the_registry_follows(
    workspace: Workspace, file_store: Store
) -> None:
    done = cli("import", "mlflow", "--from", file_store.location, "-e", "churn", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    assert "runs imported: 2" in done.stdout
    assert "model versions imported: 2" in done.stdout
    assert done.stderr == ""  # piped: no progress bar


def nothing_imported(ws: Workspace) -> bool:
    cairn.workspace.reset()
    return (
        ws.tracking.search_runs(max_results=10, view="all").items == ()
        and {e.name for e in ws.tracking.list_experiments()} <= {"Default"}
        and ws.registry.list_models() == []
    )


def test_a_folder_that_is_not_an_mlflow_store_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    done = cli("import", "mlflow", "--from", str(folder), cwd=workspace.root)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "is not an MLflow file store" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert nothing_imported(workspace)


def test_a_database_of_an_unknown_schema_is_refused_with_its_revision(
    workspace: Workspace, sqlite_store: Store, tmp_path: Path
) -> None:
    # A crafted database: MLflow's tables, but a revision whose runs lack a needed column.
    crafted = tmp_path / "future.db"
    source = sqlite3.connect(sqlite_store.location.removeprefix("sqlite:///"))
    source.backup(target := sqlite3.connect(crafted))
    source.close()
    target.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    target.execute("ALTER TABLE runs RENAME COLUMN lifecycle_stage TO stage")
    target.commit()
    target.close()
    done = cli("import", "mlflow", "--from", f"sqlite:///{crafted}", cwd=workspace.root)
    assert done.returncode == 1
    assert f"schema revision 'f00dfeedbeef' of sqlite:///{crafted}" in done.stderr
    assert "table runs lacks lifecycle_stage" in done.stderr
    assert "mlflow db upgrade" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert nothing_imported(workspace)


def test_a_sqlite_file_that_is_not_mlflow_is_refused_and_left_untouched(
    workspace: Workspace, tmp_path: Path
) -> None:
    other = tmp_path / "app.db"
    sqlite3.connect(other).execute("CREATE TABLE users (id INTEGER)").connection.commit()
    before = other.read_bytes()
    done = cli("import", "mlflow", "--from", f"sqlite:///{other}", cwd=workspace.root)
    assert done.returncode == 1
    assert "is not an MLflow tracking database" in done.stderr
    assert other.read_bytes() == before
    missing = cli(
        "import", "mlflow", "--from", f"sqlite:///{tmp_path / 'nope.db'}", cwd=workspace.root
    )
    assert missing.returncode == 1 and "no such SQLite file" in missing.stderr
    assert not (tmp_path / "nope.db").exists()  # not created by the attempt
    assert nothing_imported(workspace)


def test_an_unknown_experiment_name_is_refused_before_anything_is_written(
    workspace: Workspace, sqlite_store: Store
) -> None:
    done = cli(
        "import", "mlflow", "--from", sqlite_store.location, "-e", "nope", cwd=workspace.root
    )
    assert done.returncode == 1
    assert "no MLflow experiment named 'nope'" in done.stderr and "churn" in done.stderr
    assert nothing_imported(workspace)
