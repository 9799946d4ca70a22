"""The pipeline store contract, over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import InvalidInput, NotFound
from cairn.store import open_metadata
from cairn.store.pipelines import CacheEntry, PipelineRun, PipelineStore, StepRecord
from server_harness import server_uri

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("server", id="server"),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PipelineStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'cairn.db'}"
    elif request.param == "server":
        uri = server_uri(request)
    else:
        uri = str(request.getfixturevalue("postgres_uri"))
    db: Any = open_metadata(uri, create=True)
    db.ensure_schema()
    yield db.pipelines
    db.close()


def _run(run_id: str, pipeline: str = "churn", created_at: int = 0) -> PipelineRun:
    return PipelineRun(run_id, pipeline, "flow.py:churn", "inprocess", "running", "{}", created_at)


def test_runs_are_found_by_prefix_and_listed_newest_first(store: PipelineStore) -> None:
    store.create_run(_run("aa11", created_at=1))
    store.create_run(_run("aa22", created_at=2))
    store.create_run(_run("bb33", pipeline="other", created_at=3))
    assert [r.run_id for r in store.list_runs()] == ["bb33", "aa22", "aa11"]
    assert [r.run_id for r in store.list_runs("churn", limit=1)] == ["aa22"]
    assert store.get_run("bb").run_id == "bb33"
    with pytest.raises(InvalidInput, match="more than one pipeline run id starts with 'aa'"):
        store.get_run("aa")
    with pytest.raises(NotFound, match="cairn pipeline ls"):
        store.get_run("cc")
    # A LIKE wildcard in a prefix must not match everything.
    with pytest.raises(InvalidInput, match="not a run id"):
        store.get_run("%")
    store.set_run_state("aa11", "failed")
    assert store.get_run("aa1").state == "failed"


def test_step_records_are_replaced_and_the_previous_one_is_found(store: PipelineStore) -> None:
    store.create_run(_run("aa11", created_at=1))
    store.create_run(_run("aa22", created_at=2))
    store.save_steps([StepRecord("aa11", "train", "pending")])
    store.save_steps([StepRecord("aa11", "train", "ran", cache_key="k1", components='{"a":1}')])
    assert [(r.step, r.state) for r in store.list_steps("aa11")] == [("train", "ran")]
    store.save_steps([StepRecord("aa22", "train", "ran", cache_key="k2")])
    previous = store.previous_step("churn", "train", "aa22")
    assert previous is not None and previous.cache_key == "k1"
    assert store.previous_step("churn", "train", "aa11") is None
    assert store.previous_step("churn", "score", "aa22") is None


def test_the_newest_cache_entry_for_a_key_wins(store: PipelineStore) -> None:
    assert store.get_cache([]) == {}
    store.put_cache([CacheEntry("k1", "train", '[{"digest": "a"}]', "r1")])
    store.put_cache([CacheEntry("k1", "train", '[{"digest": "b"}]', "r2")])
    found = store.get_cache(["k1", "k2"])
    assert list(found) == ["k1"] and found["k1"].step_run_id == "r2"


def test_two_runs_storing_the_same_key_at_once_both_succeed(store: PipelineStore) -> None:
    import threading

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(30):
                barrier.wait(timeout=30)
                store.put_cache([CacheEntry(f"key{i}", "train", f'["{name}"]', name)])
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    found = store.get_cache([f"key{i}" for i in range(30)])
    assert len(found) == 30 and {e.step_run_id for e in found.values()} <= {"a", "b"}


def test_recent_cache_entries_are_the_newest_of_the_named_steps(store: PipelineStore) -> None:
    for i in range(5):
        store.put_cache([CacheEntry(f"t{i}", "train", "[]", None, created_at=10 + i)])
    store.put_cache([CacheEntry("s0", "score", "[]", None, created_at=100)])
    assert set(store.recent_cache(["train"], limit=2)) == {"t4", "t3"}
    assert set(store.recent_cache(["train", "score"], limit=3)) == {"s0", "t4", "t3"}
    assert store.recent_cache([], limit=3) == {}
