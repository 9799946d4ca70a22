"""Managing users, tokens and grants: what ``cairn users``, ``cairn tokens``, ``cairn
grant``, ``cairn audit`` and ``cairn server admin create`` call.

Each function takes the :class:`~cairn.store.access.AccessStore` to act on: the
workspace's own database when run on the server's machine, or the server's (which
checks that the caller is an admin) through the REST backend.
"""

from __future__ import annotations

import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cairn.access.tokens import IssuedToken, digest, new_token, parse_expiry
from cairn.access.types import Principal, Resource, ResourceKind
from cairn.errors import AlreadyExists, InvalidInput
from cairn.store.access import (
    GRANT_KINDS,
    AccessStore,
    AuditEntry,
    Grant,
    GrantKind,
    NewToken,
    Token,
    User,
    check_kind,
    check_level,
    check_user_name,
)

if TYPE_CHECKING:
    from cairn.store.base import MetadataBackend

DEFAULT_EXPIRY = "90d"


def local_mutation(
    backend: MetadataBackend,
    actor: str,
    operation: str,
    kind: ResourceKind = "server",
    name: str | None = None,
) -> AbstractContextManager[None]:
    """An audit scope for a change made directly on the store (not through a server):
    recorded like a server mutation, by ``actor`` (the local user) from ``local``.

    Through a server (the REST backend) there is nothing to do here: the server records
    the change, as done by the token's user."""
    from contextlib import nullcontext

    from cairn.access.guard import TokenGuard

    if getattr(backend, "audited_by_server", False):
        return nullcontext()

    principal = Principal(user=actor, is_admin=True)
    return TokenGuard(backend).mutation(principal, "local", operation, Resource(kind, name))


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A token just created: ``secret`` is shown once, then only ``token`` remains."""

    token: Token
    secret: str = field(repr=False)


def issue_token(
    store: AccessStore,
    user: str,
    *,
    label: str = "",
    read_only: bool = False,
    expires: str | None = DEFAULT_EXPIRY,
) -> NewCredential:
    """A new token for ``user`` (``expires`` as in ``30d``, or ``never``/None).

    Raises:
        NotFound: no such user.
        InvalidInput: the user is disabled, or ``expires`` does not parse.
    """
    expires_at = parse_expiry(expires)
    if store.get_user(user).disabled:
        raise InvalidInput(
            f"user {user!r} is disabled; enable them first with `cairn users enable {user}`"
        )
    issued: IssuedToken = new_token()
    token = store.create_token(
        NewToken(
            id=issued.id,
            user=user,
            digest=digest(issued.secret),
            label=label,
            read_only=read_only,
            expires_at=expires_at,
        )
    )
    return NewCredential(token, issued.secret)


def create_admin(
    store: AccessStore, name: str, *, expires: str | None = DEFAULT_EXPIRY
) -> tuple[User, NewCredential]:
    """The first (or another) server admin with a token, in one step.

    A name that exists is refused rather than promoted: promoting someone is
    ``cairn users set NAME --admin``, a deliberate act of its own.
    """
    check_user_name(name)
    parse_expiry(expires)  # refuse a bad expiry before creating anything
    try:
        user = store.create_user(name, is_admin=True)
    except AlreadyExists:
        raise AlreadyExists(
            f"a user named {name!r} exists already; make them an admin with "
            f"`cairn users set {name} --admin`, or give them a new token with "
            f"`cairn tokens create --user {name}`"
        ) from None
    return user, issue_token(store, name, label="created by server admin create", expires=expires)


_RESOURCE = re.compile(r"([a-z]+):(.+)")


def parse_resource(text: str) -> tuple[GrantKind, str]:
    """``model:churn`` -> ``("model", "churn")``.

    Example:
        >>> parse_resource("experiment:churn-2024")
        ('experiment', 'churn-2024')
    """
    match = _RESOURCE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            f"invalid resource {text!r}: write KIND:NAME with KIND one of "
            f"{', '.join(GRANT_KINDS)}, as in model:churn"
        )
    return check_kind(match.group(1)), match.group(2)


def grant(store: AccessStore, user: str, level: str, resource: str, *, granted_by: str) -> Grant:
    kind, name = parse_resource(resource)
    result = store.set_grant(user, kind, name, check_level(level), granted_by=granted_by)
    assert result is not None
    return result


def revoke_grant(store: AccessStore, user: str, resource: str, *, revoked_by: str) -> None:
    kind, name = parse_resource(resource)
    store.set_grant(user, kind, name, None, granted_by=revoked_by)


_SINCE = re.compile(r"(\d{1,6})([mhdw])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``2h``/``7d`` ago, or an ISO date/time (UTC unless it says otherwise), in ms.

    Example:
        >>> parse_since("1h", now_ms=3_600_000)
        0
        >>> parse_since("1970-01-02")
        86400000
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    value = text.strip()
    match = _SINCE.fullmatch(value.lower())
    if match:
        return now - int(match.group(1)) * _UNIT_MS[match.group(2)]
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"invalid --since {text!r}: use a duration ago (30m, 12h, 7d, 2w) or an ISO "
            "date or time (2024-05-01, 2024-05-01T12:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def audit_log(
    store: AccessStore,
    *,
    since: str | None = None,
    user: str | None = None,
    resource: str | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Audit entries, newest first; ``resource`` is ``KIND:NAME`` or a bare ``KIND``."""
    kind: str | None = None
    name: str | None = None
    if resource is not None:
        if ":" in resource:
            kind, name = parse_resource(resource)
        else:
            kind = resource if resource == "server" else check_kind(resource)
    return store.list_audit(
        since=parse_since(since) if since else None,
        user=user,
        kind=kind,
        resource=name,
        limit=limit,
    )
