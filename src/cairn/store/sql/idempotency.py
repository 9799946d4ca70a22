"""Idempotency keys kept in the metadata database, claimed inside the write they guard.

``cairn server`` runs a write that carries an ``Idempotency-Key`` inside
:func:`pending`. The first write transaction the store call commits also inserts the
key (:func:`claim_in`, called by :meth:`SqlDatabase.write`), so "the change happened"
and "the key is taken" commit together: a crash can never leave one without the other.
The answer is recorded just after (:meth:`SqlKeyStore.finish`). A retry of the same key
then gets the recorded answer; a concurrent duplicate fails on the key's primary key
before it changes anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.store.sql.tables_server import idempotency_keys
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase


class KeyTaken(Exception):
    """Another attempt of the same request committed first; nothing was changed."""


@dataclass
class PendingKey:
    key: str
    operation: str
    request_digest: str
    claimed: bool = False
    #: The transaction every write and read of the request runs in, from its first write
    #: until :meth:`SqlKeyStore.finish` commits it (or :func:`pending` rolls it back).
    conn: Connection | None = None
    #: The answer when it is known before the call (a write that returns nothing): the
    #: claim records it, and finish only commits (one statement fewer per request).
    answer: bytes | None = None
    #: Whether the claim recorded :attr:`answer`.
    answered: bool = False

    def release(self) -> None:
        """Close the held connection; uncommitted work is rolled back."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


@dataclass(frozen=True, slots=True)
class StoredKey:
    key: str
    operation: str
    request_digest: str
    status: int | None
    response: bytes | None


_pending: ContextVar[PendingKey | None] = ContextVar("cairn_idempotency_key", default=None)


@contextmanager
def pending(key: PendingKey) -> Iterator[PendingKey]:
    """Writes committed in this block (this thread/context) claim ``key``."""
    token = _pending.set(key)
    try:
        yield key
    except BaseException:
        key.release()  # the call failed: none of its writes, nor the key, are kept
        raise
    finally:
        _pending.reset(token)


def current() -> PendingKey | None:
    """The keyed request this context runs, if any."""
    return _pending.get()


def claim_in(conn: Connection) -> PendingKey | None:
    """Insert the pending key in ``conn``'s transaction, once per request."""
    key = _pending.get()
    if key is None or key.claimed:
        return None
    t = idempotency_keys
    # Write transactions are serialized on SQLite (BEGIN IMMEDIATE); on PostgreSQL a
    # racing duplicate that passes this check still fails on the primary key.
    if conn.execute(sa.select(t.c.key).where(t.c.key == key.key)).first() is not None:
        raise KeyTaken(key.key)
    conn.execute(
        idempotency_keys.insert().values(
            key=key.key,
            operation=key.operation,
            request_digest=key.request_digest,
            created_at=now_ms(),
        )
    )
    return key


@functools.cache
def _statements(mark: str) -> dict[str, str]:
    """The two statements every keyed request runs, for the driver (prepared once)."""
    return {
        "claim": 'INSERT INTO idempotency_keys ("key", operation, request_digest, created_at) '
        f'VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT DO NOTHING RETURNING "key"',
        "claim_answered": "INSERT INTO idempotency_keys "
        '("key", operation, request_digest, created_at, status, response) '
        f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}) "
        'ON CONFLICT DO NOTHING RETURNING "key"',
        "answer": f"UPDATE idempotency_keys SET status = {mark}, response = {mark} "
        f'WHERE "key" = {mark}',
    }


def _sql(conn: Connection) -> dict[str, str]:
    return _statements("%s" if conn.dialect.name == "postgresql" else "?")


class SqlKeyStore:
    """Recorded answers of keyed writes."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def get(self, key: str) -> StoredKey | None:
        t = idempotency_keys
        with self.db.read() as conn:
            row = conn.execute(sa.select(t).where(t.c.key == key)).first()
        if row is None:
            return None
        return StoredKey(row.key, row.operation, row.request_digest, row.status, row.response)

    def claim(self, key: PendingKey) -> bool:
        """Open the request's transaction and insert its key first; False (and nothing
        held) when the key is taken: the request was sent before, replay its answer.

        One statement instead of a look-up followed by a claim at the first write. On
        PostgreSQL a racing duplicate waits on the key's row until the first attempt
        commits or rolls back, then sees the key taken or takes it.
        """
        conn = self.db._begin_write()
        try:
            row: tuple[Any, ...] = (key.key, key.operation, key.request_digest, now_ms())
            statement = "claim"
            if key.answer is not None:
                row, statement = (*row, 200, key.answer), "claim_answered"
            # RETURNING says whether a row went in (rowcount is not reliable with it).
            if conn.exec_driver_sql(_sql(conn)[statement], row).first() is None:
                conn.close()
                return False
            key.answered = key.answer is not None
        except BaseException:
            conn.close()
            raise
        key.conn, key.claimed = conn, True
        return True

    def finish(self, key: PendingKey, status: int, response: bytes) -> None:
        """Record the answer and commit it with the call's writes (inserting the key if
        the call wrote nothing)."""
        t = idempotency_keys
        if key.conn is not None:
            conn = key.conn
            try:
                if not (key.answered and status == 200 and response == key.answer):
                    conn.exec_driver_sql(_sql(conn)["answer"], (status, response, key.key))
                conn.commit()
            finally:
                key.release()
            return

        def record(conn: Connection) -> None:
            if key.claimed:
                conn.execute(
                    t.update().where(t.c.key == key.key).values(status=status, response=response)
                )
                return
            exists = conn.execute(sa.select(t.c.key).where(t.c.key == key.key)).first()
            if exists is None:
                conn.execute(
                    t.insert().values(
                        key=key.key,
                        operation=key.operation,
                        request_digest=key.request_digest,
                        status=status,
                        response=response,
                        created_at=now_ms(),
                    )
                )

        token = _pending.set(None)  # this write is the bookkeeping, not the change
        try:
            self.db.write(record)
        finally:
            _pending.reset(token)

    def expire(self, before: int) -> int:
        """Forget keys older than ``before`` (ms); returns how many."""
        t = idempotency_keys
        return int(
            self.db.write(lambda c: c.execute(t.delete().where(t.c.created_at < before))).rowcount
        )
