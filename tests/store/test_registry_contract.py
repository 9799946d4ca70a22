"""The RegistryStore contract, run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import AlreadyExists, InvalidInput, NotFound, StoreError
from cairn.store import open_metadata
from cairn.store.registry import GateResult, NewModelVersion, RegistryStore
from server_harness import server_uri


def digest(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "server"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cairn.db'}"
    if request.param == "server":
        return server_uri(request)
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def store(db_uri: str) -> Iterator[RegistryStore]:
    db: Any = open_metadata(db_uri, create=True)
    try:
        yield db.registry
    finally:
        db.close()


def new(name: str = "churn", n: int = 1, run_id: str | None = None) -> NewModelVersion:
    return NewModelVersion(name=name, digest=digest(n), flavor="sklearn", run_id=run_id)


def test_store_implements_the_protocol(store: RegistryStore) -> None:
    assert isinstance(store, RegistryStore)


def test_versions_are_numbered_per_model_and_create_the_name(store: RegistryStore) -> None:
    assert store.create_version(new("churn", 1)).version == 1
    assert store.create_version(new("churn", 2)).version == 2
    assert store.create_version(new("fraud", 3)).version == 1
    assert [m.name for m in store.list_models()] == ["churn", "fraud"]
    assert store.get_model("churn").latest_version == 2
    assert [v.digest for v in store.list_versions("churn")] == [digest(1), digest(2)]


def test_create_model_twice_is_refused(store: RegistryStore) -> None:
    store.create_model("churn", description="d", tags={"team": "a"})
    with pytest.raises(AlreadyExists, match="'churn'"):
        store.create_model("churn")
    assert store.get_model("churn").tags == {"team": "a"}


def test_unknown_model_and_version_are_not_found(store: RegistryStore) -> None:
    with pytest.raises(NotFound, match="no registered model named 'x'"):
        store.get_model("x")
    store.create_version(new())
    with pytest.raises(NotFound, match="has no version 7"):
        store.get_version("churn", 7)
    with pytest.raises(NotFound):
        store.set_alias("nope", "production", 1)


def test_invalid_names_are_refused(store: RegistryStore) -> None:
    with pytest.raises(InvalidInput, match="invalid model name"):
        store.create_version(new("bad/name"))
    store.create_version(new())
    with pytest.raises(InvalidInput, match="invalid alias '1st'"):
        store.set_alias("churn", "1st", 1)


def test_update_model_and_version_merge_tags(store: RegistryStore) -> None:
    store.create_version(new())
    store.update_model("churn", description="leavers", tags={"team": "a", "tier": "1"})
    model = store.update_model("churn", tags={"tier": ""})
    assert (model.description, dict(model.tags)) == ("leavers", {"team": "a"})
    v = store.update_version("churn", 1, description="first", tags={"k": "v"})
    assert (v.description, dict(v.tags)) == ("first", {"k": "v"})


def test_alias_moves_are_recorded_in_order(store: RegistryStore) -> None:
    for n in (1, 2, 3):
        store.create_version(new(n=n))
    store.set_alias("churn", "production", 1, actor="ann", reason="first")
    store.set_alias("churn", "production", 3, actor="bob", reason="better")
    store.set_alias("churn", "staging", 2)
    assert store.get_alias("churn", "production") == 3
    assert store.get_model("churn").aliases == {"production": 3, "staging": 2}
    assert store.get_version("churn", 3).aliases == ("production",)
    history = store.alias_history("churn", "production")
    assert [(e.from_version, e.to_version, e.actor, e.reason) for e in history] == [
        (None, 1, "ann", "first"),
        (1, 3, "bob", "better"),
    ]
    assert len(store.alias_history("churn")) == 3
    removed = store.set_alias("churn", "staging", None)
    assert (removed.action, removed.from_version) == ("remove", 2)
    assert store.get_alias("churn", "staging") is None


def test_archiving_a_version_an_alias_points_at_is_refused(store: RegistryStore) -> None:
    store.create_version(new(n=1))
    store.set_alias("churn", "production", 1)
    with pytest.raises(InvalidInput, match="alias production points at it"):
        store.update_version("churn", 1, status="ARCHIVED")
    assert store.get_version("churn", 1).status == "READY"


def test_alias_on_an_archived_version_is_refused_and_changes_nothing(store: RegistryStore) -> None:
    store.create_version(new(n=1))
    store.create_version(new(n=2))
    store.set_alias("churn", "production", 1)
    store.update_version("churn", 2, status="ARCHIVED")
    with pytest.raises(InvalidInput, match="churn/2 is archived"):
        store.set_alias("churn", "production", 2)
    assert store.get_alias("churn", "production") == 1
    assert len(store.alias_history("churn")) == 1


def test_conditional_alias_move_detects_a_concurrent_change(store: RegistryStore) -> None:
    store.create_version(new(n=1))
    store.create_version(new(n=2))
    store.set_alias("churn", "production", 2)
    with pytest.raises(StoreError, match="moved to 2"):
        store.set_alias("churn", "production", 1, expected=1)
    assert len(store.alias_history("churn")) == 1


def test_gate_results_are_recorded_on_the_version(store: RegistryStore) -> None:
    store.create_version(new())
    rules = ({"rule": "roc_auc", "value": 0.93, "limit": ">= 0.9", "passed": True},)
    saved = store.record_gate_result(
        GateResult("churn", 1, True, rules, data="churn@v2", against="production")
    )
    assert saved.id > 0 and saved.created_at > 0
    [got] = store.gate_results("churn", 1)
    assert (got.passed, got.data, got.against, got.rules) == (True, "churn@v2", "production", rules)


def test_referenced_digests_keep_model_objects(store: RegistryStore) -> None:
    store.create_version(new(n=5))
    store.create_version(new("other", 6))
    assert set(store.referenced_digests()) == {digest(5), digest(6)}


PROMOTER = textwrap.dedent(
    """
    import sys
    from cairn.store import open_metadata
    uri, me, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = open_metadata(uri).registry
    for i in range(rounds):
        store.set_alias("churn", "production", me, actor=f"p{me}", reason=str(i))
    """
)


def test_concurrent_promotions_from_two_processes_are_serialized(
    store: RegistryStore, db_uri: str
) -> None:
    store.create_version(new(n=1))
    store.create_version(new(n=2))
    rounds = 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTER, db_uri, str(me), str(rounds)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    history = store.alias_history("churn", "production")
    assert len(history) == 2 * rounds
    # Serialized: every move starts where the previous one ended.
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version
    assert history[0].from_version is None
    assert store.get_alias("churn", "production") == history[-1].to_version
    for me in (1, 2):
        reasons = [e.reason for e in history if e.actor == f"p{me}"]
        assert reasons == [str(i) for i in range(rounds)]
