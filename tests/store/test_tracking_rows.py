"""Building a page of runs holds off the cyclic garbage collector, and only meanwhile."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.store import open_metadata
from cairn.store.sql import tracking_rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    db = open_metadata(f"sqlite:///{tmp_path / 'cairn.db'}", create=True)
    store = db.tracking
    exp = store.create_experiment("gc")
    for i in range(5):
        store.create_run(exp.id, params={"p": str(i)})
    try:
        yield store
    finally:
        db.close()


@pytest.fixture
def collector() -> Iterator[list[bool]]:
    """Whether the collector was enabled each time a page of runs was being built."""
    seen: list[bool] = []
    build = tracking_rows._run

    def spy(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return build(*args)

    was = gc.isenabled()
    tracking_rows._run = spy
    try:
        yield seen
    finally:
        tracking_rows._run = build
        gc.enable() if was else gc.disable()


def test_the_collector_is_off_while_a_page_is_built_and_on_again_after(
    store: Any, collector: list[bool]
) -> None:
    gc.enable()
    assert len(store.search_runs().items) == 5
    assert collector == [False] * 5
    assert gc.isenabled()


def test_a_failing_search_leaves_the_collector_on(store: Any, collector: list[bool]) -> None:
    gc.enable()

    def broken(*_args: Any) -> Any:
        raise RuntimeError("row")

    tracking_rows._run = broken
    with pytest.raises(RuntimeError, match="row"):
        store.search_runs()
    assert gc.isenabled()


def test_an_application_that_turned_the_collector_off_keeps_it_off(
    store: Any, collector: list[bool]
) -> None:
    gc.disable()
    assert len(store.search_runs().items) == 5
    assert not gc.isenabled()
