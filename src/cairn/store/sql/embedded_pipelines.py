"""Pipeline runs on an embedded SQLite workspace, through the standard library.

A fully cached ``cairn pipeline run`` does little work of its own -- compute a key per
step, find it, write the run's records -- yet importing SQLAlchemy and checking the
schema through it cost several times that. On an embedded workspace (a ``sqlite:///``
URI naming an existing file at this Cairn's schema revision) the pipeline runner writes
its records here instead, with :mod:`sqlite3`: the tracking run of the pipeline and the
child run of each executed step (params, tags, lineage edges, end status), the pipeline
run, its step records and the step cache. The statements are those of
:class:`cairn.store.sql.tracking.SqlTrackingStore` and
:class:`cairn.store.sql.pipelines.SqlPipelineStore` on the same tables, with the same
checks, so the rows are the ones the full stores would write.

Writes gather in one ``BEGIN IMMEDIATE`` transaction until :meth:`commit`: the runner
commits before any step runs (a step's own code may write to the workspace, and a crash
while it runs must leave the run recorded as running), so a run whose steps are all
cached writes everything in one transaction -- or, if killed, nothing.

:meth:`EmbeddedPipelineRecords.open` returns ``None`` instead of guessing when anything
is not as expected (another backend, a missing file, another schema revision, a locked
or damaged file); the runner then uses the full stores, which report the usual way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, fields
from pathlib import Path

from cairn.errors import InvalidInput, NotFound, StoreError
from cairn.store.pipelines import CacheEntry, PipelineRun, StepRecord
from cairn.store.sql import migrations
from cairn.store.tracking_validation import (
    check_experiment_name,
    check_run_io,
    check_strings,
    checked_run,
    new_run,
)
from cairn.types import Environment, RunIO, RunStatus, now_ms

#: Seconds a writer waits for another one, as the full store's busy timeout does.
_BUSY_TIMEOUT = 60.0

_RUN_COLUMNS = (
    "id, experiment_id, name, status, start_time, end_time, parent_id, git_commit, "
    'git_dirty, python_version, packages, host, "user", deleted_at, deleted_by'
)
_INSERT_RUN = f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 15)})"
# Rows recorded on a run reference its integer run_key (migration 0008), not its id.
_UPSERT_TAG = (
    "INSERT INTO tags (run_key, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_IO = (
    "INSERT INTO run_io (run_key, direction, name, role, digest, kind, size) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_key, direction, name) DO UPDATE SET "
    "role = excluded.role, digest = excluded.digest, kind = excluded.kind, "
    "size = excluded.size"
)
_STEP_FIELDS = tuple(f.name for f in fields(StepRecord))
_CACHE_FIELDS = tuple(f.name for f in fields(CacheEntry))
_RUN_FIELDS = tuple(f.name for f in fields(PipelineRun))
_UPSERT_CACHE = (
    f"INSERT INTO pipeline_cache ({', '.join(_CACHE_FIELDS)}) "
    f"VALUES ({', '.join('?' * len(_CACHE_FIELDS))}) ON CONFLICT (cache_key) DO UPDATE SET "
    "step = excluded.step, outputs = excluded.outputs, step_run_id = excluded.step_run_id, "
    "created_at = excluded.created_at"
)


class EmbeddedPipelineRecords:
    """The records of pipeline runs in one SQLite file, written with :mod:`sqlite3`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._experiments: dict[str, int] = {}

    @classmethod
    def open(cls, uri: str) -> EmbeddedPipelineRecords | None:
        """The embedded database named by ``uri`` if it is a SQLite file at this Cairn's
        schema revision; ``None`` for anything else."""
        prefix = "sqlite:///"
        if not uri.startswith(prefix) or "?" in uri:
            return None
        path = Path(uri[len(prefix) :])
        if not path.is_absolute() or not path.is_file():
            return None
        try:
            conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error:
            return None
        try:
            # The settings every connection of the full store makes (database.py).
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            if revision != [(migrations.head(),)]:
                conn.close()
                return None  # behind, ahead or not created: the full store says which
        except sqlite3.Error:
            conn.close()
            return None
        return cls(path, conn)

    def close(self) -> None:
        """Close the connection; uncommitted writes are rolled back."""
        self._conn.close()

    @contextmanager
    def _errors(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn
        except sqlite3.Error as exc:
            raise StoreError(
                f"the metadata store at {self.path} failed: {exc}; nothing of this step was "
                "recorded: check the disk and that no other program holds the database, then "
                "run again"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._errors() as conn:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            yield conn

    def commit(self) -> None:
        """Make every write so far durable and visible to other connections."""
        with self._errors() as conn:
            if conn.in_transaction:
                conn.execute("COMMIT")

    # -- tracking runs ------------------------------------------------------------------

    def _experiment_id(self, conn: sqlite3.Connection, name: str) -> int:
        found = self._experiments.get(name)
        if found is not None:
            return found
        check_experiment_name(name)
        row = conn.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            cursor = conn.execute(
                "INSERT INTO experiments (name, description, created_at) VALUES (?, '', ?)",
                (name, now_ms()),
            )
            found = int(cursor.lastrowid or 0)
        else:
            found = int(row[0])
        self._experiments[name] = found
        return found

    def create_run(
        self,
        experiment: str,
        *,
        name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
        environment: Environment,
        parent_id: str | None = None,
    ) -> str:
        """A RUNNING run in ``experiment`` (by name, created when absent); its id."""
        if not isinstance(name, str) or not name.strip() or len(name) > 250:
            raise InvalidInput(f"run name must be a string of 1 to 250 characters: {name!r}")
        # Checked and redacted as every store does (the experiment is resolved below).
        run = checked_run(
            new_run(
                "",
                name=name,
                parent_id=parent_id,
                environment=environment,
                params=params,
                tags=tags,
            )
        )
        run_id, env, params, tags = run.id, run.environment, run.params, run.tags
        with self._write() as conn:
            if parent_id is not None:
                self._require_live(conn, parent_id, "parent run")
            row = (
                run_id, self._experiment_id(conn, experiment), name, RunStatus.RUNNING.value,
                run.start_time, None, parent_id, env.git_commit, env.git_dirty, env.python_version,
                json.dumps(dict(env.packages), sort_keys=True), env.host, env.user, None, None,
            )  # fmt: skip
            key = conn.execute(_INSERT_RUN, row).lastrowid  # runs.run_key is the rowid
            if params:
                conn.executemany(
                    "INSERT INTO params (run_key, key, value) VALUES (?, ?, ?)",
                    [(key, k, v) for k, v in params.items()],
                )
            if tags:
                conn.executemany(_UPSERT_TAG, [(key, k, v) for k, v in tags.items()])
        return run_id

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        check_strings("tag", tags)
        with self._write() as conn:
            key = self._require_live(conn, run_id)
            conn.executemany(_UPSERT_TAG, [(key, k, v) for k, v in tags.items()])

    def end_run(self, run_id: str, status: RunStatus) -> None:
        with self._write() as conn:
            self._require_live(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE id = ?",
                (RunStatus(status).value, now_ms(), run_id),
            )

    def log_io(self, run_id: str, items: Sequence[RunIO]) -> None:
        edges = {(io.direction, io.name): io for io in check_run_io(items)}  # last one wins
        with self._write() as conn:
            key = self._require_live(conn, run_id)
            conn.executemany(
                _UPSERT_IO,
                [(key, e.direction, e.name, e.role, e.digest, e.kind, e.size)
                 for e in edges.values()],
            )  # fmt: skip

    @staticmethod
    def _require_live(conn: sqlite3.Connection, run_id: str, what: str = "run") -> int:
        """The run's key; the messages of cairn.store.sql.tracking_lifecycle (which
        imports SQLAlchemy) when it is missing or deleted."""
        row = conn.execute(
            "SELECT deleted_at, deleted_by, run_key FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no {what} with id {run_id!r}; `cairn runs ls` lists runs")
        if row[0] is not None:
            from datetime import UTC, datetime

            at = datetime.fromtimestamp(row[0] / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise InvalidInput(
                f"run {run_id} was deleted by {row[1] or 'unknown'} at {at}; nothing can be "
                f"logged to it until `cairn runs restore {run_id}` brings it back"
            )
        return int(row[2])

    # -- pipeline runs, steps and the cache ---------------------------------------------

    def create_pipeline_run(self, run: PipelineRun) -> None:
        now = now_ms()
        values = dict(zip(_RUN_FIELDS, astuple(run), strict=True))
        values.update(created_at=run.created_at or now, updated_at=now)
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO pipeline_runs ({', '.join(values)}) "
                f"VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )

    def set_run_state(self, run_id: str, state: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE pipeline_runs SET state = ?, updated_at = ? WHERE run_id = ?",
                (state, now_ms(), run_id),
            )

    def save_steps(self, records: Sequence[StepRecord]) -> None:
        if not records:
            return
        now = now_ms()
        rows = [(*astuple(r)[:-1], now) for r in records]  # updated_at is the last field
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM pipeline_steps WHERE run_id = ? AND step = ?",
                [(r.run_id, r.step) for r in records],
            )
            conn.executemany(
                f"INSERT INTO pipeline_steps ({', '.join(_STEP_FIELDS)}) "
                f"VALUES ({', '.join('?' * len(_STEP_FIELDS))})",
                rows,
            )

    def list_steps(self, run_id: str) -> list[StepRecord]:
        with self._errors() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_STEP_FIELDS)} FROM pipeline_steps WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        return [StepRecord(*row) for row in rows]

    def get_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        if not keys:
            return {}
        with self._errors() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_CACHE_FIELDS)} FROM pipeline_cache "
                "WHERE cache_key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            ).fetchall()
        return {row[0]: CacheEntry(*row) for row in rows}

    def recent_cache(self, steps: Sequence[str], limit: int) -> dict[str, CacheEntry]:
        if not steps or limit < 1:
            return {}
        with self._errors() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_CACHE_FIELDS)} FROM pipeline_cache "
                "WHERE step IN (SELECT value FROM json_each(?)) "
                "ORDER BY created_at DESC LIMIT ?",
                (json.dumps(list(steps)), limit),
            ).fetchall()
        return {row[0]: CacheEntry(*row) for row in rows}

    def put_cache(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        now = now_ms()
        rows = [(*astuple(e)[:-1], e.created_at or now) for e in entries]
        with self._write() as conn:
            conn.executemany(_UPSERT_CACHE, rows)
