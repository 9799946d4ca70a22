"""The access store on SQL (SQLite or PostgreSQL).

See :class:`cairn.store.access.AccessStore` for the contract. :func:`write_scope` is the
audit hook ``SqlDatabase.write`` calls inside a mutation's first transaction.
"""

from __future__ import annotations

import functools
import hmac
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store.access import (
    AuditEntry,
    AuditScope,
    Grant,
    NewAuditEntry,
    NewToken,
    Token,
    User,
    check_kind,
    check_level,
    check_user_name,
)
from cairn.store.sql.tables_access import api_tokens as tk
from cairn.store.sql.tables_access import audit_log as al
from cairn.store.sql.tables_access import grants as gr
from cairn.store.sql.tables_access import users as us
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_MAX_DETAIL = 2000
_MAX_LIMIT = 100_000


def _no_user(name: str) -> NotFound:
    return NotFound(f"no user named {name!r}; see `cairn users ls`")


class SqlAccessStore:
    """Users, tokens, grants and the audit log in the workspace's SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    # -- users -----------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        check_user_name(name)
        user = User(name=name, is_admin=bool(is_admin), disabled=False, created_at=now_ms())

        def write(conn: Connection) -> None:
            if conn.execute(sa.select(us.c.name).where(us.c.name == name)).first():
                raise AlreadyExists(f"a user named {name!r} exists; see `cairn users ls`")
            conn.execute(
                us.insert().values(
                    name=name,
                    is_admin=user.is_admin,
                    disabled=False,
                    created_at=user.created_at,
                )
            )

        try:
            self.db.write(write)
        except IntegrityError:  # created by another process in between
            raise AlreadyExists(f"a user named {name!r} exists; see `cairn users ls`") from None
        return user

    def get_user(self, name: str) -> User:
        with self.db.read() as conn:
            row = conn.execute(sa.select(us).where(us.c.name == name)).mappings().first()
        if row is None:
            raise _no_user(name)
        return _user(row)

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(us).order_by(us.c.name)).mappings().all()
        return [_user(r) for r in rows]

    def update_user(
        self, name: str, *, is_admin: bool | None = None, disabled: bool | None = None
    ) -> User:
        values: dict[str, Any] = {}
        if is_admin is not None:
            values["is_admin"] = bool(is_admin)
        if disabled is not None:
            values["disabled"] = bool(disabled)

        def write(conn: Connection) -> None:
            if not values:
                found = conn.execute(sa.select(us.c.name).where(us.c.name == name)).first()
                if found is None:
                    raise _no_user(name)
                return
            if conn.execute(us.update().where(us.c.name == name).values(**values)).rowcount == 0:
                raise _no_user(name)

        self.db.write(write)
        return self.get_user(name)

    # -- tokens ----------------------------------------------------------------------

    def create_token(self, new: NewToken) -> Token:
        if len(new.label) > 128:
            raise InvalidInput(f"token label is {len(new.label)} characters; at most 128")
        token = Token(
            id=new.id,
            user=new.user,
            label=new.label,
            read_only=bool(new.read_only),
            created_at=now_ms(),
            expires_at=new.expires_at,
            revoked_at=None,
        )

        def write(conn: Connection) -> None:
            if conn.execute(sa.select(us.c.name).where(us.c.name == new.user)).first() is None:
                raise _no_user(new.user)
            conn.execute(
                tk.insert().values(
                    id=new.id,
                    user=new.user,
                    digest=new.digest,
                    label=new.label,
                    read_only=token.read_only,
                    created_at=token.created_at,
                    expires_at=new.expires_at,
                    revoked_at=None,
                )
            )

        self.db.write(write)
        return token

    def verify_token(self, token_id: str, digest: str) -> Token | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tk).where(tk.c.id == token_id)).mappings().first()
        if row is None or not hmac.compare_digest(str(row["digest"]), digest):
            return None
        return _token(row)

    def list_tokens(self, user: str | None = None) -> list[Token]:
        query = sa.select(tk).order_by(tk.c.created_at, tk.c.id)
        if user is not None:
            query = query.where(tk.c.user == user)
        with self.db.read() as conn:
            return [_token(r) for r in conn.execute(query).mappings().all()]

    def revoke_token(self, token_id: str) -> Token:
        now = now_ms()

        def write(conn: Connection) -> None:
            found = conn.execute(sa.select(tk.c.id).where(tk.c.id == token_id)).first()
            if found is None:
                raise NotFound(f"no token with id {token_id!r}; see `cairn tokens ls`")
            conn.execute(
                tk.update()
                .where(tk.c.id == token_id, tk.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

        self.db.write(write)
        with self.db.read() as conn:
            return _token(conn.execute(sa.select(tk).where(tk.c.id == token_id)).mappings().one())

    # -- grants ----------------------------------------------------------------------

    def set_grant(
        self, user: str, kind: str, name: str, level: str | None, *, granted_by: str
    ) -> Grant | None:
        kind = check_kind(kind)
        if not name:
            raise InvalidInput(f"a grant names one {kind}: use {kind}:NAME")
        where = (gr.c.user == user, gr.c.kind == kind, gr.c.name == name)
        if level is None:

            def remove(conn: Connection) -> None:
                if conn.execute(gr.delete().where(*where)).rowcount == 0:
                    raise NotFound(
                        f"{user!r} holds no grant on {kind}:{name}; see `cairn grant --list`"
                    )

            self.db.write(remove)
            return None
        grant = Grant(user, kind, name, check_level(level), granted_by, now_ms())

        def write(conn: Connection) -> None:
            if conn.execute(sa.select(us.c.name).where(us.c.name == user)).first() is None:
                raise _no_user(user)
            conn.execute(gr.delete().where(*where))
            conn.execute(gr.insert().values(_grant_row(grant)))

        self.db.write(write)
        return grant

    def list_grants(
        self, *, user: str | None = None, kind: str | None = None, name: str | None = None
    ) -> list[Grant]:
        query = sa.select(gr).order_by(gr.c.kind, gr.c.name, gr.c.user)
        if user is not None:
            query = query.where(gr.c.user == user)
        if kind is not None:
            query = query.where(gr.c.kind == kind)
        if name is not None:
            query = query.where(gr.c.name == name)
        with self.db.read() as conn:
            return [_grant(r) for r in conn.execute(query).mappings().all()]

    # -- audit -----------------------------------------------------------------------

    def record_audit(self, entry: NewAuditEntry) -> AuditEntry:
        at = now_ms()
        seq = self.db.write(lambda conn: insert_audit(conn, entry, at))
        return AuditEntry(seq=seq, at=at, **_entry_values(entry))

    def list_audit(
        self,
        *,
        since: int | None = None,
        user: str | None = None,
        kind: str | None = None,
        resource: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        if not 1 <= limit <= _MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
        query = sa.select(al).order_by(al.c.seq.desc()).limit(limit)
        if since is not None:
            query = query.where(al.c.at >= since)
        if user is not None:
            query = query.where(al.c.user == user)
        if kind is not None:
            query = query.where(al.c.kind == kind)
        if resource is not None:
            query = query.where(al.c.resource == resource)
        with self.db.read() as conn:
            return [_audit(r) for r in conn.execute(query).mappings().all()]


# -- the write-path hook --------------------------------------------------------------


def write_scope(conn: Connection, scope: AuditScope) -> int:
    """Insert the scope's audit entry, and the creator's grant if any, in ``conn``'s
    transaction; returns the entry's number."""
    if scope.creator_grant is not None:
        grant = scope.creator_grant
        exists = conn.execute(
            sa.select(gr.c.level).where(
                gr.c.user == grant.user, gr.c.kind == grant.kind, gr.c.name == grant.name
            )
        ).first()
        if exists is None:
            conn.execute(gr.insert().values(_grant_row(grant)))
    return insert_audit(conn, scope.entry, now_ms())


