"""Schema versions: new databases start at head, old ones must be upgraded, and the
migrations build exactly the tables the code describes."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import pkgutil
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import cairn.store.sql
from cairn.errors import InUse, StoreError
from cairn.store import open_metadata
from cairn.store.sql import migrations
from cairn.store.sql.database import SqlDatabase, make_engine
from cairn.types import Metric

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture
def new_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of URIs of new, empty databases on the backend under test."""
    count = itertools.count()

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'db{next(count)}.sqlite'}"
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{server}/{name}"

    return make


pytestmark = pytest.mark.parametrize("new_uri", BACKENDS, indirect=True)


def _frozen(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


# The tracking tables as 0001-0007 wrote them (keyed by the run's id), for data an older
# Cairn recorded: the live table modules describe head, not these.
OLD = {
    "experiments": _frozen("experiments", "id", "name", "description", "created_at"),
    "runs": _frozen(
        "runs", "id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id",
        "git_commit", "git_dirty", "python_version", "packages", "host", "user", "deleted_at",
        "deleted_by",
    ),
    "params": _frozen("params", "run_id", "key", "value"),
    "tags": _frozen("tags", "run_id", "key", "value"),
    "metrics": _frozen("metrics", "id", "run_id", "key", "value", "step", "timestamp"),
    "latest_metrics": _frozen("latest_metrics", "run_id", "key", "value", "step", "timestamp"),
    "run_io": _frozen(
        "run_io", "run_id", "direction", "name", "role", "digest", "kind", "size"
    ),
    "run_events": _frozen("run_events", "run_id", "action", "actor", "created_at", "detail"),
}  # fmt: skip


def _table_modules() -> list[str]:
    """Every ``cairn.store.sql.tables*`` module: one per domain."""
    return sorted(
        f"cairn.store.sql.{m.name}"
        for m in pkgutil.iter_modules(cairn.store.sql.__path__)
        if m.name.startswith("tables")
    )


def _metadata_of(module_name: str) -> sa.MetaData:
    module = importlib.import_module(module_name)
    found = [v for v in vars(module).values() if isinstance(v, sa.MetaData)]
    assert len(found) == 1, f"{module_name} should define one MetaData"
    return found[0]


def _where(index: Any) -> str:
    """The condition of a partial index, normalised, or "" for a full one."""
    options = index.get("dialect_options") or {}
    where = options.get("sqlite_where", options.get("postgresql_where"))
    return "" if where is None else " ".join(str(where).lower().strip("()").split())


def _schema(engine: sa.Engine, tables: list[str]) -> dict[str, Any]:
    """What the database says about ``tables``: columns, keys, indexes, foreign keys."""
    inspector = sa.inspect(engine)
    schema: dict[str, Any] = {}
    for name in tables:
        schema[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]), _where(i))
                for i in inspector.get_indexes(name)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str((f.get("options") or {}).get("ondelete")),
                )
                for f in inspector.get_foreign_keys(name)
            ),
        }
    return schema


def test_a_new_database_is_created_at_head(new_uri: Callable[[], str]) -> None:
    db = open_metadata(new_uri(), create=True)
    assert db.tracking.list_experiments() == []
    assert db.current_revision() == migrations.head()
    db.close()


@pytest.mark.parametrize("module_name", _table_modules())
def test_migrations_build_the_tables_the_code_describes(
    new_uri: Callable[[], str], module_name: str
) -> None:
    metadata = _metadata_of(module_name)
    migrated = SqlDatabase(new_uri(), create=True)
    migrated.upgrade()
    declared = make_engine(new_uri())
    # Tables of other domains that these reference must exist for create_all.
    for other in _table_modules():
        _metadata_of(other).create_all(declared)
    names = sorted(metadata.tables)
    try:
        assert set(names) <= set(sa.inspect(migrated.engine).get_table_names())
        assert _schema(migrated.engine, names) == _schema(declared, names)
    finally:
        migrated.close()
        declared.dispose()


