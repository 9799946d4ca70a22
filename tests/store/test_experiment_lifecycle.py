# ruff: noqa: F811  (the tracking contract's fixtures are imported, then named by the tests)
"""The experiment lifecycle contract: tags, soft delete and restore, on every backend.

The same backends as the tracking contract (SQLite, PostgreSQL and the REST client of
``cairn server``), through its fixtures.
"""

from __future__ import annotations

import pytest
from test_tracking_contract import (  # noqa: F401
    BACKENDS,
    postgres_template,
    sqlite_template,
    tracking_store,
)

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store.base import TrackingStore
from cairn.types import Metric

pytestmark = pytest.mark.parametrize("tracking_store", BACKENDS, indirect=True)


def _ids(page: object) -> list[str]:
    return [r.id for r in page.items]  # type: ignore[attr-defined]


def test_experiment_tags_are_set_at_creation_overwritten_and_read_back(
    tracking_store: TrackingStore,
) -> None:
    exp = tracking_store.create_experiment("churn", "about churn", tags={"team": "growth"})
    assert exp.tags == {"team": "growth"}

    tracking_store.set_experiment_tag(exp.id, "team", "risk")
    tracking_store.set_experiment_tag("churn", "owner", "ana")

    found = tracking_store.get_experiment("churn")
    assert found.tags == {"owner": "ana", "team": "risk"}
    assert found.description == "about churn"
    assert tracking_store.list_experiments() == [found]


def test_bad_experiment_tags_are_refused_and_leave_nothing(
    tracking_store: TrackingStore,
) -> None:
    with pytest.raises(InvalidInput, match="experiment tag 'n' has a value of 6001 characters"):
        tracking_store.create_experiment("churn", tags={"ok": "1", "n": "x" * 6001})
    assert tracking_store.list_experiments(view="all") == []
    exp = tracking_store.create_experiment("churn")
    with pytest.raises(InvalidInput, match="has a value of 6001 characters"):
        tracking_store.set_experiment_tag(exp.id, "big", "x" * 6001)
    with pytest.raises(NotFound, match="'nope'"):
        tracking_store.set_experiment_tag("nope", "k", "v")
    assert tracking_store.get_experiment(exp.id).tags == {}


def test_deleting_an_experiment_hides_it_and_its_runs_until_restored(
    tracking_store: TrackingStore,
) -> None:
    doomed = tracking_store.create_experiment("doomed")
    kept = tracking_store.create_experiment("kept")
    live = tracking_store.create_run(doomed.id, name="live")
    tracking_store.log_batch(live.id, [Metric("acc", 0.9)])
    alone = tracking_store.create_run(doomed.id, name="deleted on its own")
    tracking_store.delete_run(alone.id, actor="bo")
    other = tracking_store.create_run(kept.id)

    deleted = tracking_store.delete_experiment("doomed", actor="ana")

    assert deleted.is_deleted and deleted.deleted_by == "ana"
    assert tracking_store.get_experiment(doomed.id) == deleted  # still found by id
    assert tracking_store.list_experiments() == [kept]
    assert tracking_store.list_experiments(view="deleted") == [deleted]
    assert [e.name for e in tracking_store.list_experiments(view="all")] == ["doomed", "kept"]
    # Its runs count as deleted, but keep their own state and records.
    assert _ids(tracking_store.search_runs()) == [other.id]
    assert _ids(tracking_store.search_runs([doomed.id], "metrics.acc > 0")) == []
    assert set(_ids(tracking_store.search_runs(view="deleted"))) == {live.id, alone.id}
    assert not tracking_store.get_run(live.id).is_deleted

    restored = tracking_store.restore_experiment(doomed.id, actor="ana")

    assert not restored.is_deleted and restored.deleted_by is None
    assert [e.name for e in tracking_store.list_experiments()] == ["doomed", "kept"]
    assert set(_ids(tracking_store.search_runs())) == {live.id, other.id}
    assert _ids(tracking_store.search_runs(view="deleted")) == [alone.id]


def test_a_deleted_experiment_takes_no_new_runs_and_keeps_its_name(
    tracking_store: TrackingStore,
) -> None:
    exp = tracking_store.create_experiment("churn")
    tracking_store.delete_experiment(exp.id, actor="ana")

    with pytest.raises(InvalidInput, match=r"'churn' is deleted .*cairn experiments restore"):
        tracking_store.create_run(exp.id, name="late")
    with pytest.raises(AlreadyExists, match=r"'churn' already exists and is deleted; restore"):
        tracking_store.create_experiment("churn")
    assert tracking_store.search_runs(view="all").items == ()
    assert len(tracking_store.list_experiments(view="all")) == 1
    # Tags can still be set on it (MLflow's client tags deleted experiments too).
    tracking_store.set_experiment_tag("churn", "why", "superseded")
    assert tracking_store.get_experiment("churn").tags == {"why": "superseded"}


def test_experiment_delete_and_restore_refuse_the_wrong_state(
    tracking_store: TrackingStore,
) -> None:
    exp = tracking_store.create_experiment("churn")
    with pytest.raises(InvalidInput, match="'churn' is not deleted; nothing to restore"):
        tracking_store.restore_experiment("churn", actor="ana")
    tracking_store.delete_experiment("churn", actor="ana")
    with pytest.raises(InvalidInput, match=r"'churn' is already deleted \(by ana\)"):
        tracking_store.delete_experiment(exp.id, actor="bo")
    assert tracking_store.get_experiment("churn").deleted_by == "ana"
    with pytest.raises(NotFound, match="'nope'"):
        tracking_store.delete_experiment("nope", actor="ana")
    with pytest.raises(InvalidInput, match=r"view.*deleted.*all"):
        tracking_store.list_experiments(view="gone")  # type: ignore[arg-type]


def test_the_default_experiment_cannot_be_deleted(tracking_store: TrackingStore) -> None:
    default = tracking_store.create_experiment("Default")
    with pytest.raises(InvalidInput, match="'Default' experiment cannot be deleted"):
        tracking_store.delete_experiment(default.id, actor="ana")
    assert not tracking_store.get_experiment("Default").is_deleted