def insert_audit(conn: Connection, entry: NewAuditEntry, at: int) -> int:
    # One prepared statement for the driver: every mutation pays for this insert.
    values = _entry_values(entry)
    postgres = conn.dialect.name == "postgresql"
    result = conn.exec_driver_sql(_audit_insert(postgres), (at, *values.values()))
    return int(result.scalar_one() if postgres else result.lastrowid)


@functools.cache
def _audit_insert(postgres: bool) -> str:
    columns = ("at", *_entry_values(NewAuditEntry("", "", "server", "", "ok")))
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s" if postgres else "?"] * len(columns))
    returning = " RETURNING seq" if postgres else ""
    return f"INSERT INTO audit_log ({names}) VALUES ({marks}){returning}"


def mark_audit(conn: Connection, seq: int, result: str, detail: str) -> None:
    """Change a committed entry's result (a mutation that failed after its first write)."""
    conn.execute(
        al.update().where(al.c.seq == seq).values(result=result, detail=detail[:_MAX_DETAIL])
    )


# -- rows <-> dataclasses ---------------------------------------------------------------


def _entry_values(entry: NewAuditEntry) -> dict[str, Any]:
    return {
        "user": entry.user[:128],
        "operation": entry.operation[:128],
        "kind": entry.kind[:16],
        "resource": entry.resource[:250],
        "result": entry.result,
        "address": entry.address[:64],
        "token_id": entry.token_id[:32],
        "detail": entry.detail[:_MAX_DETAIL],
    }


def _user(row: Any) -> User:
    return User(
        name=row["name"],
        is_admin=bool(row["is_admin"]),
        disabled=bool(row["disabled"]),
        created_at=int(row["created_at"]),
    )


def _token(row: Any) -> Token:
    return Token(
        id=row["id"],
        user=row["user"],
        label=row["label"],
        read_only=bool(row["read_only"]),
        created_at=int(row["created_at"]),
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def _grant_row(grant: Grant) -> dict[str, Any]:
    return {
        "user": grant.user,
        "kind": grant.kind,
        "name": grant.name,
        "level": grant.level,
        "granted_by": grant.granted_by,
        "created_at": grant.created_at,
    }


def _grant(row: Any) -> Grant:
    return Grant(
        user=row["user"],
        kind=row["kind"],
        name=row["name"],
        level=row["level"],
        granted_by=row["granted_by"],
        created_at=int(row["created_at"]),
    )


def _audit(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        at=int(row["at"]),
        user=row["user"],
        operation=row["operation"],
        kind=row["kind"],
        resource=row["resource"],
        result=row["result"],
        address=row["address"],
        token_id=row["token_id"],
        detail=row["detail"],
    )