@pytest.mark.skipif(len(migrations.revisions()) < 2, reason="needs a revision after 0001")
def test_a_database_behind_head_is_refused_until_upgraded(new_uri: Callable[[], str]) -> None:
    uri = new_uri()
    old = SqlDatabase(uri, create=True)
    old.upgrade("0001")
    with old.engine.begin() as conn:  # data written by the older Cairn
        conn.execute(OLD["experiments"].insert().values(name="kept", created_at=1))
    old.close()

    db = open_metadata(uri)
    with pytest.raises(StoreError, match=r"at schema 0001.*run `cairn db upgrade`"):
        db.tracking.list_experiments()
    before, after = db.upgrade()
    assert (before, after) == ("0001", migrations.head())
    assert db.tracking.get_experiment("kept").name == "kept"
    db.close()


def test_a_database_from_a_newer_cairn_is_refused(new_uri: Callable[[], str]) -> None:
    uri = new_uri()
    db = open_metadata(uri, create=True)
    db.ensure_schema()
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    db.close()
    newer = open_metadata(uri)
    try:
        with pytest.raises(StoreError, match=r"'9999', unknown to this Cairn.*upgrade Cairn"):
            newer.tracking.get_experiment("x")
    finally:
        newer.close()


def test_upgrading_to_run_lifecycle_keeps_every_run_live(new_uri: Callable[[], str]) -> None:
    # Runs recorded before soft deletes existed must come out of the upgrade as live runs,
    # with everything recorded on them, and take part in the lifecycle from then on.
    uri = new_uri()
    old = SqlDatabase(uri, create=True)
    old.upgrade("0003")
    runs = OLD["runs"]
    with old.engine.begin() as conn:
        conn.execute(OLD["experiments"].insert().values(name="kept", created_at=1))
        for run_id, parent in (("a" * 32, None), ("b" * 32, "a" * 32)):
            conn.execute(
                sa.insert(runs).values(
                    id=run_id, experiment_id=1, name=run_id[:4], status="FINISHED",
                    start_time=5, parent_id=parent,
                )
            )  # fmt: skip
        conn.execute(OLD["params"].insert().values(run_id="a" * 32, key="p", value="1"))
    old.close()

    db = open_metadata(uri)
    try:
        assert db.upgrade() == ("0003", migrations.head())
        store = db.tracking
        assert sorted(r.id for r in store.search_runs().items) == ["a" * 32, "b" * 32]
        before = store.get_run("a" * 32)
        assert (before.deleted_at, before.deleted_by, before.params) == (None, None, {"p": "1"})
        with pytest.raises(InUse, match="child run"):
            store.delete_run("a" * 32, actor="ana")
        store.delete_run("b" * 32, actor="ana")
        assert [r.id for r in store.search_runs().items] == ["a" * 32]
        assert [e.action for e in store.run_events("b" * 32)] == ["delete"]
    finally:
        db.close()


def test_a_database_without_the_schema_is_refused_not_filled(new_uri: Callable[[], str]) -> None:
    # A URI pointing at the wrong (empty) database must not quietly become a workspace
    # with no runs; only init (create=True) or an explicit upgrade creates the tables.
    uri = new_uri()
    if uri.startswith("sqlite"):
        Path(uri.removeprefix("sqlite:///")).write_bytes(b"")
    db = open_metadata(uri)
    try:
        with pytest.raises(StoreError, match=r"holds no Cairn schema.*`cairn db upgrade`"):
            db.tracking.list_experiments()
        assert db.current_revision() is None  # nothing was created
        assert db.upgrade() == (None, migrations.head())
        assert db.tracking.list_experiments() == []
    finally:
        db.close()


