"""The token guard: who is asking, may they, and the audit entry of what they changed.

:class:`TokenGuard` implements :class:`cairn.access.types.Guard` over a metadata
backend's :class:`~cairn.store.access.AccessStore`:

- :meth:`~TokenGuard.authenticate` turns ``Authorization: Bearer <token>`` into a
  :class:`~cairn.access.types.Principal`, refusing a missing, malformed, unknown,
  expired or revoked token and a disabled user. No message names the token itself.
- :meth:`~TokenGuard.authorize`: admins may do anything (with a read-only token: read
  anything); a read-only token only reads; otherwise the user's grant on the resource
  or the policy's default level decides, and creating a resource needs only
  ``allow_create``. ``server`` resources are the admins' alone; ``user`` resources
  (tokens, grants) their user's and the admins'; ``artifact`` objects any caller's.
- :meth:`~TokenGuard.mutation` scopes one change. The SQL store writes its audit entry
  in the change's own transaction; a scope that wrote nothing, or raised, is recorded
  here in a transaction of its own (``noop``, ``denied`` or ``error``).

Example:
    >>> guard = TokenGuard(backend)  # doctest: +SKIP
    >>> who = guard.authenticate(request.headers.get("authorization"))  # doctest: +SKIP
    >>> guard.authorize(who, "edit", Resource("model", "churn"))  # doctest: +SKIP
    >>> with guard.mutation(who, "10.0.0.7", "registry.set_alias", Resource("model", "churn")):
    ...     backend.registry.set_alias("churn", "staging", 3, actor=who.user)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cairn.access import tokens
from cairn.access.policy import AccessPolicy, rank
from cairn.access.types import Action, Principal, Resource
from cairn.credentials import redact
from cairn.errors import NotFound, PermissionDenied, Unauthenticated
from cairn.store.access import (
    AUDIT_SCOPE,
    GRANT_KINDS,
    AuditResult,
    AuditScope,
    Grant,
    NewAuditEntry,
)

if TYPE_CHECKING:
    from cairn.store.base import MetadataBackend

log = logging.getLogger(__name__)

_LOGIN_HINT = "create one with `cairn tokens create` and sign in with `cairn login`"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


#: Most tokens remembered at once (only tokens that opened something are).
_CACHE_SIZE = 10_000


class TokenGuard:
    """The guard of a server with users: bearer tokens, grants and the audit log.

    ``cache_seconds`` > 0 remembers a token that authenticated for that long, so a
    client's next requests skip the two look-ups (the server uses 2 s). A token revoked,
    a user disabled or changed through this guard's server process is forgotten at once;
    through another process (another server, the CLI on the database), it still opens
    this process for at most ``cache_seconds``. Expiry is checked on every request.
    """

    def __init__(
        self,
        backend: MetadataBackend,
        policy: AccessPolicy | None = None,
        *,
        cache_seconds: float = 0.0,
    ) -> None:
        self.backend = backend
        self.policy = policy or AccessPolicy()
        self.cache_seconds = cache_seconds
        #: credential -> (principal, token expiry in ms, monotonic time to forget it)
        self._checked: dict[str, tuple[Principal, int | None, float]] = {}

    # -- authenticate ------------------------------------------------------------------

    def known(self, authorization: str | None) -> Principal | None:
        hit = self._checked.get((authorization or "").strip())
        if hit is None:
            return None
        principal, expires_at, until = hit
        if time.monotonic() >= until or (expires_at is not None and expires_at <= _now_ms()):
            return None  # authenticate() looks again (and says why it refuses)
        return principal

    def forget_tokens(self) -> None:
        """Look every token up again (after a change to users or tokens)."""
        self._checked.clear()

    def authenticate(self, authorization: str | None) -> Principal:
        principal = self.known(authorization)
        if principal is not None:
            return principal
        principal, expires_at = self._authenticate(authorization)
        if self.cache_seconds > 0:
            if len(self._checked) >= _CACHE_SIZE:
                self._checked.clear()
            until = time.monotonic() + self.cache_seconds
            self._checked[(authorization or "").strip()] = (principal, expires_at, until)
        return principal

    def _authenticate(self, authorization: str | None) -> tuple[Principal, int | None]:
        scheme, _, credential = (authorization or "").strip().partition(" ")
        if not scheme:
            raise Unauthenticated(f"this server needs an API token: {_LOGIN_HINT}")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated(
                "send the API token as `Authorization: Bearer <token>`; " + _LOGIN_HINT
            )
        token_id = tokens.parse_token(credential)
        if token_id is None:
            raise Unauthenticated(
                "the credential offered is not a Cairn API token (cairn_<id>_<secret>); "
                + _LOGIN_HINT
            )
        access = self.backend.access
        token = access.verify_token(token_id, tokens.digest(credential))
        if token is None:
            self._refused(token_id, "", "unknown token")
            raise Unauthenticated(f"unknown API token (id {token_id}); {_LOGIN_HINT}")
        if token.revoked_at is not None:
            self._refused(token_id, token.user, "revoked token")
            raise Unauthenticated(
                f"API token {token_id} was revoked on {_when(token.revoked_at)}; {_LOGIN_HINT}"
            )
        if token.expires_at is not None and token.expires_at <= _now_ms():
            self._refused(token_id, token.user, "expired token")
            raise Unauthenticated(
                f"API token {token_id} expired on {_when(token.expires_at)}; {_LOGIN_HINT}"
            )
        try:
            user = access.get_user(token.user)
        except NotFound:
            user = None
        if user is None or user.disabled:
            self._refused(token_id, token.user, "disabled user")
            raise Unauthenticated(
                f"user {token.user!r} is disabled; a server admin can enable them with "
                f"`cairn users enable {token.user}`"
            )
        principal = Principal(
            user=user.name, is_admin=user.is_admin, token_id=token.id, read_only=token.read_only
        )
        return principal, token.expires_at

    def _refused(self, token_id: str, user: str, reason: str) -> None:
        self._record(
            NewAuditEntry(
                user=user,
                operation="authenticate",
                kind="server",
                resource="",
                result="denied",
                token_id=token_id,
                detail=reason,
            )
        )

    # -- authorize ---------------------------------------------------------------------

    def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        try:
            self._decide(principal, action, resource)
        except PermissionDenied as exc:
            # Inside a mutation scope the scope records the refusal; a refused read is
            # not recorded (reads are not audited).
            if AUDIT_SCOPE.get() is None and action != "read":
                self._record(
                    _entry(principal, "", f"authorize.{action}", resource, "denied", str(exc))
                )
            raise

    def action_for_alias(self, alias: str) -> Action:
        return self.policy.action_for_alias(alias)

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> bool:
        """:meth:`authorize` as a yes/no (for filtering listings); records nothing."""
        try:
            self._decide(principal, action, resource)
        except PermissionDenied:
            return False
        return True

    def _decide(self, principal: Principal, action: Action, resource: Resource) -> None:
        what = f"{resource.kind} {resource.name!r}" if resource.name else f"{resource.kind}s"
        if action != "read" and principal.read_only:
            raise PermissionDenied(
                f"token {principal.token_id} is read-only: it cannot {action} {what}; "
                "use a token made without --read-only"
            )
        if principal.is_admin:
            return
        if resource.kind == "artifact" and action != "manage":
            # Objects are shared by every record and named by a 256-bit digest that only
            # a readable record reveals: any caller may read one, any writing token add.
            return
        if resource.kind == "user" and resource.name == principal.user:
            return  # one's own tokens and grants (read-only tokens stopped above)
        if resource.kind == "user" and resource.name is not None:
            raise PermissionDenied(
                f"{principal.user} may not {action} the tokens or grants of another user; "
                "ask a server admin"
            )
        if resource.kind in ("server", "user") or resource.kind not in GRANT_KINDS:
            raise PermissionDenied(
                f"only server admins may {action} {what}; ask an admin "
                "(`cairn users ls` lists them)"
            )
        if resource.name is None:
            if action == "read" or (action == "edit" and self.policy.allow_create):
                return
            raise PermissionDenied(f"{principal.user} may not {action} {what}; ask a server admin")
        if rank(self.policy.default_level) >= rank(action):
            return  # everyone holds it: no grant to look up
        level = self._level(principal.user, resource)
        if rank(level) >= rank(action):
            return
        if (
            action == "edit"
            and self.policy.allow_create
            and not resource.known
            and not self._exists(resource)
        ):
            return  # creating it
        raise PermissionDenied(
            f"{principal.user} may not {action} {what} (they hold "
            f"{level or 'no access'}); someone with manage on it can run "
            f"`cairn grant {principal.user} {action} {resource.kind}:{resource.name}`"
        )

    def _level(self, user: str, resource: Resource) -> str | None:
        grants = self.backend.access.list_grants(user=user, kind=resource.kind, name=resource.name)
        levels = [g.level for g in grants] + [self.policy.default_level]
        return max(levels, key=rank)

    def _exists(self, resource: Resource) -> bool:
        name = resource.name
        if name is None:
            return True
        backend = self.backend
        try:
            if resource.kind == "experiment":
                return backend.tracking.get_experiment(name).name == name
            if resource.kind == "model":
                backend.registry.get_model(name)
            elif resource.kind == "dataset":
                backend.datasets.get_version(name)
            elif resource.kind == "pipeline":
                return bool(backend.pipelines.list_runs(pipeline=name, limit=1))
        except NotFound:
            return False
        return True

    # -- mutation ----------------------------------------------------------------------

    def mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> AbstractContextManager[None]:
        return self._mutation(principal, address, operation, resource)

    @contextmanager
    def _mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> Iterator[None]:
        entry = _entry(principal, address, operation, resource, "ok", "")
        creator = None
        # The creator of a resource gets creator_level on it, in the transaction that
        # creates it. Only token users: they exist as users for the grant to name.
        if (
            principal.token_id is not None
            and resource.name is not None
            and resource.kind in GRANT_KINDS
            and not resource.known
            and not self._exists(resource)
        ):
            creator = Grant(
                user=principal.user,
                kind=resource.kind,
                name=resource.name,
                level=self.policy.creator_level,
                granted_by=principal.user,
                created_at=_now_ms(),
            )
        scope = AuditScope(entry=entry, creator_grant=creator)
        reset = AUDIT_SCOPE.set(scope)
        # Users, tokens or grants may change: no principal checked before the change
        # commits is remembered past it.
        forget = operation.startswith("access.")
        try:
            yield
        except Exception as exc:
            if forget:
                self.forget_tokens()
            AUDIT_SCOPE.reset(reset)
            result: AuditResult = (
                "denied" if isinstance(exc, PermissionDenied | Unauthenticated) else "error"
            )
            detail = f"{type(exc).__name__}: {exc}"
            if scope.seq is not None:
                # A write committed before the failure: its entry says ok, this one says
                # how the mutation ended (the log is append-only).
                detail = f"failed after entry {scope.seq} was committed: {detail}"
            self._record(replace(entry, result=result, detail=redact(detail)))
            raise
        except BaseException:
            if forget:
                self.forget_tokens()
            AUDIT_SCOPE.reset(reset)
            raise
        if forget:
            self.forget_tokens()
        AUDIT_SCOPE.reset(reset)
        if scope.seq is None:
            self.backend.access.record_audit(replace(entry, result="noop"))

    def record(
        self,
        principal: Principal,
        address: str,
        operation: str,
        resource: Resource,
        result: AuditResult,
        detail: str = "",
    ) -> None:
        self._record(_entry(principal, address, operation, resource, result, redact(detail)))

    def _record(self, entry: NewAuditEntry) -> None:
        """Record in a transaction of its own; a failure to record does not replace the
        error being reported (it is logged, without the entry's detail)."""
        try:
            self.backend.access.record_audit(entry)
        except Exception as exc:
            log.warning(
                "could not record the audit entry of %s by %s: %s",
                entry.operation,
                entry.user or "(unknown)",
                type(exc).__name__,
            )


def _entry(
    principal: Principal,
    address: str,
    operation: str,
    resource: Resource,
    result: AuditResult,
    detail: str,
) -> NewAuditEntry:
    return NewAuditEntry(
        user=principal.user,
        operation=operation,
        kind=resource.kind,
        resource=resource.name or "",
        result=result,
        address=address,
        token_id=principal.token_id or "",
        detail=detail,
    )
