"""Rows of the tracking tables <-> the dataclasses of :mod:`cairn.types`.

Reading a page of runs is the hot path of search, so it is written for speed: the
children of all runs come in one statement per table, and rows are unpacked positionally.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
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
        "id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id",
        "git_commit", "git_dirty", "python_version", "packages", "host", "user",
    )
)  # fmt: skip


def hydrate(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Full runs for ``rows`` of ``runs``: their children come in one query per table."""
    if not rows:
        return []
    queries = _child_queries(conn.dialect.name)
    ids = [r[0] for r in rows]
    bound = {"ids": ids if conn.dialect.name == "postgresql" else json.dumps(ids)}
    params: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, dict[str, Metric]] = defaultdict(dict)
    io: dict[str, list[RunIO]] = defaultdict(list)
    for run_id, key, value in conn.execute(queries["params"], bound).all():
        params[run_id][key] = value
    for run_id, key, value in conn.execute(queries["tags"], bound).all():
        tags[run_id][key] = value
    nan = math.nan
    for run_id, key, value, step, ts in conn.execute(queries["latest"], bound).all():
        metrics[run_id][key] = Metric(key, nan if value is None else value, step, ts)
    for run_id, *fields in conn.execute(queries["io"], bound).all():
        io[run_id].append(RunIO(*fields))
    environments: dict[tuple[Any, ...], Environment] = {}  # runs of one project share one
    runs = []
    # Unpacking rows is markedly cheaper than reading a dozen attributes by name.
    for run_id, exp_id, name, status, start, end, parent, *env_fields in rows:
        env_key = tuple(env_fields)
        env = environments.get(env_key)
        if env is None:
            env = environments[env_key] = _environment(*env_key)
        runs.append(
            Run(
                id=run_id,
                experiment_id=str(exp_id),
                name=name,
                status=STATUS[status],
                start_time=start,
                end_time=end,
                parent_id=parent,
                environment=env,
                params=params.get(run_id) or {},
                tags=tags.get(run_id) or {},
                metrics=metrics.get(run_id) or {},
                io=tuple(io.get(run_id, ())),
            )
        )
    return runs


@functools.cache
def _child_queries(dialect: str) -> dict[str, Any]:
    """What is recorded on a list of runs, one statement per table, built once per dialect.

    The ids travel as one bound value (a JSON array on SQLite, an array on PostgreSQL),
    so a page of 50,000 runs stays one query, below SQLite's limit on bound variables.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        ids: Any = sa.any_(sa.bindparam("ids", type_=ARRAY(sa.String)))

        def among(col: Any) -> Any:
            return col == ids

    else:
        listed = sa.select(sa.column("value", sa.String)).select_from(
            sa.func.json_each(sa.bindparam("ids", type_=sa.String))
        )

        def among(col: Any) -> Any:
            return col.in_(listed.scalar_subquery())

    lm, rio = t.latest_metrics, t.run_io
    return {
        "params": sa.select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
            among(t.params.c.run_id)
        ),
        "tags": sa.select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(
            among(t.tags.c.run_id)
        ),
        "latest": sa.select(lm.c.run_id, lm.c.key, lm.c.value, lm.c.step, lm.c.timestamp).where(
            among(lm.c.run_id)
        ),
        "io": sa.select(
            rio.c.run_id, rio.c.direction, rio.c.role, rio.c.name, rio.c.digest, rio.c.kind,
            rio.c.size,
        )
        .where(among(rio.c.run_id))
        .order_by(rio.c.run_id, rio.c.direction, rio.c.name),
    }  # fmt: skip


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
    }


def store_float(value: float) -> float | None:
    return None if math.isnan(value) else value  # NULL stands for NaN (see tables.py)


def load_float(value: float | None) -> float:
    return math.nan if value is None else float(value)
