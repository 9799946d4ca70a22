"""The metric buffer against a real SQLite tracking store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import event

import cairn
from cairn.config import load_settings
from cairn.errors import ConfigError, StoreError
from cairn.tracking.buffer import MetricBuffer
from cairn.tracking.client import ERROR_TYPE_TAG, LOST_METRICS_TAG, TrackingClient
from cairn.types import Metric, RunStatus
from cairn.workspace import Workspace


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_background_thread_writes_points_without_a_flush(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("bg")
    for step in range(100):
        client.log_metric(run.id, "loss", 1.0 / (step + 1), step=step)
    # Read the store directly: the client's own reads would flush.
    assert _eventually(lambda: len(workspace.tracking.get_metric_history(run.id, "loss")) == 100)
    client.close()


def test_many_pending_points_wake_the_writer_before_the_interval(workspace: Workspace) -> None:
    run = workspace.tracking.create_run(workspace.tracking.create_experiment("big").id)
    buffer = MetricBuffer(
        lambda run_id, points: workspace.tracking.log_batch(run_id, metrics=points),
        interval=3600,
        capacity=2000,  # wakes the writer at 500 pending
    )
    for step in range(600):
        buffer.add(run.id, "x", float(step), step, 1)
    assert _eventually(lambda: buffer.pending < 100)
    assert len(workspace.tracking.get_metric_history(run.id, "x")) >= 500
    buffer.close()
    assert len(workspace.tracking.get_metric_history(run.id, "x")) == 600


def test_flush_writes_everything_logged_before_it(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    runs = [client.create_run("flush") for _ in range(3)]
    for i in range(3000):
        client.log_metric(runs[i % 3].id, "m", float(i), step=i)
    client.flush()
    assert [len(workspace.tracking.get_metric_history(r.id, "m")) for r in runs] == [1000] * 3
    client.close()


def test_background_write_error_is_raised_once_on_next_flush(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    good = client.create_run("err")
    client.log_metric("no-such-run", "loss", 0.5)
    client.log_metric(good.id, "loss", 0.4)
    # Let the background thread meet the error, so it is not this flush's own write.
    assert _eventually(lambda: client._buffer.pending == 0)
    with pytest.raises(StoreError, match=r"1 buffered metric point\(s\) could not be recorded"):
        client.flush()
    client.flush()  # reported once
    assert workspace.tracking.get_run(good.id).metrics["loss"].value == 0.4
    client.close()


def test_run_end_raises_a_lost_write_but_still_ends_the_run(workspace: Workspace) -> None:
    run = cairn.start_run()
    client = run.client
    client.log_metric("no-such-run", "x", 1.0)
    with pytest.raises(StoreError, match="could not be recorded"):
        run.end()
    assert cairn.get_run(run.id).status.value == "FINISHED"


def test_log_metric_costs_an_append(workspace: Workspace) -> None:
    """The fluent call stays far below the 5 µs budget.

    CPU time of this thread, best of several rounds smaller than the writer's wake-up
    threshold, flushed between rounds: the figure is the call itself, not other
    processes on a busy machine nor the background writes.
    """
    n = 2_000
    best = float("inf")
    with cairn.start_run():
        for _ in range(10):
            began = time.thread_time()
            for i in range(n):
                cairn.log_metric("loss", 0.5, i)
            best = min(best, (time.thread_time() - began) / n)
            cairn.flush()
    assert best < 5e-6, f"log_metric took {best * 1e6:.2f} µs per call"


def test_forked_child_gets_an_empty_buffer_and_its_own_writer(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("fork")
    client._buffer.interval = 3600  # keep the parent's points pending across the fork
    client.log_metric(run.id, "parent", 1.0)
    pid = os.fork()
    if pid == 0:  # child: must not write the parent's point, must write its own
        code = 0
        try:
            if client._buffer.pending != 0 or client._buffer._thread is not None:
                code = 3
            else:
                client.log_metric(run.id, "child", 2.0)
                client.flush()
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.flush()
    assert len(workspace.tracking.get_metric_history(run.id, "parent")) == 1
    assert [m.value for m in workspace.tracking.get_metric_history(run.id, "child")] == [2.0]
    client.close()


def test_metric_points_keep_their_timestamps_and_steps(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("ts")
    client.log_metric(run.id, "m", 1.5, step=7, timestamp=1_700_000_000_000)
    assert client.get_metric_history(run.id, "m") == [Metric("m", 1.5, 7, 1_700_000_000_000)]
    client.close()


# -- bounded memory: back-pressure instead of an ever-growing queue ---------------------------


def test_a_full_buffer_blocks_the_logger_until_the_store_has_written(
    workspace: Workspace,
) -> None:
    """A store that cannot keep up (here: held inside its first write) stops the logging
    thread at the buffer's capacity instead of letting the queue grow without end."""
    store = workspace.tracking
    run = store.create_run(store.create_experiment("slow").id)
    entered, release = threading.Event(), threading.Event()

    def slow_write(run_id: str, points: Sequence[Metric]) -> None:
        entered.set()
        release.wait(60)
        store.log_batch(run_id, metrics=points)

    capacity, total = 1000, 5000
    buffer = MetricBuffer(slow_write, interval=0.05, capacity=capacity)
    logged = 0

    def log_all() -> None:
        nonlocal logged
        for step in range(total):
            buffer.add(run.id, "x", float(step), step, 1)
            logged += 1

    logger = threading.Thread(target=log_all)
    logger.start()
    try:
        assert entered.wait(10)
        assert _eventually(lambda: buffer.high_water >= capacity)
        # Whatever the logger does from here, it cannot get past the capacity while
        # the store holds the first batch.
        assert logger.is_alive()
        assert logged < capacity
        assert buffer.pending + buffer.batch_size <= capacity
    finally:
        release.set()
        logger.join(60)
    buffer.close()
    assert logged == total
    assert buffer.high_water == capacity
    assert [m.step for m in store.get_metric_history(run.id, "x")] == list(range(total))


