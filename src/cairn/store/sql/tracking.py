"""The tracking store on SQL: experiments, runs, params, tags, metrics, lineage, search.

Every write is one transaction through :meth:`SqlDatabase.write`, validated before it
starts, so bad input raises and leaves nothing behind. Reads fetch a page of runs, then
their params, tags, latest metrics and lineage in a handful of set-based queries.

Example:
    >>> from cairn.store import open_metadata
    >>> store = open_metadata("sqlite:///cairn.db").tracking
    >>> exp = store.create_experiment("churn")
    >>> run = store.create_run(exp.id, params={"model": "rf"})
    >>> store.log_batch(run.id, [Metric("auc", 0.93, step=1)])
    >>> store.search_runs([exp.id], "metrics.auc > 0.9").items[0].id == run.id
    True
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store.base import Deletion, PurgeResult, RunEvent, RunView, check_view
from cairn.store.filters import parse_filter, parse_order_by
from cairn.store.redaction import redact_secrets
from cairn.store.sql import filters_sql
from cairn.store.sql import tables as t
from cairn.store.sql import tracking_lifecycle as lifecycle
from cairn.store.sql.tracking_experiments import (
    SqlExperimentStore,
    as_id,
    deleted_experiment_ids,
    require_live_experiment,
)
from cairn.store.sql.tracking_rows import (
    RUN_COLUMNS,
    RUN_INSERT_COLUMNS,
    among,
    hydrate,
    load_float,
    run_values,
    store_float,
)
from cairn.store.tracking_validation import (
    check_end_status,
    check_run_io,
    check_status,
    check_strings,
    check_time,
    checked_run,
    metric_tuples,
    new_run,
)
from cairn.types import (
    EXTERNAL,
    Direction,
    Environment,
    Metric,
    Page,
    Run,
    RunIO,
    RunStatus,
    now_ms,
)

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_RUN_ID = re.compile(r"[0-9a-f]{32}")
_RUN_KEY = sa.select(t.runs.c.run_key).where(t.runs.c.id == sa.bindparam("run_id"))


@dataclass(frozen=True)
class _DriverSql:
    """The statements of the hot write paths (run start and end, metric points), written
    for the driver and given rows as tuples: building SQLAlchemy parameter dictionaries
    and compiled statements costs more than these inserts themselves. Identifiers are
    quoted (``user`` and ``timestamp`` are reserved words in PostgreSQL)."""

    insert_run: str
    insert_param: str
    insert_tag: str
    end_run: str
    insert_metric: str
    upsert_latest: str

    @classmethod
    def for_dialect(cls, dialect: str) -> _DriverSql:
        mark = "%s" if dialect == "postgresql" else "?"

        def insert(table: sa.Table, columns: Sequence[sa.Column[Any]]) -> str:
            names = ", ".join(f'"{c.name}"' for c in columns)
            marks = ", ".join([mark] * len(columns))
            return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"

        point = 'run_key, key, value, step, "timestamp"'
        points = ", ".join([mark] * 5)
        # The database assigns run_key: SQLite reports it as the cursor's lastrowid,
        # PostgreSQL returns it.
        insert_run = insert(t.runs, RUN_INSERT_COLUMNS)
        if dialect == "postgresql":
            insert_run += " RETURNING run_key"
        return cls(
            insert_run=insert_run,
            insert_param=insert(t.params, list(t.params.columns)),
            insert_tag=insert(t.tags, list(t.tags.columns)),
            end_run=f"UPDATE runs SET status = {mark}, end_time = {mark} WHERE id = {mark}",
            insert_metric=f"INSERT INTO metrics ({point}) VALUES ({points})",
            upsert_latest=(
                f"INSERT INTO latest_metrics ({point}) VALUES ({points}) "
                "ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value, "
                'step = excluded.step, "timestamp" = excluded."timestamp" '
                "WHERE excluded.step > latest_metrics.step OR (excluded.step = "
                'latest_metrics.step AND excluded."timestamp" >= latest_metrics."timestamp")'
            ),
        )


class SqlTrackingStore(SqlExperimentStore):
    """:class:`~cairn.store.base.TrackingStore` on SQLite or PostgreSQL (experiments in
    :mod:`cairn.store.sql.tracking_experiments`)."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str = "",
        parent_id: str | None = None,
        start_time: int | None = None,
        environment: Environment | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        run = new_run(
            experiment_id,
            name=name,
            parent_id=parent_id,
            start_time=start_time,
            environment=environment,
            params=params,
            tags=tags,
        )
        return self._insert_run(run, ())

    def record_run(self, run: Run, metrics: Sequence[Metric] = ()) -> None:
        if not isinstance(run.id, str) or not _RUN_ID.fullmatch(run.id):
            raise InvalidInput(
                f"run id {run.id!r} must be 32 lowercase hexadecimal digits (uuid4().hex)"
            )
        check_time("start_time", run.start_time)
        status = check_status(run.status)
        if status.is_terminal != (run.end_time is not None):
            raise InvalidInput(
                f"run {run.id} is {status.value} with end_time {run.end_time!r}: a RUNNING "
                "run has no end time, an ended one (FINISHED, FAILED, KILLED) has one"
            )
        if run.end_time is not None:
            check_time("end_time", run.end_time)
        self._insert_run(dataclasses.replace(run, status=status), metrics)

    def _insert_run(self, run: Run, metrics: Sequence[Metric]) -> Run:
        """Insert ``run`` (with its params, tags and metric points) in one transaction;
        the run as stored (generated name, redacted values) is returned."""
        experiment_id = run.experiment_id
        exp_id = as_id(str(experiment_id))
        if exp_id is None:
            raise NotFound(
                f"no experiment with id {experiment_id!r}; create it first or pass the id "
                "from get_experiment(name)"
            )
        live_exp_id: int = exp_id
        run = checked_run(dataclasses.replace(run, experiment_id=str(exp_id)))
        parent_id, params, tags = run.parent_id, dict(run.params), dict(run.tags)
        write_metrics = self._metric_writer(run.id, metrics)
        sql = self._driver_sql
        values = run_values(run)
        row = tuple(values[column.name] for column in RUN_INSERT_COLUMNS)

        def insert(conn: Connection) -> None:
            require_live_experiment(conn, live_exp_id, str(experiment_id))
            if parent_id is not None:
                # A deleted run takes no new children, as it takes no new records.
                lifecycle.require_live_run(conn, parent_id, what="parent run")
            result = conn.exec_driver_sql(sql.insert_run, row)
            key = result.scalar_one() if self.db.dialect == "postgresql" else result.lastrowid
            if params:
                conn.exec_driver_sql(sql.insert_param, [(key, k, v) for k, v in params.items()])
            if tags:
                conn.exec_driver_sql(sql.insert_tag, [(key, k, v) for k, v in tags.items()])
            if write_metrics:
                write_metrics(conn, key)

        try:
            self.db.write(insert)
        except IntegrityError:
            # The foreign keys check the experiment and the parent, the unique id a
            # run recorded twice; only a failure pays for finding out which.
            with self.db.read() as conn:
                if not conn.execute(
                    sa.select(t.experiments.c.id).where(t.experiments.c.id == exp_id)
                ).first():
                    raise NotFound(
                        f"no experiment with id {experiment_id!r}; create it first or pass "
                        "the id from get_experiment(name)"
                    ) from None
                if parent_id is not None:
                    self._require_run(conn, parent_id, what="parent run")
                if conn.execute(_RUN_KEY, {"run_id": run.id}).first() is not None:
                    raise AlreadyExists(f"a run with id {run.id} exists already") from None
            raise
        return run

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        metrics: Sequence[Metric] = (),
    ) -> None:
        final = check_end_status(status)
        end = now_ms() if end_time is None else check_time("end_time", end_time)
        write_metrics = self._metric_writer(run_id, metrics)

        end_sql = self._driver_sql.end_run

        def update(conn: Connection) -> None:
            key = lifecycle.require_live_run(conn, run_id)
            if write_metrics:
                write_metrics(conn, key)
            result = conn.exec_driver_sql(end_sql, (final.value, end, run_id))
            if result.rowcount == 0:
                raise _no_run(run_id)

        self._write_for_run(run_id, update)

    def get_run(self, run_id: str) -> Run:
        with self.db.read() as conn:
            row = conn.execute(sa.select(*RUN_COLUMNS).where(t.runs.c.id == run_id)).first()
            if row is None:
                raise _no_run(run_id)
            return hydrate(conn, [row])[0]

    # -- lifecycle (see cairn.store.sql.tracking_lifecycle) ----------------------------------

    def delete_run(self, run_id: str, *, actor: str, force: bool = False) -> Deletion:
        who = _actor(actor)
        now = now_ms()
        return self.db.write(lambda conn: lifecycle.soft_delete(conn, run_id, who, force, now))

    def restore_run(self, run_id: str, *, actor: str) -> Run:
        who = _actor(actor)
        now = now_ms()
        return self.db.write(lambda conn: lifecycle.restore(conn, run_id, who, now))

    def purge_runs(
        self, deleted_before: int, *, actor: str, force: bool = False, dry_run: bool = False
    ) -> PurgeResult:
        cutoff = check_time("deleted_before", deleted_before)
        who = _actor(actor)
        now = now_ms()

        def purge(conn: Connection) -> PurgeResult:
            return lifecycle.purge(conn, cutoff, who, force, dry_run, now)

        if dry_run:
            with self.db.read() as conn:
                return purge(conn)
        return self.db.write(purge)

    def run_events(self, run_id: str) -> list[RunEvent]:
        with self.db.read() as conn:
            return lifecycle.events(conn, run_id)

    # -- logging ------------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Record metric points, params and tags in one transaction.

        A metric point's timestamp of 0 means "now". NaN and infinite values are stored
        as given; a NaN never satisfies a numeric comparison in a search.
        """
        params = dict(params or {})
        tags = dict(tags or {})
        check_strings("param", params)
        check_strings("tag", tags)
        params, tags = redact_secrets(params), redact_secrets(tags)
        write_metrics = self._metric_writer(run_id, metrics)

        def write(conn: Connection) -> None:
            key = lifecycle.require_live_run(conn, run_id)
            if params:
                self._add_params(conn, run_id, key, params)
            if tags:
                stmt = self._statements["tags"]
                conn.execute(
                    stmt, [{"run_key": key, "key": k, "value": v} for k, v in tags.items()]
                )
            if write_metrics:
                write_metrics(conn, key)

        self._write_for_run(run_id, write)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        m = t.metrics
        with self.db.read() as conn:
            run_key = self._require_run(conn, run_id)
            rows = conn.execute(
                sa.select(m.c.value, m.c.step, m.c.timestamp)
                .where(m.c.run_key == run_key, m.c.key == key)
                .order_by(m.c.step, m.c.timestamp, m.c.id)
            ).all()
        return [Metric(key, load_float(v), s, ts) for v, s, ts in rows]

    def log_io(self, run_id: str, items: Iterable[RunIO]) -> None:
        edges = {(io.direction, io.name): io for io in check_run_io(items)}  # last one wins
        rows = [
            {"direction": io.direction, "name": io.name, "role": io.role,
             "digest": io.digest, "kind": io.kind, "size": io.size}
            for io in edges.values()
        ]  # fmt: skip

        def write(conn: Connection) -> None:
            key = lifecycle.require_live_run(conn, run_id)
            if rows:
                conn.execute(self._statements["io"], [{"run_key": key, **row} for row in rows])

        self.db.write(write)

    # -- queries ------------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> Page[Run]:
        """Runs matching ``filter`` (see :mod:`cairn.store.filters`), one page at a time."""
        check_view(view)
        if isinstance(order_by, str):
            order_by = [order_by]
        expr = parse_filter(filter or "")
        keys = parse_order_by(order_by)
        filters_sql.check_max_results(max_results)
        exp_ids = None if experiment_ids is None else _experiment_ids(experiment_ids)
        fingerprint = filters_sql.query_fingerprint(exp_ids, filter, list(order_by), view)
        offset = filters_sql.decode_page_token(page_token, fingerprint)
        if exp_ids == []:
            return Page(())

        source, terms = filters_sql.ordered_runs(keys)
        stmt = sa.select(*RUN_COLUMNS).select_from(source)
        if exp_ids is not None:
            stmt = stmt.where(t.runs.c.experiment_id.in_(exp_ids))
        if expr is not None:
            stmt = stmt.where(filters_sql.compile_filter(expr, self.db.dialect))
        with self.db.read() as conn:
            # The runs of a deleted experiment count as deleted while it is.
            gone = deleted_experiment_ids(conn) if view != "all" else []
            if view == "active":
                stmt = stmt.where(t.runs.c.deleted_at.is_(None))
                if gone:
                    stmt = stmt.where(t.runs.c.experiment_id.not_in(gone))
            elif view == "deleted":
                deleted: sa.ColumnElement[bool] = t.runs.c.deleted_at.is_not(None)
                if gone:
                    deleted = deleted | t.runs.c.experiment_id.in_(gone)
                stmt = stmt.where(deleted)
            stmt = stmt.order_by(*terms).limit(max_results + 1).offset(offset)
            # The driver's rows, not SQLAlchemy's: these columns need no type processing
            # and wrapping a thousand rows costs more than the query (see hydrate()).
            result = conn.execute(stmt)
            rows = result.cursor.fetchall()
            result.close()
            runs = hydrate(conn, rows[:max_results])
        more = len(rows) > max_results
        token = filters_sql.encode_page_token(offset + max_results, fingerprint) if more else None
        return Page(tuple(runs), token)

    def runs_for_digest(self, digest: str, direction: Direction | None = None) -> list[Run]:
        if direction not in (None, "input", "output"):
            raise InvalidInput(f"direction must be 'input', 'output' or None, not {direction!r}")
        edges = sa.select(t.run_io.c.run_key).where(t.run_io.c.digest == digest)
        if direction is not None:
            edges = edges.where(t.run_io.c.direction == direction)
        stmt = (
            sa.select(*RUN_COLUMNS)
            .where(t.runs.c.run_key.in_(edges), t.runs.c.deleted_at.is_(None))
            .order_by(t.runs.c.start_time.desc(), t.runs.c.id.desc())
        )
        with self.db.read() as conn:
            return hydrate(conn, conn.execute(stmt).all())

    def referenced_digests(self) -> Iterator[str]:
        io = t.run_io
        with self.db.read() as conn:
            digests = (
                conn.execute(sa.select(io.c.digest).where(io.c.kind != EXTERNAL).distinct())
                .scalars()
                .all()
            )
        return iter(digests)

    # -- helpers ------------------------------------------------------------------------------

    def _metric_writer(
        self, run_id: str, metrics: Sequence[Metric]
    ) -> Callable[[Connection, int], None] | None:
        """Validate points now; return what writes them inside a transaction (or None),
        given the run's key.

        Rows go to the driver as tuples through one prepared statement per table:
        building SQLAlchemy parameter dictionaries costs more than the insert itself.
        """
        if not metrics:
            return None
        points = [(k, store_float(v), s, ts) for k, v, s, ts in metric_tuples(metrics, now_ms())]
        latest: dict[str, tuple[str, float | None, int, int]] = {}
        for point in points:  # the point with the highest (step, timestamp), later wins ties
            old = latest.get(point[0])
            if old is None or (point[2], point[3]) >= (old[2], old[3]):
                latest[point[0]] = point
        sql = self._driver_sql

        def write(conn: Connection, run_key: int) -> None:
            rows = [(run_key, k, v, s, ts) for k, v, s, ts in points]
            conn.exec_driver_sql(sql.insert_metric, rows)
            newest = [(run_key, k, v, s, ts) for k, v, s, ts in latest.values()]
            conn.exec_driver_sql(sql.upsert_latest, newest)

        return write

    @functools.cached_property
    def _driver_sql(self) -> _DriverSql:
        return _DriverSql.for_dialect(self.db.dialect)

    def _write_for_run(self, run_id: str, fn: Any) -> None:
        """``db.write(fn)``, turning a foreign-key failure on ``run_id`` into NotFound."""
        try:
            self.db.write(fn)
        except IntegrityError:
            with self.db.read() as conn:
                self._require_run(conn, run_id)
            raise

    def _require_run(self, conn: Connection, run_id: str, what: str = "run") -> int:
        """The key of run ``run_id``; NotFound if there is none."""
        key = conn.execute(_RUN_KEY, {"run_id": run_id}).scalar()
        if key is None:
            raise _no_run(run_id, what)
        return int(key)

    def _add_params(
        self, conn: Connection, run_id: str, run_key: int, params: dict[str, str]
    ) -> None:
        query = sa.select(t.params.c.key, t.params.c.value).where(
            t.params.c.run_key == run_key, among(t.params.c.key, list(params), conn)
        )
        existing: dict[str, str] = {k: v for k, v in conn.execute(query).all()}
        for key, old in existing.items():
            if params[key] != old:
                raise InvalidInput(
                    f"param {key!r} of run {run_id} is already {old!r}, cannot change it to "
                    f"{params[key]!r}: params are write-once; log it under another key or "
                    "start a new run"
                )
        new = [(run_key, k, v) for k, v in params.items() if k not in existing]
        if new:
            conn.exec_driver_sql(self._driver_sql.insert_param, new)

    @functools.cached_property
    def _statements(self) -> dict[str, Any]:
        """Upserts in this database's dialect, built once (statement building is not free)."""
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert

        def upsert(table: sa.Table, keys: list[str], updates: list[str]) -> Any:
            stmt = insert(table)
            return stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in updates}
            )

        return {
            "tags": upsert(t.tags, ["run_key", "key"], ["value"]),
            "io": upsert(
                t.run_io, ["run_key", "direction", "name"], ["role", "digest", "kind", "size"]
            ),
        }


# -- rows <-> dataclasses ---------------------------------------------------------------------


_no_run = lifecycle.no_run


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or len(actor) > 255:
        raise InvalidInput(f"actor must be a string of at most 255 characters: {actor!r}")
    return actor


def _experiment_ids(ids: Sequence[str]) -> list[int]:
    if isinstance(ids, str):
        ids = [ids]
    out = []
    for x in ids:
        exp_id = as_id(str(x))
        if exp_id is None:
            raise InvalidInput(
                f"experiment id {x!r} is not an id; pass ids (get_experiment(name).id finds one)"
            )
        out.append(exp_id)
    return sorted(set(out))
