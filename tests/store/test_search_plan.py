"""How SQLite answers a search: live runs are never found by walking every run.

A full index on ``runs.deleted_at`` (NULL for almost every run) once made SQLite answer
each search of live runs by walking that index over the whole table and sorting it, three
to four times slower on 10,000 runs. These tests read SQLite's own query plan for the
statements a search sends, so they hold on any machine, with no timing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.store import open_metadata
from cairn.store.sql.tracking_rows import _child_sql
from cairn.types import Metric


@pytest.fixture
def store_and_plans(tmp_path: Path) -> Iterator[tuple[Any, list[tuple[str, Any]], Path]]:
    """A populated SQLite store, and the list of run searches it executes from now on."""
    path = tmp_path / "cairn.db"
    db = open_metadata(f"sqlite:///{path}", create=True)
    store = db.tracking
    exp = store.create_experiment("plan")
    for i in range(60):
        run = store.create_run(exp.id, start_time=1_000 + i, params={"p": str(i)})
        store.log_batch(run.id, [Metric("acc", i / 60, 0, 1)])
        if i % 10 == 0:
            store.delete_run(run.id, actor="ana")
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM runs" in statement:
            seen.append((statement, params))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield store, seen, path
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
        db.close()


def _plan(path: Path, statement: str, params: Any) -> str:
    with sqlite3.connect(path) as con:
        rows = con.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
    return " | ".join(row[3] for row in rows)


@pytest.mark.parametrize(
    "search",
    [
        pytest.param({}, id="no-filter"),
        pytest.param({"filter": "metrics.acc > 0.5"}, id="metric-filter"),
        pytest.param({"filter": "params.p = '7'"}, id="param-filter"),
    ],
)
def test_a_search_of_live_runs_never_walks_the_deleted_at_column(
    store_and_plans: tuple[Any, list[tuple[str, Any]], Path], search: dict[str, str]
) -> None:
    store, seen, path = store_and_plans
    found = store.search_runs(**search).items
    assert found and all(r.deleted_at is None for r in found)
    (statement, params), *_ = seen
    plan = _plan(path, statement, params)
    # Walking an index on deleted_at visits every live run, then sorts them all.
    assert "deleted_at" not in plan, plan
    if not search:
        # Without a filter the page is read in order from the start_time index.
        assert "TEMP B-TREE" not in plan, plan


def test_a_metric_search_finds_runs_by_integer_key_from_the_metric_index_alone(
    store_and_plans: tuple[Any, list[tuple[str, Any]], Path],
) -> None:
    # Runs are probed by their integer key (SQLite's rowid: one B-tree search), never
    # through the index on the 32-character id, and the metric filter reads the keys
    # from the (key, value) index without touching the table.
    store, seen, path = store_and_plans
    assert store.search_runs(filter="metrics.acc > 0.5").items
    (statement, params), *_ = seen
    plan = _plan(path, statement, params)
    assert "USING INTEGER PRIMARY KEY" in plan, plan
    assert "COVERING INDEX ix_latest_metrics_key_value" in plan, plan
    assert "sqlite_autoindex_runs" not in plan, plan


@pytest.mark.parametrize("table", ["params", "tags", "latest_metrics", "run_io"])
def test_what_is_recorded_on_a_page_is_fetched_by_integer_key(
    store_and_plans: tuple[Any, list[tuple[str, Any]], Path], table: str
) -> None:
    # Each child table is read by probing its primary key with integer run keys.
    _store, _seen, path = store_and_plans
    query = _child_sql("sqlite")[{"latest_metrics": "latest", "run_io": "io"}.get(table, table)]
    with sqlite3.connect(path) as con:
        keys = [key for (key,) in con.execute("SELECT run_key FROM runs ORDER BY run_key")]
        (declared,) = con.execute(
            "SELECT type FROM pragma_table_info(?) WHERE name = 'run_key'", (table,)
        ).fetchone()
    assert declared.upper() == "BIGINT", declared
    plan = _plan(path, query, (json.dumps(keys),))
    assert "SEARCH c USING PRIMARY KEY (run_key=?)" in plan, plan
