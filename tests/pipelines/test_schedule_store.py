"""The ScheduleStore contract, on SQLite and PostgreSQL: a slot is claimed once, a
schedule runs one firing at a time, and only a firing's owner can end it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store import open_metadata
from cairn.store.schedules import Claim, NewSchedule, ScheduleStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScheduleStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri = f"{server}/{name}"
    db: Any = open_metadata(uri, create=True)
    try:
        yield db.schedules
    finally:
        db.close()


def _add(store: ScheduleStore, name: str = "nightly", **kwargs: Any) -> None:
    fields: dict[str, Any] = {"pipeline": "/p.py:train", "cron": "0 3 * * *", **kwargs}
    store.add_schedule(NewSchedule(name=name, **fields))


def test_a_slot_is_claimed_once_and_advances_the_mark(store: ScheduleStore) -> None:
    _add(store)
    claim = Claim("nightly", "slot-1", 1000)
    first = store.claim_firing(claim, owner="a", now=5)
    assert first is not None and (first.state, first.attempts) == ("running", 1)
    store.finish_firing("nightly", "slot-1", owner="a", state="finished", now=6, run_id="r1")
    # Another scheduler with the same view of the clock: refused, nothing changes.
    assert store.claim_firing(claim, owner="b", now=7) is None
    assert store.get_schedule("nightly").last_fire_time == 1000
    # An older slot than the mark is refused too (a scheduler with a late clock).
    assert store.claim_firing(Claim("nightly", "slot-0", 500), owner="b", now=8) is None
    (done,) = store.list_firings("nightly")
    assert (done.state, done.owner, done.run_id, done.finished_at) == ("finished", "a", "r1", 6)


def test_no_second_firing_while_one_runs_or_waits_to_be_retaken(store: ScheduleStore) -> None:
    _add(store)
    assert store.claim_firing(Claim("nightly", "s1", 1000), owner="a", now=1)
    assert store.claim_firing(Claim("nightly", "s2", 2000), owner="b", now=2) is None
    assert store.interrupt_firing("nightly", "s1", owner="a", reason="a died")
    assert store.claim_firing(Claim("nightly", "s2", 2000), owner="b", now=3) is None
    retaken = store.retake_firing("nightly", "s1", owner="b", now=4, max_attempts=2)
    assert retaken is not None and (retaken.owner, retaken.attempts) == ("b", 2)
    # The dead owner cannot end what was taken over.
    assert not store.finish_firing("nightly", "s1", owner="a", state="finished", now=5)
    assert store.finish_firing("nightly", "s1", owner="b", state="finished", now=5)
    assert store.claim_firing(Claim("nightly", "s2", 2000), owner="b", now=6) is not None


def test_a_firing_interrupted_too_often_is_failed_not_retaken(store: ScheduleStore) -> None:
    _add(store)
    store.claim_firing(Claim("nightly", "s1", 1000), owner="a", now=1)
    store.interrupt_firing("nightly", "s1", owner="a", reason="killed")
    assert store.retake_firing("nightly", "s1", owner="b", now=2, max_attempts=1) is None
    (firing,) = store.list_firings("nightly")
    assert firing.state == "failed"
    assert firing.error.startswith("gave up after 1 interrupted attempts; killed")


def test_dataset_claims_advance_the_version_mark(store: ScheduleStore) -> None:
    _add(store, "retrain", cron=None, dataset="churn", last_dataset_version=2)
    assert store.claim_firing(Claim("retrain", "churn@v2", 1, 2), owner="a", now=1) is None
    assert store.claim_firing(Claim("retrain", "churn@v3", 1, 3), owner="a", now=1)
    assert store.get_schedule("retrain").last_dataset_version == 3


def test_names_are_unique_checked_and_removal_takes_the_history(store: ScheduleStore) -> None:
    _add(store)
    with pytest.raises(AlreadyExists, match="a schedule named 'nightly' exists"):
        _add(store)
    with pytest.raises(InvalidInput, match=r"invalid schedule name '\.\./x'"):
        _add(store, "../x")
    store.claim_firing(Claim("nightly", "s1", 1000), owner="a", now=1)
    store.remove_schedule("nightly")
    assert store.list_schedules() == [] and store.list_firings() == []
    with pytest.raises(NotFound, match="no schedule named 'nightly'"):
        store.remove_schedule("nightly")
    with pytest.raises(NotFound, match="no schedule named 'nightly'"):
        store.claim_firing(Claim("nightly", "s2", 2000), owner="a", now=2)


def test_a_released_firing_that_ends_before_it_is_retaken_is_recorded_not_rerun(
    store: ScheduleStore,
) -> None:
    # A scheduler stopping hands its firing over (interrupted) while the pipeline is
    # still finishing; if the pipeline ends first, the end is recorded and no other
    # scheduler starts it again.
    _add(store)
    store.claim_firing(Claim("nightly", "s1", 1000), owner="a", now=1)
    assert store.finish_firing("nightly", "s1", owner="a", state="interrupted", now=2)
    assert store.finish_firing("nightly", "s1", owner="a", state="finished", now=3, run_id="r")
    assert store.retake_firing("nightly", "s1", owner="b", now=4, max_attempts=3) is None
    (firing,) = store.list_firings("nightly")
    assert (firing.state, firing.attempts, firing.run_id) == ("finished", 1, "r")
