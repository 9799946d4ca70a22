"""The access store protocol: users, API tokens, grants and the audit log.

The store keeps records; deciding who may do what is :mod:`cairn.access`'s job. A token
is stored by its id (shown in listings, used to revoke) and a digest of the secret: the
secret itself is never stored and never returned, and :meth:`AccessStore.verify_token`
compares digests inside the store so no digest leaves it either.

The audit log is append-only. A mutation's entry is written by the SQL backend in the
same transaction as the change: :mod:`cairn.access` sets :data:`AUDIT_SCOPE` around the
mutation, and ``SqlDatabase.write`` inserts the entry (and, for a resource the mutation
creates, the creator's grant) on the scope's first committed write. When the scope ends
without a write (a no-op) or with an exception, :mod:`cairn.access` records the entry
itself through :meth:`AccessStore.record_audit`.

``tests/access/test_access_store.py`` holds every backend to this contract.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from cairn.errors import InvalidInput

Level = Literal["read", "edit", "manage"]
LEVELS: tuple[Level, ...] = ("read", "edit", "manage")
GrantKind = Literal["experiment", "model", "dataset", "pipeline"]
GRANT_KINDS: tuple[GrantKind, ...] = ("experiment", "model", "dataset", "pipeline")
AuditResult = Literal["ok", "noop", "denied", "error"]

_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def check_user_name(name: str) -> str:
    """``name`` if it is a valid user name; ``InvalidInput`` naming it otherwise."""
    if not isinstance(name, str) or not _USER.fullmatch(name):
        raise InvalidInput(
            f"invalid user name {name!r}: use 1-128 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_level(level: str) -> Level:
    """``level`` if it is ``read``, ``edit`` or ``manage``; ``InvalidInput`` otherwise."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown access level {level!r}: use one of {', '.join(LEVELS)}")
    return level


def check_kind(kind: str) -> GrantKind:
    """``kind`` if grants can name it; ``InvalidInput`` listing the kinds otherwise."""
    if kind not in GRANT_KINDS:
        raise InvalidInput(
            f"unknown resource kind {kind!r}: use one of {', '.join(GRANT_KINDS)} "
            "(as in model:churn)"
        )
    return kind


@dataclass(frozen=True, slots=True)
class User:
    name: str
    is_admin: bool
    disabled: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class NewToken:
    """What ``create_token`` stores: ``digest`` is the hex digest of the whole secret."""

    id: str
    user: str
    digest: str = field(repr=False)
    label: str = ""
    read_only: bool = False
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A token as listed: never its secret or digest."""

    id: str
    user: str
    label: str
    read_only: bool
    created_at: int
    expires_at: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class Grant:
    """``user`` holds ``level`` on the resource ``kind:name``."""

    user: str
    kind: GrantKind
    name: str
    level: Level
    granted_by: str
    created_at: int


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    user: str
    operation: str
    kind: str
    resource: str
    result: AuditResult
    address: str = ""
    token_id: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    user: str
    operation: str
    kind: str
    resource: str
    result: AuditResult
    address: str
    token_id: str
    detail: str


@dataclass(slots=True)
class AuditScope:
    """One mutation in progress, as the SQL write path sees it through :data:`AUDIT_SCOPE`.

    ``entry`` is inserted (with result ``ok``) in the transaction of the first write that
    commits; ``creator_grant`` too, when the mutation creates its resource. ``seq`` is
    the entry's number once committed (``None`` before).
    """

    entry: NewAuditEntry
    creator_grant: Grant | None = None
    seq: int | None = None


#: The mutation the current context is performing (set by ``cairn.access``); ``None``
#: outside a mutation, which makes the write path's check one lookup.
AUDIT_SCOPE: ContextVar[AuditScope | None] = ContextVar("cairn_audit_scope", default=None)


@runtime_checkable
class AccessStore(Protocol):
    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        """A new enabled user; ``AlreadyExists`` if the name is taken."""
        ...

    def get_user(self, name: str) -> User:
        """``NotFound`` naming the user if there is none."""
        ...

    def list_users(self) -> list[User]: ...

    def update_user(
        self, name: str, *, is_admin: bool | None = None, disabled: bool | None = None
    ) -> User:
        """Change the admin or disabled flag (``None`` keeps it); ``NotFound`` otherwise."""
        ...

    def create_token(self, new: NewToken) -> Token:
        """Store a token for an existing user; ``NotFound`` for an unknown user."""
        ...

    def verify_token(self, token_id: str, digest: str) -> Token | None:
        """The token with this id if ``digest`` matches its stored digest (compared in
        constant time), whatever its expiry or revocation; ``None`` otherwise."""
        ...

    def list_tokens(self, user: str | None = None) -> list[Token]: ...

    def revoke_token(self, token_id: str) -> Token:
        """Revoke (idempotent: the first revocation time is kept); ``NotFound`` otherwise."""
        ...

    def set_grant(
        self, user: str, kind: str, name: str, level: str | None, *, granted_by: str
    ) -> Grant | None:
        """Give ``user`` ``level`` on ``kind:name`` (replacing any level held), or with
        ``level=None`` take it away (``NotFound`` if there was none)."""
        ...

    def list_grants(
        self, *, user: str | None = None, kind: str | None = None, name: str | None = None
    ) -> list[Grant]:
        """Grants matching every filter given."""
        ...

    def record_audit(self, entry: NewAuditEntry) -> AuditEntry:
        """Append one entry in its own transaction."""
        ...

    def list_audit(
        self,
        *,
        since: int | None = None,
        user: str | None = None,
        kind: str | None = None,
        resource: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Entries at or after ``since`` (ms) matching the filters, newest first."""
        ...
