"""The AccessStore contract, on SQLite and PostgreSQL: users, tokens, grants, audit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cairn.access.tokens import digest, new_token
from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store.access import AccessStore, NewAuditEntry, NewToken
from cairn.store.sql.database import SqlDatabase


def test_the_sql_backend_has_an_access_store(backend: SqlDatabase) -> None:
    assert isinstance(backend.access, AccessStore)


def test_users_are_created_once_listed_and_flagged(backend: SqlDatabase) -> None:
    store = backend.access
    store.create_user("bob")
    store.create_user("alice", is_admin=True)
    with pytest.raises(AlreadyExists, match="'alice' exists"):
        store.create_user("alice")
    assert [(u.name, u.is_admin, u.disabled) for u in store.list_users()] == [
        ("alice", True, False),
        ("bob", False, False),
    ]
    assert store.update_user("bob", disabled=True).disabled
    assert store.update_user("bob", is_admin=True).is_admin
    assert store.get_user("bob").disabled  # a flag not named is kept
    with pytest.raises(NotFound, match="no user named 'carol'"):
        store.update_user("carol", disabled=True)
    with pytest.raises(InvalidInput, match="invalid user name"):
        store.create_user("../root")


def test_a_token_is_found_only_with_its_digest_and_never_stored_in_clear(
    backend: SqlDatabase,
) -> None:
    store = backend.access
    store.create_user("alice")
    issued = new_token()
    store.create_token(NewToken(issued.id, "alice", digest(issued.secret), label="ci"))
    found = store.verify_token(issued.id, digest(issued.secret))
    assert found is not None and found.user == "alice" and found.label == "ci"
    # The attack: a guessed secret for a known id, and an id that does not exist.
    assert store.verify_token(issued.id, digest(issued.secret[:-1] + "x")) is None
    assert store.verify_token("000000000000", digest(issued.secret)) is None
    with backend.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM api_tokens"))]
    assert rows and not any(issued.secret in cell for row in rows for cell in row)
    assert issued.secret not in repr(store.list_tokens())


def test_a_token_for_an_unknown_user_is_refused(backend: SqlDatabase) -> None:
    issued = new_token()
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        backend.access.create_token(NewToken(issued.id, "ghost", digest(issued.secret)))
    assert backend.access.list_tokens() == []


def test_revoking_keeps_the_first_revocation_time(backend: SqlDatabase) -> None:
    store = backend.access
    store.create_user("alice")
    issued = new_token()
    store.create_token(NewToken(issued.id, "alice", digest(issued.secret)))
    first = store.revoke_token(issued.id)
    assert first.revoked_at is not None
    assert store.revoke_token(issued.id).revoked_at == first.revoked_at
    with pytest.raises(NotFound, match="no token with id 'nope'"):
        store.revoke_token("nope")


def test_grants_are_replaced_listed_and_revoked(backend: SqlDatabase) -> None:
    store = backend.access
    store.create_user("alice")
    store.create_user("bob")
    store.set_grant("alice", "model", "churn", "read", granted_by="root")
    store.set_grant("alice", "model", "churn", "manage", granted_by="root")  # replaces
    store.set_grant("bob", "experiment", "churn", "edit", granted_by="alice")
    assert [(g.user, g.kind, g.name, g.level) for g in store.list_grants()] == [
        ("bob", "experiment", "churn", "edit"),
        ("alice", "model", "churn", "manage"),
    ]
    assert [g.user for g in store.list_grants(kind="model", name="churn")] == ["alice"]
    store.set_grant("alice", "model", "churn", None, granted_by="root")
    assert store.list_grants(user="alice") == []
    with pytest.raises(NotFound, match="holds no grant on model:churn"):
        store.set_grant("alice", "model", "churn", None, granted_by="root")
    with pytest.raises(InvalidInput, match="unknown access level 'owner'"):
        store.set_grant("alice", "model", "churn", "owner", granted_by="root")
    with pytest.raises(InvalidInput, match="unknown resource kind 'server'"):
        store.set_grant("alice", "server", "x", "read", granted_by="root")
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        store.set_grant("ghost", "model", "churn", "read", granted_by="root")


def test_audit_entries_are_listed_newest_first_and_filtered(backend: SqlDatabase) -> None:
    store = backend.access
    for user, kind, name in [("a", "model", "churn"), ("b", "model", "x"), ("a", "dataset", "d")]:
        store.record_audit(NewAuditEntry(user, "op", kind, name, "ok", address="10.0.0.1"))
    entries = store.list_audit()
    assert [e.resource for e in entries] == ["d", "x", "churn"]
    assert [e.resource for e in store.list_audit(user="a")] == ["d", "churn"]
    assert [e.user for e in store.list_audit(kind="model", resource="x")] == ["b"]
    assert store.list_audit(since=entries[0].at + 1) == []
    assert len(store.list_audit(limit=1)) == 1
    with pytest.raises(InvalidInput, match="limit must be between"):
        store.list_audit(limit=0)
