"""Run starts sent without a round trip of their own (cairn.store.rest.starts), against
a real server: what reaches the server, when, and what a refusal looks like."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cairn.errors import InvalidInput
from cairn.store import open_metadata
from cairn.store.rest.client import RestBackend
from cairn.types import Metric, RunStatus
from server_harness import sqlite_server


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with sqlite_server(tmp_path) as base:
        yield base


@pytest.fixture
def backend(url: str) -> Iterator[RestBackend]:
    opened = open_metadata(url)
    assert isinstance(opened, RestBackend)
    yield opened
    opened.close()


def _calls(url: str, path: str) -> int:
    """Requests the server answered on ``path`` (its Prometheus counter)."""
    text = httpx.get(f"{url}/metrics").text
    pattern = rf'cairn_server_requests_total{{[^}}]*route="{re.escape(path)}"[^}}]*}} (\S+)'
    return int(sum(float(n) for n in re.findall(pattern, text)))


def test_a_short_run_costs_one_request_and_is_stored_whole(url: str, backend: RestBackend) -> None:
    store = backend.tracking
    exp = store.create_experiment("sweep").id
    first = store.create_run(exp, params={"lr": "0.1"})  # the first in an experiment: at once
    assert _calls(url, "/api/tracking/runs") == 1
    store.end_run(first.id, RunStatus.FINISHED)
    runs = []
    for i in range(5):
        run = store.create_run(exp, params={"lr": str(i)}, tags={"api_token": "x"})
        store.end_run(run.id, RunStatus.FINISHED, metrics=[Metric("loss", 1.0 / (i + 1), 0, 1)])
        runs.append(run)
    assert _calls(url, "/api/tracking/runs") == 1
    assert _calls(url, "/api/tracking/runs/end") == 1
    assert _calls(url, "/api/tracking/runs/record") == 5
    for i, run in enumerate(runs):
        stored = store.get_run(run.id)
        assert stored.status is RunStatus.FINISHED and stored.name == run.name
        assert dict(stored.params) == {"lr": str(i)} and dict(stored.tags) == {"api_token": "***"}
        assert stored.metrics["loss"].value == 1.0 / (i + 1)
        assert stored.start_time == run.start_time and stored.end_time is not None


def test_a_long_run_reaches_the_server_within_the_delay(url: str, backend: RestBackend) -> None:
    store = backend.tracking
    exp = store.create_experiment("long").id
    store.end_run(store.create_run(exp).id, RunStatus.FINISHED)
    run = store.create_run(exp)
    assert backend.starts.holds(run.id)
    other = open_metadata(url)  # another client: sees it only once it is sent
    try:
        deadline = time.monotonic() + backend.run_start_delay + 5
        while not other.tracking.search_runs([exp], filter="status = 'RUNNING'").items:
            assert time.monotonic() < deadline, "the start was not sent"
            time.sleep(0.05)
        assert other.tracking.get_run(run.id).status is RunStatus.RUNNING
        assert not backend.starts.holds(run.id)
    finally:
        other.close()
    store.end_run(run.id, RunStatus.FAILED)
    assert store.get_run(run.id).status is RunStatus.FAILED


def test_any_request_sends_queued_starts_first(url: str, backend: RestBackend) -> None:
    store = backend.tracking
    exp = store.create_experiment("e").id
    store.create_run(exp)
    parent = store.create_run(exp)
    child = store.create_run(exp, parent_id=parent.id)  # its parent waits too: it may wait
    assert backend.starts.pending == 2
    # The child ends first: its parent is sent before it, so the server finds the parent.
    store.end_run(child.id, RunStatus.FINISHED)
    assert store.get_run(child.id).parent_id == parent.id
    assert store.get_run(parent.id).status is RunStatus.RUNNING
    late = store.create_run(exp)
    assert store.get_run(late.id).status is RunStatus.RUNNING  # a read sends it first


def test_a_start_the_server_refuses_later_is_raised_and_not_lost(
    url: str, backend: RestBackend
) -> None:
    store = backend.tracking
    admin = open_metadata(url)
    exp = store.create_experiment("doomed").id
    first = store.create_run(exp)
    store.end_run(first.id, RunStatus.FINISHED)
    runs = [store.create_run(exp), store.create_run(exp)]
    admin.tracking.delete_experiment(exp, actor="ops")
    # Sent by the background thread and refused: the next call of this client says so,
    with pytest.raises(InvalidInput, match="could not be recorded: experiment 'doomed' is del"):
        deadline = time.monotonic() + backend.run_start_delay + 5
        while time.monotonic() < deadline:
            time.sleep(0.1)
            store.list_experiments()
    # and each run's end again, naming the run.
    for run in runs:
        with pytest.raises(InvalidInput, match=f"run {run.id} could not be recorded"):
            store.end_run(run.id, RunStatus.FINISHED)
    assert [r.id for r in store.search_runs([exp], view="all").items] == [first.id]
    # Refused at its end (before the background thread sent it): the server's own answer.
    admin.tracking.restore_experiment(exp, actor="ops")
    store.end_run(store.create_run(exp).id, RunStatus.FINISHED)
    late = store.create_run(exp)
    admin.tracking.delete_experiment(exp, actor="ops")
    with pytest.raises(InvalidInput, match="is deleted"):
        store.end_run(late.id, RunStatus.FINISHED)
    assert late.id not in {r.id for r in store.search_runs([exp], view="all").items}


def test_a_child_of_a_run_the_server_has_is_checked_where_it_starts(
    url: str, backend: RestBackend
) -> None:
    from cairn.errors import NotFound

    store = backend.tracking
    exp = store.create_experiment("kids").id
    store.end_run(store.create_run(exp).id, RunStatus.FINISHED)
    with pytest.raises(NotFound, match="parent run with id 'f00'"):
        store.create_run(exp, parent_id="f00")


def test_a_start_still_queued_at_exit_is_sent(url: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from cairn.store import open_metadata
        from cairn.types import RunStatus
        store = open_metadata({url!r}).tracking
        exp = store.create_experiment("exit").id
        store.end_run(store.create_run(exp).id, RunStatus.FINISHED)
        print(store.create_run(exp).id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    reader = open_metadata(url)
    try:
        assert reader.tracking.get_run(run_id).status is RunStatus.RUNNING
    finally:
        reader.close()


def test_no_delay_sends_every_start_at_once(url: str) -> None:
    backend = RestBackend(url, run_start_delay=0)
    try:
        store = backend.tracking
        exp = store.create_experiment("now").id
        for _ in range(3):
            store.end_run(store.create_run(exp).id, RunStatus.FINISHED)
        assert _calls(url, "/api/tracking/runs") == 3
        assert _calls(url, "/api/tracking/runs/record") == 0
    finally:
        backend.close()