def test_upgrading_a_populated_0004_store_keeps_live_and_deleted_runs_apart(
    new_uri: Callable[[], str],
) -> None:
    # 0007 swaps the index on runs.deleted_at for a partial one: every run, live or
    # soft-deleted, and everything recorded on it must come through, and both views must
    # still split them the same way.
    uri = new_uri()
    old = SqlDatabase(uri, create=True)
    old.upgrade("0004")
    with old.engine.begin() as conn:
        conn.execute(OLD["experiments"].insert().values(name="kept", created_at=1))
        for i in range(30):
            conn.execute(
                sa.insert(OLD["runs"]).values(
                    id=f"{i:032x}", experiment_id=1, name=f"r{i}", status="FINISHED",
                    start_time=100 + i, deleted_at=500 if i % 3 == 0 else None,
                    deleted_by="ana" if i % 3 == 0 else None,
                )
            )  # fmt: skip
            conn.execute(OLD["params"].insert().values(run_id=f"{i:032x}", key="p", value=str(i)))
            conn.execute(
                OLD["latest_metrics"]
                .insert()
                .values(run_id=f"{i:032x}", key="acc", value=i / 30, step=0, timestamp=1)
            )
    old.close()

    db = open_metadata(uri)
    try:
        assert db.upgrade() == ("0004", migrations.head())
        store = db.tracking
        live = store.search_runs(filter="metrics.acc >= 0.5").items
        assert [r.name for r in live] == [f"r{i}" for i in range(29, 14, -1) if i % 3]
        assert all(r.params == {"p": r.name[1:]} for r in live)
        deleted = store.search_runs(view="deleted").items
        assert sorted(r.name for r in deleted) == sorted(f"r{i}" for i in range(0, 30, 3))
        assert {r.deleted_by for r in deleted} == {"ana"}
        assert len(store.search_runs(view="all").items) == 30
        indexes = {i["name"]: i for i in sa.inspect(db.engine).get_indexes("runs")}
        assert "ix_runs_deleted_at" not in indexes
        assert indexes["ix_runs_deleted"]["column_names"] == ["deleted_at"]
        where = indexes["ix_runs_deleted"].get("dialect_options", {})
        assert "deleted_at is not null" in " ".join(str(w) for w in where.values()).lower()
    finally:
        db.close()


def _populate_0007(conn: sa.Connection) -> dict[str, Any]:
    """Runs as Cairn 0007 stored them: live, deleted, parents, every kind of record.

    Returns what was written, by run id, for comparing after the upgrade.
    """
    rng = random.Random(8)
    conn.execute(OLD["experiments"].insert(), [
        {"id": 1, "name": "a", "created_at": 1}, {"id": 2, "name": "b", "created_at": 2},
    ])  # fmt: skip
    written: dict[str, Any] = {}
    point_id = itertools.count(1)
    for i in range(40):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        deleted = i % 7 == 3
        row = {
            "id": run_id, "experiment_id": 1 + i % 2, "name": f"run-{i}",
            "status": "FINISHED" if i % 5 else "RUNNING", "start_time": 1_000 + i // 2,
            "end_time": None if i % 5 == 0 else 2_000 + i, "git_commit": f"{i:040x}",
            "git_dirty": bool(i % 2), "python_version": "3.11.7",
            "packages": '{"numpy": "2.0"}' if i % 3 else "{}", "host": "h", "user": "ana",
            "parent_id": next(iter(written)) if i % 9 == 8 else None,
            "deleted_at": 5_000 + i if deleted else None, "deleted_by": "bo" if deleted else None,
        }  # fmt: skip
        conn.execute(OLD["runs"].insert().values(**row))
        params = {f"p{k}": f'v"{i}\\\x1f{k}é' for k in range(i % 4)}
        tags = {"team": f"t{i % 3}"} if i % 2 else {}
        history = [
            ("acc", rng.choice([rng.random(), 5e-324, 1.7976931348623157e308]), step, 10 + step)
            for step in range(3)
        ] + [("loss", None if i % 6 == 0 else 0.5, 0, 7)]  # NULL: a NaN
        for table, values in (("params", params), ("tags", tags)):
            for key, value in values.items():
                conn.execute(OLD[table].insert().values(run_id=run_id, key=key, value=value))
        for key, value, step, ts in history:
            conn.execute(OLD["metrics"].insert().values(
                id=next(point_id), run_id=run_id, key=key, value=value, step=step, timestamp=ts
            ))  # fmt: skip
        for key, value, step, ts in (history[2], history[3]):
            conn.execute(OLD["latest_metrics"].insert().values(
                run_id=run_id, key=key, value=value, step=step, timestamp=ts
            ))  # fmt: skip
        io = [("input", "data", f"d{i % 4}", "b3:" + f"{i % 4}" * 64, "file", 3)]
        if i % 4 == 1:
            io.append(("output", "model", "model", "b3:" + f"{i:064x}", "tree", 9))
        for direction, role, name, digest, kind, size in io:
            conn.execute(OLD["run_io"].insert().values(
                run_id=run_id, direction=direction, role=role, name=name, digest=digest,
                kind=kind, size=size,
            ))  # fmt: skip
        if deleted:
            conn.execute(OLD["run_events"].insert().values(
                run_id=run_id, action="delete", actor="bo", created_at=5_000 + i, detail=""
            ))  # fmt: skip
        written[run_id] = {"row": row, "params": params, "tags": tags, "history": history,
                           "io": io}  # fmt: skip
    return written


