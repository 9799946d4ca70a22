"""One metric's whole history as two flat arrays, for charts: steps and values.

:meth:`~cairn.store.sql.tracking.SqlTrackingStore.get_metric_history` builds one
:class:`~cairn.types.Metric` per point, which for a 100,000-step series costs about a
second of Python. A chart needs only steps and values, so this reads those two columns
in the same order (step, then time, then insertion) straight into arrays, several times
faster. NaN comes back as NaN (the store keeps it as NULL).
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.store.sql import tables as t
from cairn.store.sql.database import SqlDatabase
from cairn.store.sql.tracking_lifecycle import no_run

_m = t.metrics
_SERIES = (
    sa.select(_m.c.step, _m.c.value)
    .where(_m.c.run_key == sa.bindparam("run_key"), _m.c.key == sa.bindparam("key"))
    .order_by(_m.c.step, _m.c.timestamp, _m.c.id)
)
#: A run's integer key (metric rows point at it), found by the id users see.
_RUN = sa.select(t.runs.c.run_key).where(t.runs.c.id == sa.bindparam("run_id"))


def _run_key(conn: Connection, run_id: str) -> int:
    found = conn.execute(_RUN, {"run_id": run_id}).first()
    if found is None:
        raise no_run(run_id)
    return int(found[0])


def metric_arrays(db: SqlDatabase, run_id: str, key: str) -> tuple[array[int], array[float]]:
    """Steps (``q``) and values (``d``) of metric ``key`` of run ``run_id``, ordered as
    ``get_metric_history`` orders them; empty when the run has no such metric.

    Raises:
        NotFound: no run has id ``run_id``.
    """
    with db.read() as conn:
        rows = _fetch(conn, _SERIES, {"run_key": _run_key(conn, run_id), "key": key})
    steps = array("q", [r[0] for r in rows])
    values = array("d", [math.nan if r[1] is None else r[1] for r in rows])
    return steps, values


def metric_arrays_many(
    db: SqlDatabase, run_ids: list[str], key: str
) -> dict[str, tuple[array[int], array[float]]]:
    """:func:`metric_arrays` of several runs in one query (runs without the metric, or
    unknown, are left out)."""
    from cairn.store.sql.tracking_rows import among

    out: dict[str, tuple[array[int], array[float]]] = {}
    if not run_ids:
        return out
    with db.read() as conn:
        runs = t.runs
        statement = (
            sa.select(runs.c.id, _m.c.step, _m.c.value)
            .select_from(_m.join(runs, runs.c.run_key == _m.c.run_key))
            .where(among(runs.c.id, run_ids, conn), _m.c.key == sa.bindparam("key"))
            .order_by(_m.c.run_key, _m.c.step, _m.c.timestamp, _m.c.id)
        )
        rows = _fetch(conn, statement, {"key": key})
    for run_id, step, value in rows:
        steps, values = out.setdefault(run_id, (array("q"), array("d")))
        steps.append(step)
        values.append(math.nan if value is None else value)
    return out


def _fetch(conn: Connection, statement: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
    """All rows of ``statement``. On SQLite straight from the driver's cursor: for
    100,000 rows SQLAlchemy's row objects cost as much again as the query itself."""
    if conn.dialect.name != "sqlite":
        return list(conn.execute(statement, params).all())
    compiled = statement.compile(dialect=conn.dialect)
    order = compiled.positiontup or []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        bound = {**compiled.params, **params}  # values built into the statement, then ours
        cursor.execute(str(compiled), [bound[name] for name in order])
        return list(cursor.fetchall())
    finally:
        cursor.close()


def thinned_series(
    db: SqlDatabase,
    run_id: str,
    key: str,
    buckets: int,
    start: int | None = None,
    end: int | None = None,
) -> tuple[list[int], list[float | None], int] | None:
    """The series thinned inside SQLite, as :func:`cairn.ui.downsample.downsample` thins
    it: per bucket of equal step width, the lowest and the highest finite value and the
    first non-finite one (a gap, ``None``). Returns steps, values and the point count
    of the range; ``None`` when the database is not SQLite or the range holds at most
    ``2 * buckets`` points (then reading them all is as cheap).

    SQLite answers a ``min()``/``max()`` query with the other columns of the row that
    holds the minimum or maximum, so each bucket costs no Python at all: a 100,000-point
    series comes back as a few thousand rows.
    """
    where = 'run_key = :run_key AND "key" = :key'
    params: dict[str, Any] = {"key": key, "inf": math.inf}
    if start is not None:
        where += " AND step >= :start"
        params["start"] = start
    if end is not None:
        where += " AND step <= :end"
        params["end"] = end
    table = _m.name
    with db.read() as conn:
        if conn.dialect.name != "sqlite":
            return None
        params["run_key"] = _run_key(conn, run_id)
        lo, hi, total = conn.execute(
            sa.text(f"SELECT min(step), max(step), count(*) FROM {table} WHERE {where}"), params
        ).one()
        if total <= 2 * buckets:
            return None
        params |= {"lo": lo, "width": (hi - lo) / buckets or 1.0, "last": buckets - 1}
        bucket = "min(CAST((step - :lo) / :width AS INTEGER), :last)"
        finite = "value IS NOT NULL AND value < :inf AND value > -:inf"
        rows = conn.execute(
            sa.text(
                f"SELECT {bucket} AS b, step, min(value) FROM {table} "
                f"WHERE {where} AND {finite} GROUP BY b "
                f"UNION ALL SELECT {bucket} AS b, step, max(value) FROM {table} "
                f"WHERE {where} AND {finite} GROUP BY b "
                f"UNION ALL SELECT {bucket} AS b, min(step), NULL FROM {table} "
                f"WHERE {where} AND NOT ({finite}) GROUP BY b"
            ),
            params,
        ).all()
    kept = sorted({(b, step, value) for b, step, value in rows}, key=lambda r: (r[0], r[1]))
    return [r[1] for r in kept], [r[2] for r in kept], int(total)
