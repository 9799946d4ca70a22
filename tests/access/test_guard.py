"""The token guard's decisions, table-driven, on a real store (SQLite; the store
contract runs on PostgreSQL too)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from access_helpers import user_maker as _maker

from cairn.access.admin import NewCredential, issue_token
from cairn.access.guard import TokenGuard
from cairn.access.policy import AccessPolicy
from cairn.access.types import Action, Principal, Resource
from cairn.errors import PermissionDenied, Unauthenticated
from cairn.store.registry import NewModelVersion
from cairn.store.sql.database import SqlDatabase


@pytest.fixture
def world(sqlite_backend: SqlDatabase) -> dict[str, NewCredential]:
    """root (admin), owner (created model churn), reader/editor/manager (granted on
    churn), stranger (no grant), ro (read-only token of the manager), ro_admin."""
    db = sqlite_backend
    make = _maker(db)
    creds = {
        "root": make("root", admin=True),
        "owner": make("owner"),
        "reader": make("reader"),
        "editor": make("editor"),
        "manager": make("manager"),
        "stranger": make("stranger"),
    }
    creds["ro"] = make("manager", read_only=True)
    creds["ro_admin"] = make("root", read_only=True)
    guard = TokenGuard(db)
    owner = guard.authenticate(f"Bearer {creds['owner'].secret}")
    with guard.mutation(owner, "10.0.0.2", "registry.create_version", Resource("model", "churn")):
        db.registry.create_version(NewModelVersion("churn", "0" * 64, "sklearn"))
    for user, level in [("reader", "read"), ("editor", "edit"), ("manager", "manage")]:
        db.access.set_grant(user, "model", "churn", level, granted_by="owner")
    return creds


CHURN = Resource("model", "churn")
DEFAULT = AccessPolicy()


@dataclass(frozen=True)
class Case:
    who: str
    action: Action
    resource: Resource
    allowed: bool
    policy: AccessPolicy = DEFAULT


CASES = {
    "admin manages anything": Case("root", "manage", CHURN, True),
    "admin manages the server": Case("root", "manage", Resource("server"), True),
    "creator got manage": Case("owner", "manage", CHURN, True),
    "read grant reads": Case("reader", "read", CHURN, True),
    "read grant cannot edit": Case("reader", "edit", CHURN, False),
    "edit grant edits": Case("editor", "edit", CHURN, True),
    "edit grant cannot manage": Case("editor", "manage", CHURN, False),
    "manage grant manages": Case("manager", "manage", CHURN, True),
    "default read lets anyone read": Case("stranger", "read", CHURN, True),
    "default read does not let anyone edit": Case("stranger", "edit", CHURN, False),
    "default none hides it": Case("stranger", "read", CHURN, False, AccessPolicy(None)),
    "default edit lets anyone edit": Case("stranger", "edit", CHURN, True, AccessPolicy("edit")),
    "anyone creates a new model": Case("stranger", "edit", Resource("model", "new"), True),
    "creating can be for admins only": Case(
        "stranger", "edit", Resource("model", "new"), False, AccessPolicy(allow_create=False)
    ),
    "read-only token reads": Case("ro", "read", CHURN, True),
    "read-only token cannot edit": Case("ro", "edit", CHURN, False),
    "read-only admin token cannot edit": Case("ro_admin", "edit", CHURN, False),
    "non-admin cannot touch the server": Case("manager", "read", Resource("server"), False),
    "protected alias needs manage (editor)": Case(
        "editor", AccessPolicy().action_for_alias("production"), CHURN, False
    ),
    "protected alias with manage": Case(
        "manager", AccessPolicy().action_for_alias("production"), CHURN, True
    ),
    "other alias needs edit": Case(
        "editor", AccessPolicy().action_for_alias("staging"), CHURN, True
    ),
    "configured protected alias": Case(
        "editor",
        AccessPolicy(protected_aliases=("production", "staging")).action_for_alias("staging"),
        CHURN,
        False,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_guard_decides(
    case: Case, world: dict[str, NewCredential], sqlite_backend: SqlDatabase
) -> None:
    guard = TokenGuard(sqlite_backend, case.policy)
    principal = guard.authenticate(f"Bearer {world[case.who].secret}")
    if case.allowed:
        guard.authorize(principal, case.action, case.resource)
    else:
        with pytest.raises(PermissionDenied) as caught:
            guard.authorize(principal, case.action, case.resource)
        assert world[case.who].secret not in str(caught.value)
    assert guard.allowed(principal, case.action, case.resource) is case.allowed


def test_a_refused_change_is_recorded_and_a_refused_read_is_not(
    world: dict[str, NewCredential], sqlite_backend: SqlDatabase
) -> None:
    guard = TokenGuard(sqlite_backend)
    reader = guard.authenticate(f"Bearer {world['reader'].secret}")
    with pytest.raises(PermissionDenied):
        guard.authorize(reader, "edit", CHURN)
    guard2 = TokenGuard(sqlite_backend, AccessPolicy(None))
    with pytest.raises(PermissionDenied):
        guard2.authorize(guard2.authenticate(f"Bearer {world['stranger'].secret}"), "read", CHURN)
    denied = sqlite_backend.access.list_audit(user="reader")
    assert [(e.operation, e.result, e.resource) for e in denied] == [
        ("authorize.edit", "denied", "churn")
    ]
    assert sqlite_backend.access.list_audit(user="stranger") == []


def _expire(db: SqlDatabase, token_id: str, in_ms: int = -1) -> None:
    import sqlalchemy as sa

    with db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE api_tokens SET expires_at = :t WHERE id = :id"),
            {"t": int(time.time() * 1000) + in_ms, "id": token_id},
        )


REFUSALS: dict[str, tuple[Callable[[SqlDatabase, NewCredential], str | None], str]] = {
    "no header": (lambda db, c: None, "needs an API token"),
    "basic auth": (lambda db, c: f"Basic {c.secret}", "Authorization: Bearer"),
    "not a cairn token": (lambda db, c: "Bearer hunter2-password", "not a Cairn API token"),
    "unknown id": (
        lambda db, c: "Bearer " + c.secret.replace(c.token.id, "0" * 12),
        "unknown API token",
    ),
    "wrong secret": (lambda db, c: f"Bearer {c.secret[:-2]}zz", "unknown API token"),
    "revoked": (
        lambda db, c: (db.access.revoke_token(c.token.id), f"Bearer {c.secret}")[1],
        "was revoked",
    ),
    "expired": (
        lambda db, c: (_expire(db, c.token.id), f"Bearer {c.secret}")[1],
        "expired on",
    ),
    "disabled user": (
        lambda db, c: (db.access.update_user("alice", disabled=True), f"Bearer {c.secret}")[1],
        "'alice' is disabled",
    ),
}


@pytest.mark.parametrize(("attack", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_authenticate_refuses_without_echoing_the_token(
    attack: Callable[[SqlDatabase, NewCredential], str | None],
    message: str,
    sqlite_backend: SqlDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cred = _maker(sqlite_backend)("alice")
    header = attack(sqlite_backend, cred)
    guard = TokenGuard(sqlite_backend)
    with caplog.at_level("DEBUG"), pytest.raises(Unauthenticated) as caught:
        guard.authenticate(header)
    text = str(caught.value)
    assert message in text
    secret_part = cred.secret.split("_", 2)[2]  # cairn_<id>_<secret>; the secret may hold "_"
    for shown in (text, caplog.text, repr(sqlite_backend.access.list_audit())):
        assert secret_part not in shown and "hunter2" not in shown
        if header:
            assert header.split(" ", 1)[1] not in shown


def test_a_valid_token_is_its_user(sqlite_backend: SqlDatabase) -> None:
    make = _maker(sqlite_backend)
    cred = make("alice", read_only=True, expires=None)
    principal = TokenGuard(sqlite_backend).authenticate(f"bearer  {cred.secret} ")
    assert principal == Principal("alice", is_admin=False, token_id=cred.token.id, read_only=True)


def test_a_disabled_user_gets_no_new_token(sqlite_backend: SqlDatabase) -> None:
    from cairn.errors import InvalidInput

    _maker(sqlite_backend)("alice")
    sqlite_backend.access.update_user("alice", disabled=True)
    with pytest.raises(InvalidInput, match="'alice' is disabled"):
        issue_token(sqlite_backend.access, "alice")


# -- remembering tokens (the server's guard) --------------------------------------------


def test_a_remembered_token_is_forgotten_after_the_cache_time_or_a_change_through_the_guard(
    sqlite_backend: SqlDatabase,
) -> None:
    db = sqlite_backend
    cred = _maker(db)("alice")
    header = f"Bearer {cred.secret}"
    guard = TokenGuard(db, cache_seconds=0.3)
    alice = guard.authenticate(header)
    assert guard.known(header) == alice and guard.known("Bearer cairn_0_x") is None
    # Revoked behind the guard's back (another server process, the CLI on the database):
    db.access.revoke_token(cred.token.id)
    assert guard.authenticate(header) == alice  # remembered, for at most cache_seconds
    time.sleep(0.35)
    assert guard.known(header) is None
    with pytest.raises(Unauthenticated, match="was revoked"):
        guard.authenticate(header)
    # Changed through this guard: forgotten at once.
    other = _maker(db)("bob")
    bob_header = f"Bearer {other.secret}"
    bob = guard.authenticate(bob_header)
    assert guard.known(bob_header) == bob
    root = Principal(user="root", is_admin=True, token_id="t0")
    with guard.mutation(root, "", "access.update_user", Resource("user", "bob")):
        db.access.update_user("bob", disabled=True)
    assert guard.known(bob_header) is None
    with pytest.raises(Unauthenticated, match="'bob' is disabled"):
        guard.authenticate(bob_header)


def test_a_remembered_token_that_expires_is_refused_at_once(sqlite_backend: SqlDatabase) -> None:
    db = sqlite_backend
    cred = _maker(db)("carol")
    header = f"Bearer {cred.secret}"
    _expire(db, cred.token.id, in_ms=300)
    guard = TokenGuard(db, cache_seconds=60)
    guard.authenticate(header)
    time.sleep(0.35)
    assert guard.known(header) is None
    with pytest.raises(Unauthenticated, match="expired on"):
        guard.authenticate(header)


def test_without_a_cache_time_every_request_looks_the_token_up(
    sqlite_backend: SqlDatabase,
) -> None:
    db = sqlite_backend
    cred = _maker(db)("dave")
    guard = TokenGuard(db)
    guard.authenticate(f"Bearer {cred.secret}")
    assert guard.known(f"Bearer {cred.secret}") is None
    db.access.revoke_token(cred.token.id)
    with pytest.raises(Unauthenticated, match="was revoked"):
        guard.authenticate(f"Bearer {cred.secret}")