def test_threads_logging_into_a_tiny_buffer_all_get_through(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("threads")
    client.metric_buffer.capacity = 50  # far below what 4 threads log at once
    errors: list[BaseException] = []

    def log(worker: int) -> None:
        try:
            for i in range(3000):
                client.log_metric(run.id, f"w{worker}", float(i), step=i)
        except BaseException as exc:  # reported below; a thread's exception is lost
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    client.flush()
    for w in range(4):
        assert len(workspace.tracking.get_metric_history(run.id, f"w{w}")) == 3000
    # One point over the capacity per thread at most: each holds the point it is adding.
    assert client.metric_buffer.high_water <= 50 + 4
    client.close()


def test_buffer_size_and_flush_interval_come_from_settings(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = workspace.root / "cairn.toml"  # type: ignore[operator]
    toml.write_text(
        toml.read_text().replace(
            "[tracking]\n", "[tracking]\nmetric_buffer = 3000\nmetric_flush_seconds = 0.2\n"
        )
    )
    settings = load_settings(workspace.root)
    assert (settings.metric_buffer, settings.metric_flush_seconds) == (3000, 0.2)
    monkeypatch.setenv("CAIRN_METRIC_BUFFER", "4_000")
    client = TrackingClient(Workspace(load_settings(workspace.root)))
    assert (client.metric_buffer.capacity, client.metric_buffer.interval) == (4000, 0.2)
    assert client.metric_buffer.flush_count <= 1000


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("env", "lots", r"CAIRN_METRIC_BUFFER=lots must be a whole number from 1 to 1e\+07"),
        ("env", "0", r"CAIRN_METRIC_BUFFER=0 must be a whole number"),
        ("toml", "-5", r"\[tracking\] metric_buffer = -5 in cairn.toml must be a whole number"),
        ("toml", "2.5", r"metric_buffer = 2.5 in cairn.toml must be a whole number"),
        ("toml", "true", r"metric_buffer = True in cairn.toml must be a whole number"),
    ],
    ids=["env-word", "env-zero", "toml-negative", "toml-fraction", "toml-bool"],
)
def test_a_bad_buffer_size_is_refused_with_the_setting_named(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, where: str, value: str, message: str
) -> None:
    if where == "env":
        monkeypatch.setenv("CAIRN_METRIC_BUFFER", value)
    else:
        toml = workspace.root / "cairn.toml"  # type: ignore[operator]
        toml.write_text(
            toml.read_text().replace("[tracking]\n", f"[tracking]\nmetric_buffer = {value}\n")
        )
    with pytest.raises(ConfigError, match=message):
        load_settings(workspace.root)


def test_a_bad_flush_interval_stops_the_cli_with_one_line(workspace: Workspace) -> None:
    env = {**os.environ, "CAIRN_METRIC_FLUSH_SECONDS": "0"}
    cli = os.path.join(os.path.dirname(sys.executable), "cairn")
    done = subprocess.run(
        [cli, "runs", "ls"], cwd=workspace.root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: CAIRN_METRIC_FLUSH_SECONDS=0 must be a number from 0.01 to 3600; "
        "unset it for the default 0.5"
    )


# -- a store that cannot take the points: the run says so -------------------------------------


def _fill_disk(workspace: Workspace, spare_pages: int = 2) -> None:
    """From now on the database can grow by only ``spare_pages`` pages.

    ``PRAGMA max_page_count`` on every new connection: SQLite then fails writes that
    need more pages with its real disk-full error (SQLITE_FULL, "database or disk is
    full"), exactly as on a full file system.
    """
    engine = workspace.metadata.engine
    # Pages freed by the schema migrations would otherwise be reused without growing the
    # file: VACUUM (outside any transaction) returns them, so the file is all the room.
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
    finally:
        raw.close()
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    @event.listens_for(engine, "connect")
    def _limit(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + spare_pages}")  # type: ignore[attr-defined]

    engine.dispose()  # pooled connections were opened without the limit


def test_points_lost_to_a_full_disk_end_the_run_failed_with_the_count(
    workspace: Workspace,
) -> None:
    total = 60_000
    with pytest.raises(StoreError) as raised, cairn.start_run(experiment="full") as run:
        _fill_disk(run.client.workspace)
        for step in range(total):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
    message = str(raised.value)
    assert message.startswith(f"run {run.id} ended FAILED: ")
    assert "database or disk is full" in message
    stored = cairn.get_run(run.id)
    lost = int(stored.tags[LOST_METRICS_TAG])
    assert f"{lost} metric point(s) of run {run.id} could not be recorded" in message
    assert stored.status is RunStatus.FAILED
    assert stored.tags[ERROR_TYPE_TAG] == "MetricsLost"
    kept = len(cairn.get_metric_history(run.id, "loss"))
    assert lost > 0
    assert kept + lost == total


def test_a_run_that_lost_points_cannot_be_ended_finished_by_a_second_try(
    workspace: Workspace,
) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("twice")
    _fill_disk(workspace, spare_pages=0)
    for step in range(500):
        client.log_metric(run.id, "m", 0.5, step=step)
    with pytest.raises(StoreError, match=f"run {run.id} ended FAILED: 500 metric point"):
        client.end_run(run.id)
    with pytest.raises(StoreError, match=f"run {run.id} ended FAILED: 500 metric point"):
        client.end_run(run.id, "FINISHED")
    stored = workspace.tracking.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.tags[LOST_METRICS_TAG] == "500"
    assert workspace.tracking.get_metric_history(run.id, "m") == []
    client.close()
