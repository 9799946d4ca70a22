"""One SQL database: engine set-up, write transactions with retry, schema version.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so a writer takes the lock up front: a deferred transaction that
reads first and then writes can get SQLITE_BUSY at once, bypassing the busy handler,
which is how "database is locked" reaches users of other tools under concurrency.
PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from cairn.config import ENV_TRACKING_URI
from cairn.credentials import mask_uri
from cairn.errors import ConfigError, StoreError
from cairn.store.access import AUDIT_SCOPE, AuditScope
from cairn.store.sql import idempotency, migrations

if TYPE_CHECKING:
    from cairn.store.sql.access import SqlAccessStore
    from cairn.store.sql.alerts import SqlAlertStore
    from cairn.store.sql.datasets import SqlDatasetStore
    from cairn.store.sql.pipelines import SqlPipelineStore
    from cairn.store.sql.registry import SqlRegistryStore
    from cairn.store.sql.schedules import SqlScheduleStore
    from cairn.store.sql.tracking import SqlTrackingStore

T = TypeVar("T")

SQLITE_CACHE_KIB = 65536
SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE_RETRIES = 8
_WRITE_OPTION = "cairn_write"


def normalize_url(uri: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def make_engine(uri: str) -> Engine:
    url = normalize_url(uri)
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The default page cache (2 MiB) holds a fraction of a store of 10,000 runs, so
        # every search re-read most pages from the OS; 64 MiB keeps them, and a
        # connection only takes what it has read.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(
        marker in text
        for marker in (
            "database is locked",
            "database is busy",
            "deadlock detected",
            "could not serialize",
            "database table is locked",
        )
    )


def _audit(conn: Connection, scope: AuditScope) -> int:
    from cairn.store.sql.access import write_scope

    return write_scope(conn, scope)


def sqlite_file(uri: str) -> Path | None:
    """The file a ``sqlite:`` URI names; None for another database or an in-memory one."""
    url = sa.engine.make_url(normalize_url(uri))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("mode") == "memory" or url.database.startswith("file::memory:"):
        return None
    return Path(url.database.removeprefix("file:"))


class SqlDatabase:
    """A metadata backend on one SQL database; exposes one store per domain.

    Only ``create=True`` (what ``cairn init`` passes) makes a new database: a SQLite
    file that does not exist, or the tables of an empty database. Otherwise a missing
    SQLite file is refused here, and a database without Cairn's schema on first use:
    a mistyped path must not look like a workspace that holds nothing (which ``cairn
    gc`` would take as "every stored object is garbage").
    """

    def __init__(self, uri: str, *, create: bool = False) -> None:
        path = sqlite_file(uri)
        if path is not None and not create and not path.is_file():
            raise ConfigError(
                f"no metadata database at {path}: run `cairn init` to create a workspace, "
                f"or point {ENV_TRACKING_URI} (or [tracking] uri in cairn.toml) at the "
                "existing database"
            )
        self.uri = uri
        self.engine = make_engine(uri)
        self.dialect = self.engine.dialect.name  # "sqlite" | "postgresql"
        self._lock = threading.Lock()
        self._checked = False
        self._create = create

    # -- domain stores -------------------------------------------------------------

    @cached_property
    def tracking(self) -> SqlTrackingStore:
        from cairn.store.sql.tracking import SqlTrackingStore

        return SqlTrackingStore(self)

    @cached_property
    def datasets(self) -> SqlDatasetStore:
        from cairn.store.sql.datasets import SqlDatasetStore

        return SqlDatasetStore(self)

    @cached_property
    def registry(self) -> SqlRegistryStore:
        from cairn.store.sql.registry import SqlRegistryStore

        return SqlRegistryStore(self)

    @cached_property
    def schedules(self) -> SqlScheduleStore:
        from cairn.store.sql.schedules import SqlScheduleStore

        return SqlScheduleStore(self)

    @cached_property
    def pipelines(self) -> SqlPipelineStore:
        from cairn.store.sql.pipelines import SqlPipelineStore

        return SqlPipelineStore(self)

    @cached_property
    def access(self) -> SqlAccessStore:
        from cairn.store.sql.access import SqlAccessStore

        return SqlAccessStore(self)

    @cached_property
    def alerts(self) -> SqlAlertStore:
        from cairn.store.sql.alerts import SqlAlertStore

        return SqlAlertStore(self)

    # -- transactions --------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (inside a keyed server request that has written: its own
        transaction, so the call reads its own writes)."""
        self.ensure_schema()
        key = idempotency.current()
        if key is not None and key.conn is not None:
            with key.conn.begin_nested():
                yield key.conn
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retried when the database is busy.

        ``fn`` may run more than once, so it must not have effects outside the database.

        Inside a mutation scope (:data:`cairn.store.access.AUDIT_SCOPE`, set by
        ``cairn.access``), the scope's audit entry is inserted in the same transaction
        as the first write that commits: the change and its record land together or not
        at all.
        """
        self.ensure_schema()
        scope = AUDIT_SCOPE.get()
        if scope is not None and scope.seq is not None:
            scope = None  # this mutation's entry is committed already
        key = idempotency.current()
        delay = 0.01
        for attempt in range(WRITE_RETRIES + 1):
            try:
                if key is not None:
                    # A keyed server request: its writes, key and answer share one
                    # transaction, committed by SqlKeyStore.finish (see idempotency).
                    if key.conn is None:
                        key.conn = self._begin_write()
                    # A savepoint lets a retry start over inside the request's
                    # transaction. SQLite needs none: the transaction holds the write
                    # lock from its start (no busy error inside), and a failed statement
                    # undoes itself; a failure fails the request, which rolls back.
                    with nullcontext() if self.dialect == "sqlite" else key.conn.begin_nested():
                        result = fn(key.conn)
                        seq = _audit(key.conn, scope) if scope is not None else None
                        claimed = idempotency.claim_in(key.conn)
                else:
                    conn_ctx = self.engine.connect().execution_options(**{_WRITE_OPTION: True})
                    with conn_ctx as conn, conn.begin():
                        result = fn(conn)
                        seq = _audit(conn, scope) if scope is not None else None
                        claimed = None
                if scope is not None:
                    scope.seq = seq
                if claimed is not None:
                    claimed.claimed = True
                return result
            except (OperationalError, DBAPIError) as exc:
                if not _is_transient(exc) or attempt == WRITE_RETRIES:
                    if _is_transient(exc):
                        raise StoreError(
                            f"the metadata store at {mask_uri(self.uri)} stayed busy after "
                            f"{WRITE_RETRIES} retries: {exc.orig}"
                        ) from exc
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    def _begin_write(self) -> Connection:
        conn = self.engine.connect().execution_options(**{_WRITE_OPTION: True})
        try:
            conn.begin()
        except BaseException:
            conn.close()
            raise
        return conn

    # -- schema ----------------------------------------------------------------------

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self) -> None:
        """Create a new database at head; refuse one that is behind or ahead of this Cairn."""
        if self._checked:
            return
        with self._lock:
            if self._checked:
                return
            head = migrations.head()
            try:
                current = self.current_revision()
            except OperationalError as exc:
                # The first contact with the database: an unreachable server or a refused
                # login is the user's to fix, not an internal error.
                reason = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
                raise StoreError(
                    f"cannot connect to the metadata store at {mask_uri(self.uri)}: "
                    f"{reason}; check that the database server is running and the URI "
                    f"({ENV_TRACKING_URI} or [tracking] uri in cairn.toml) points at it"
                ) from exc
            if current is None and self._create:
                self.upgrade()
            elif current is None:
                raise StoreError(
                    f"the metadata store at {mask_uri(self.uri)} holds no Cairn schema: if this "
                    f"is the database to use, create the tables with `cairn db upgrade`; "
                    f"otherwise check {ENV_TRACKING_URI} and [tracking] uri in cairn.toml"
                )
            elif current != head:
                known = migrations.revisions()
                if current in known:
                    raise StoreError(
                        f"the metadata store at {mask_uri(self.uri)} is at schema {current}, "
                        f"this Cairn needs {head}: run `cairn db upgrade`"
                    )
                raise StoreError(
                    f"the metadata store at {mask_uri(self.uri)} has schema {current!r}, unknown "
                    f"to this Cairn (newest known: {head}); upgrade Cairn"
                )
            self._checked = True

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Apply Alembic migrations; returns (before, after) revisions."""
        from alembic import command
        from alembic.config import Config

        before = self.current_revision()
        cfg = Config()
        cfg.set_main_option("script_location", "cairn.store.sql:migrations")
        with self.engine.connect().execution_options(**{_WRITE_OPTION: True}) as conn:
            if self.dialect == "postgresql":
                with conn.begin():
                    # Serialize concurrent upgrades of one database.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316402)")
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
            else:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
        self._checked = False
        return before, self.current_revision()

    def close(self) -> None:
        self.engine.dispose()