def _search_at_0007(conn: sa.Connection, metric_above: float) -> list[str]:
    """The live runs with ``acc`` above a value, in search order, read from 0007's tables."""
    return list(
        conn.execute(
            sa.text(
                "SELECT r.id FROM runs r JOIN latest_metrics m ON m.run_id = r.id "
                "AND m.key = 'acc' WHERE m.value > :v AND r.deleted_at IS NULL "
                "ORDER BY r.start_time DESC, r.id DESC"
            ),
            {"v": metric_above},
        ).scalars()
    )


def test_upgrading_a_populated_0007_store_to_run_keys_loses_nothing(
    new_uri: Callable[[], str],
) -> None:
    # 0008 rebuilds runs and every table recorded on runs around an integer key: every
    # run, live or deleted, must come through with all it held, searches must answer as
    # before, and the upgraded store must go on taking runs, points and purges.
    uri = new_uri()
    old = SqlDatabase(uri, create=True)
    old.upgrade("0007")
    with old.engine.begin() as conn:
        written = _populate_0007(conn)
        before = {v: _search_at_0007(conn, v) for v in (0.0, 0.5, 0.9)}
    old.close()

    db = open_metadata(uri)
    try:
        assert db.upgrade() == ("0007", migrations.head())
        store = db.tracking
        for value, expected in before.items():
            found = store.search_runs(filter=f"metrics.acc > {value}", max_results=7)
            ids = list(found.items)
            while found.next_token:
                found = store.search_runs(
                    filter=f"metrics.acc > {value}", max_results=7, page_token=found.next_token
                )
                ids += found.items
            assert [r.id for r in ids] == expected
        assert len(store.search_runs(view="all").items) == len(written)
        for run_id, w in written.items():
            run, row = store.get_run(run_id), w["row"]
            assert (run.name, run.experiment_id, run.start_time, run.end_time) == (
                row["name"], str(row["experiment_id"]), row["start_time"], row["end_time"],
            )  # fmt: skip
            assert (run.parent_id, run.deleted_at, run.deleted_by) == (
                row["parent_id"], row["deleted_at"], row["deleted_by"],
            )  # fmt: skip
            assert run.environment.git_commit == row["git_commit"]
            assert dict(run.environment.packages) == json.loads(row["packages"])
            assert dict(run.params) == w["params"] and dict(run.tags) == w["tags"]
            assert run.metrics["acc"].value == w["history"][2][1]
            assert math.isnan(run.metrics["loss"].value) == (w["history"][3][1] is None)
            assert [m.value for m in store.get_metric_history(run_id, "acc")] == [
                value for _, value, _, _ in w["history"][:3]
            ]
            assert sorted((i.direction, i.role, i.name, i.digest, i.kind, i.size)
                          for i in run.io) == sorted(w["io"])  # fmt: skip
            expected_events = ["delete"] if row["deleted_at"] else []
            assert [e.action for e in store.run_events(run_id)] == expected_events
        # The upgraded store takes new records: points continue after the kept ones.
        first = next(iter(written))
        if store.get_run(first).deleted_at is None:
            store.log_batch(first, [Metric("acc", 2.0, step=9)])
            assert store.get_run(first).metrics["acc"].value == 2.0
        fresh = store.create_run("1", params={"p": "1"})
        store.log_batch(fresh.id, [Metric("acc", 0.99)])
        assert store.search_runs(filter="params.p = '1'").items[0].id == fresh.id
        # A purge removes the deleted runs and everything recorded on them, by key.
        deleted = {rid for rid, w in written.items() if w["row"]["deleted_at"]}
        purged = store.purge_runs(10**12, actor="ana", force=True)
        assert {r.id for r in purged.purged} == deleted
        with db.engine.connect() as conn:
            for table in ("params", "tags", "metrics", "latest_metrics", "run_io"):
                orphans = conn.execute(
                    sa.text(
                        f"SELECT count(*) FROM {table} c WHERE NOT EXISTS "
                        "(SELECT 1 FROM runs r WHERE r.run_key = c.run_key)"
                    )
                ).scalar()
                assert orphans == 0, table
    finally:
        db.close()
