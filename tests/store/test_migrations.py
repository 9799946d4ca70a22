"""Schema versions: new databases start at head, old ones must be upgraded, and the
migrations build exactly the tables the code describes."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
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
from cairn.store.sql import tables as tracking_tables
from cairn.store.sql.database import SqlDatabase, make_engine

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
        conn.execute(tracking_tables.experiments.insert().values(name="kept", created_at=1))
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
    runs = tracking_tables.runs
    with old.engine.begin() as conn:
        conn.execute(tracking_tables.experiments.insert().values(name="kept", created_at=1))
        for run_id, parent in (("a" * 32, None), ("b" * 32, "a" * 32)):
            conn.execute(
                sa.insert(runs).values(
                    id=run_id, experiment_id=1, name=run_id[:4], status="FINISHED",
                    start_time=5, parent_id=parent,
                )
            )  # fmt: skip
        conn.execute(tracking_tables.params.insert().values(run_id="a" * 32, key="p", value="1"))
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
    t = tracking_tables
    with old.engine.begin() as conn:
        conn.execute(t.experiments.insert().values(name="kept", created_at=1))
        for i in range(30):
            conn.execute(
                sa.insert(t.runs).values(
                    id=f"{i:032x}", experiment_id=1, name=f"r{i}", status="FINISHED",
                    start_time=100 + i, deleted_at=500 if i % 3 == 0 else None,
                    deleted_by="ana" if i % 3 == 0 else None,
                )
            )  # fmt: skip
            conn.execute(t.params.insert().values(run_id=f"{i:032x}", key="p", value=str(i)))
            conn.execute(
                t.latest_metrics.insert().values(
                    run_id=f"{i:032x}", key="acc", value=i / 30, step=0, timestamp=1
                )
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
