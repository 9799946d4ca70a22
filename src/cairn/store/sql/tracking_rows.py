"""Rows of the tracking tables <-> the dataclasses of :mod:`cairn.types`.

Reading a page of runs is the hot path of search, so it is written for speed: the
children of all runs come in one statement per table, and rows are unpacked positionally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.store.sql import tables as t
from cairn.types import Environment, Metric, Run, RunIO, RunStatus

STATUS = {s.value: s for s in RunStatus}
# The order hydrate() unpacks rows in; the environment fields follow _environment()'s.
RUN_COLUMNS = tuple(
    t.runs.c[name]
    for name in (
        "run_key", "id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id",
        "deleted_at", "deleted_by", "git_commit", "git_dirty", "python_version", "packages",
        "host", "user",
    )
)  # fmt: skip
#: What a new run's row is inserted with: all but ``run_key``, which the database assigns.
RUN_INSERT_COLUMNS = tuple(c for c in t.runs.columns if c.name != "run_key")


def hydrate(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Full runs for ``rows`` of ``runs``: their children come in one query per table."""
    if not rows:
        return []
    with gc_paused():
        return _hydrate(conn, rows)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a page of runs is built.

    A page of a thousand runs allocates tens of thousands of dicts, tuples and
    dataclasses, none of them in a reference cycle; each 700 allocations would otherwise
    start a collection that walks them, and now and then every object of the process.
    Reference counting still frees everything; the collector runs again afterwards.
    """
    if not gc.isenabled():  # the application turned it off: leave that to it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _hydrate(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    queries = _child_sql(conn.dialect.name)
    keys = [r[0] for r in rows]
    bound = (keys if conn.dialect.name == "postgresql" else json.dumps(keys),)
    # Children come back keyed by the run's position in ``keys``, not its key: the
    # position indexes a list directly.
    count = len(keys)
    params: list[dict[str, str]] = [{} for _ in range(count)]
    tags: list[dict[str, str]] = [{} for _ in range(count)]
    metrics: list[dict[str, Metric]] = [{} for _ in range(count)]
    io: list[list[RunIO]] = [[] for _ in range(count)]
    # The driver's cursor, not SQLAlchemy's Result: its per-row wrapping costs more than
    # the query on a page of a thousand runs, and these rows need no type processing.
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(queries["params"], bound)
            for i, key, value in cursor.fetchall():
                params[i][key] = value
            cursor.execute(queries["tags"], bound)
            for i, key, value in cursor.fetchall():
                tags[i][key] = value
        else:
            # One JSON document per table: [[position, {key: value}], ...]. The driver
            # converts each value it returns into a Python object, and that, not the
            # lookups, is what a row per param costs; one document parsed by json.loads
            # carries the same strings for about half.
            for table, found in (("params", params), ("tags", tags)):
                cursor.execute(queries[table], bound)
                [(document,)] = cursor.fetchall()
                for i, values in json.loads(document):
                    found[i] = values
        nan = math.nan
        cursor.execute(queries["latest"], bound)
        for i, key, value, step, ts in cursor.fetchall():
            metrics[i][key] = _metric(key, nan if value is None else value, step, ts)
        cursor.execute(queries["io"], bound)
        for i, *fields in cursor.fetchall():
            io[i].append(RunIO(*fields))
    finally:
        cursor.close()
    environments: dict[tuple[Any, ...], Environment] = {}  # runs of one project share one
    runs = []
    # Unpacking rows is markedly cheaper than reading a dozen attributes by name.
    for i, row in enumerate(rows):
        (_, run_id, exp_id, name, status, start, end, parent, deleted_at, deleted_by,
         *env_fields) = row  # fmt: skip
        env_key = tuple(env_fields)
        env = environments.get(env_key)
        if env is None:
            env = environments[env_key] = _environment(*env_key)
        runs.append(
            _run(
                run_id, str(exp_id), name, STATUS[status], start, end, parent, env,
                params[i], tags[i], metrics[i], tuple(io[i]), deleted_at, deleted_by,
            )
        )  # fmt: skip
    return runs


def _slot_setters(cls: type) -> list[Any]:
    return [getattr(cls, f.name).__set__ for f in dataclasses.fields(cls)]


_new = object.__new__
_METRIC_SETTERS = _slot_setters(Metric)
_RUN_SETTERS = _slot_setters(Run)


def _metric(key: str, value: float, step: int, timestamp: int) -> Metric:
    """``Metric(key, value, step, timestamp)`` for trusted rows, at half the cost.

    A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` per field;
    setting the slots directly is equivalent and cheaper, and a page of a thousand runs
    builds thousands of these.
    """
    m = _new(Metric)
    set_key, set_value, set_step, set_timestamp = _METRIC_SETTERS
    set_key(m, key)
    set_value(m, value)
    set_step(m, step)
    set_timestamp(m, timestamp)
    return m


def _make_run_builder() -> Any:
    """``Run(...)`` with every field given, for trusted rows; see :func:`_metric`.

    The setters are bound once and called in a straight line: a loop over them costs
    more than the fourteen calls themselves.
    """
    (s_id, s_exp, s_name, s_status, s_start, s_end, s_parent, s_env, s_params, s_tags,
     s_metrics, s_io, s_deleted_at, s_deleted_by) = _RUN_SETTERS  # fmt: skip

    def build(
        run_id: str, exp_id: str, name: str, status: RunStatus, start: int, end: int | None,
        parent: str | None, env: Environment, params: Any, tags: Any, metrics: Any,
        io: tuple[RunIO, ...], deleted_at: int | None, deleted_by: str | None,
    ) -> Run:  # fmt: skip
        run = _new(Run)
        s_id(run, run_id)
        s_exp(run, exp_id)
        s_name(run, name)
        s_status(run, status)
        s_start(run, start)
        s_end(run, end)
        s_parent(run, parent)
        s_env(run, env)
        s_params(run, params)
        s_tags(run, tags)
        s_metrics(run, metrics)
        s_io(run, io)
        s_deleted_at(run, deleted_at)
        s_deleted_by(run, deleted_by)
        return run

    return build


_run = _make_run_builder()


@functools.cache
def _child_sql(dialect: str) -> dict[str, str]:
    """What is recorded on a list of runs, one statement per table, for the driver.

    The run keys travel as one bound value (a JSON array on SQLite, an array on
    PostgreSQL), so a page of 50,000 runs stays one query, below SQLite's limit on bound
    variables.
    """
    if dialect == "postgresql":
        ids = (
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS j(run_key, n) "
            "JOIN {table} AS c ON c.run_key = j.run_key"
        )
        position = "j.n - 1"
    else:
        # Driving the join from the JSON list probes each table's primary key once per
        # run, about twice as fast as `run_key IN (SELECT value FROM json_each(?))`.
        ids = "FROM json_each(?) AS j JOIN {table} AS c ON c.run_key = j.value"
        position = "j.key"
        return {
            **{
                # Runs without any are left out: their empty dicts exist already.
                table: "SELECT json_group_array(json_array(n, json(o))) FROM (SELECT j.key AS n, "
                f"(SELECT json_group_object(c.key, c.value) FROM {table} AS c "
                "WHERE c.run_key = j.value) AS o FROM json_each(?) AS j) WHERE o != '{}'"
                for table in ("params", "tags")
            },
            **_latest_and_io(ids, position),
        }
    return {
        "params": f"SELECT {position}, c.key, c.value " + ids.format(table="params"),
        "tags": f"SELECT {position}, c.key, c.value " + ids.format(table="tags"),
        **_latest_and_io(ids, position),
    }


def _latest_and_io(ids: str, position: str) -> dict[str, str]:
    # Metric values stay a column each: SQLite writes floats into JSON with 15
    # significant digits, which would not give back the value stored.
    return {
        "latest": f'SELECT {position}, c.key, c.value, c.step, c."timestamp" '
        + ids.format(table="latest_metrics"),
        "io": f"SELECT {position}, c.direction, c.role, c.name, c.digest, c.kind, c.size "
        + ids.format(table="run_io")
        + " ORDER BY 1, c.direction, c.name",
    }


def _environment(
    git_commit: str | None,
    git_dirty: bool | None,
    python_version: str,
    packages: str,
    host: str,
    user: str,
) -> Environment:
    return Environment(
        git_commit=git_commit,
        git_dirty=None if git_dirty is None else bool(git_dirty),
        python_version=python_version,
        packages=json.loads(packages) if packages != "{}" else {},
        host=host,
        user=user,
    )


def run_values(run: Run) -> dict[str, Any]:
    env = run.environment
    return {
        "id": run.id,
        "experiment_id": int(run.experiment_id),
        "name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_id": run.parent_id,
        "git_commit": env.git_commit,
        "git_dirty": env.git_dirty,
        "python_version": env.python_version,
        "packages": json.dumps(dict(env.packages), sort_keys=True),
        "host": env.host,
        "user": env.user,
        "deleted_at": run.deleted_at,
        "deleted_by": run.deleted_by,
    }


def store_float(value: float) -> float | None:
    return None if math.isnan(value) else value  # NULL stands for NaN (see tables.py)


def load_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def among(col: Any, ids: Sequence[str] | Sequence[int], conn: Connection) -> Any:
    """``col IN ids`` with one bound value, however many ids (no SQLite variable limit).

    ``ids`` are run ids (strings) or run keys (ints), as ``col`` holds.
    """
    kind: Any = sa.BigInteger() if ids and isinstance(ids[0], int) else sa.String()
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return col == sa.any_(sa.literal(list(ids), ARRAY(kind)))
    listed = sa.select(sa.column("value", kind)).select_from(
        sa.func.json_each(json.dumps(list(ids)))
    )
    return col.in_(listed.scalar_subquery())
