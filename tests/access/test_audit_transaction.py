"""The audit entry and the change it records land in one transaction, or neither does.

Run on SQLite and PostgreSQL, through the guard's mutation scope and the real stores.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from access_helpers import user_maker

from cairn.access.guard import TokenGuard
from cairn.access.types import Principal, Resource
from cairn.errors import AlreadyExists, NotFound, PermissionDenied, StoreError
from cairn.store.access import AUDIT_SCOPE
from cairn.store.registry import NewModelVersion
from cairn.store.sql.database import SqlDatabase


def _alice(db: SqlDatabase) -> Principal:
    cred = user_maker(db)("alice")
    return TokenGuard(db).authenticate(f"Bearer {cred.secret}")


def _experiments(db: SqlDatabase) -> list[str]:
    return [e.name for e in db.tracking.list_experiments()]


def test_a_successful_mutation_leaves_exactly_one_entry(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    with guard.mutation(
        alice, "10.1.2.3", "tracking.create_experiment", Resource("experiment", "e")
    ):
        exp = backend.tracking.create_experiment("e")
        # Several writes in one mutation are still one entry.
        run = backend.tracking.create_run(exp.id)
        backend.tracking.log_batch(run.id, params={"lr": "0.1"})
    entries = backend.access.list_audit()
    assert [(e.user, e.operation, e.resource, e.address, e.result) for e in entries] == [
        ("alice", "tracking.create_experiment", "e", "10.1.2.3", "ok")
    ]
    assert entries[0].token_id == alice.token_id
    assert AUDIT_SCOPE.get() is None


def test_a_mutation_failing_after_its_write_leaves_neither_change_nor_ok_entry(
    backend: SqlDatabase,
) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    from cairn.store.sql.tables import experiments

    def write_then_fail(conn: sa.Connection) -> None:
        conn.execute(experiments.insert().values(name="half", description="", created_at=1))
        raise StoreError("disk full after the insert")

    with (
        pytest.raises(StoreError),
        guard.mutation(alice, "", "tracking.create_experiment", Resource("experiment", "half")),
    ):
        backend.write(write_then_fail)
    assert "half" not in _experiments(backend)
    entries = backend.access.list_audit()
    assert [(e.result, e.resource) for e in entries] == [("error", "half")]
    assert "disk full" in entries[0].detail
    # And the creator's grant went with the failed creation.
    assert backend.access.list_grants(user="alice") == []


def test_a_change_whose_audit_entry_cannot_be_written_is_not_made(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    with backend.engine.begin() as conn:  # the attack: the audit table is gone
        conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_moved"))
    with (
        pytest.raises(sa.exc.DBAPIError),
        guard.mutation(alice, "", "tracking.create_experiment", Resource("experiment", "e")),
    ):
        backend.tracking.create_experiment("e")
    assert "e" not in _experiments(backend)


def test_a_second_write_failing_appends_an_error_entry(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    backend.tracking.create_experiment("dup")
    with (
        pytest.raises(AlreadyExists),
        guard.mutation(alice, "", "tracking.create_experiment", Resource("experiment", "one")),
    ):
        backend.tracking.create_experiment("one")
        backend.tracking.create_experiment("dup")
    entries = backend.access.list_audit()
    assert [e.result for e in entries] == ["error", "ok"]
    assert f"after entry {entries[1].seq}" in entries[0].detail


def test_a_mutation_that_writes_nothing_is_recorded_as_noop(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    with guard.mutation(alice, "", "registry.update_model", Resource("model", "m")):
        pass
    assert [e.result for e in backend.access.list_audit()] == ["noop"]


def test_a_refusal_inside_the_scope_is_recorded_once_as_denied(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    backend.registry.create_model("churn")
    with (
        pytest.raises(PermissionDenied),
        guard.mutation(alice, "10.0.0.9", "registry.set_alias", Resource("model", "churn")),
    ):
        guard.authorize(alice, "manage", Resource("model", "churn"))
    entries = backend.access.list_audit()
    assert [(e.result, e.operation, e.address) for e in entries] == [
        ("denied", "registry.set_alias", "10.0.0.9")
    ]


def test_the_creator_gets_manage_in_the_creating_transaction(backend: SqlDatabase) -> None:
    guard, alice = TokenGuard(backend), _alice(backend)
    with guard.mutation(alice, "", "registry.create_version", Resource("model", "churn")):
        backend.registry.create_version(NewModelVersion("churn", "0" * 64, "sklearn"))
    assert [(g.user, g.level) for g in backend.access.list_grants(kind="model")] == [
        ("alice", "manage")
    ]
    # A second user adding a version to the existing model does not become its owner.
    bob = TokenGuard(backend).authenticate(f"Bearer {user_maker(backend)('bob').secret}")
    with guard.mutation(bob, "", "registry.create_version", Resource("model", "churn")):
        backend.registry.create_version(NewModelVersion("churn", "1" * 64, "sklearn"))
    assert [g.user for g in backend.access.list_grants(kind="model")] == ["alice"]


def test_writes_outside_a_scope_are_not_audited(backend: SqlDatabase) -> None:
    backend.tracking.create_experiment("plain")
    assert backend.access.list_audit() == []


def test_concurrent_mutations_are_each_attributed_to_their_own_user(
    backend: SqlDatabase,
) -> None:
    make = user_maker(backend)
    guard = TokenGuard(backend)
    principals = [guard.authenticate(f"Bearer {make(f'u{i}').secret}") for i in range(4)]
    start = threading.Barrier(len(principals))
    errors: list[BaseException] = []

    def work(p: Principal) -> None:
        try:
            start.wait(timeout=30)
            for n in range(5):
                name = f"{p.user}-{n}"
                with guard.mutation(
                    p, "", "tracking.create_experiment", Resource("experiment", name)
                ):
                    backend.tracking.create_experiment(name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in principals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    entries = backend.access.list_audit()
    assert len(entries) == 20
    assert all(e.resource.startswith(f"{e.user}-") and e.result == "ok" for e in entries)


def test_an_unknown_user_principal_still_records_without_a_grant(backend: SqlDatabase) -> None:
    # Local changes (cairn users/tokens/grant) run as the login user, who need not be a
    # user of the store: no creator grant may be attempted for them.
    guard = TokenGuard(backend)
    local = Principal("someone", is_admin=True)
    with guard.mutation(local, "local", "tracking.create_experiment", Resource("experiment", "x")):
        backend.tracking.create_experiment("x")
    assert [e.user for e in backend.access.list_audit()] == ["someone"]
    with pytest.raises(NotFound):
        backend.access.get_user("someone")
