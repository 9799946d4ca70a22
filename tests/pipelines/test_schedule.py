"""Schedules in one process: when a slot is due, catching up once, dataset triggers,
one firing at a time, and the bad input `cairn schedule add` refuses."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from schedule_helpers import FakeClock, invoke_cli, ms, write_pipeline_file

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.pipelines import schedule as schedules
from cairn.pipelines.scheduler import Scheduler
from cairn.workspace import Workspace


@pytest.fixture
def pipeline_file(workspace: Workspace) -> Path:
    assert workspace.root is not None
    return write_pipeline_file(workspace.root)


@pytest.fixture
def invoke() -> Callable[..., Any]:
    return invoke_cli


class Recorder:
    """A pipeline runner that records its calls; ``gate`` (if set) holds each run open."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate = gate
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def __call__(self, target: str, *, params: dict[str, str], executor: str | None) -> str:
        with self._lock:
            self.calls.append({"target": target, "params": params, "executor": executor})
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None:
                assert self.gate.wait(30), "the test never released the pipeline"
            return f"run{len(self.calls)}"
        finally:
            with self._lock:
                self.active -= 1


def _firings(ws: Workspace, name: str) -> list[tuple[str, str, int]]:
    found = schedules.store(ws).list_firings(name)
    return sorted((f.fire_key, f.state, f.attempts) for f in found)


def test_a_scheduler_down_for_days_catches_up_once_not_once_per_slot(
    workspace: Workspace, pipeline_file: Path
) -> None:
    clock = FakeClock("2026-03-01T00:00")
    schedules.add_schedule(
        "nightly", f"{pipeline_file}:train", cron="0 3 * * *", workspace=workspace, now=clock()
    )
    runner = Recorder()
    scheduler = Scheduler(workspace, runner, clock=clock)

    scheduler.tick()
    assert runner.calls == []  # 03:00 has not come yet

    clock.set("2026-03-05T12:00")  # four nightly slots went by while nobody ran
    started = scheduler.tick()
    scheduler.wait()
    assert [f.fire_key for f in started] == ["2026-03-05T03:00:00+00:00"]
    assert len(runner.calls) == 1
    scheduler.tick()
    scheduler.wait()
    assert len(runner.calls) == 1  # the same slot is not started again

    clock.set("2026-03-06T03:00")  # exactly on the next slot
    scheduler.tick()
    scheduler.wait()
    assert _firings(workspace, "nightly") == [
        ("2026-03-05T03:00:00+00:00", "finished", 1),
        ("2026-03-06T03:00:00+00:00", "finished", 1),
    ]


def test_a_restarted_scheduler_does_not_start_a_slot_the_previous_one_claimed(
    workspace: Workspace, pipeline_file: Path
) -> None:
    clock = FakeClock("2026-03-01T00:00")
    schedules.add_schedule(
        "nightly", f"{pipeline_file}:train", cron="0 3 * * *", workspace=workspace, now=clock()
    )
    clock.set("2026-03-01T03:30")
    first = Recorder()
    Scheduler(workspace, first, clock=clock).run(threading.Event(), once=True)
    second = Recorder()
    Scheduler(workspace, second, clock=clock).run(threading.Event(), once=True)
    assert (len(first.calls), len(second.calls)) == (1, 0)
    assert schedules.store(workspace).get_schedule("nightly").last_fire_time == ms(
        "2026-03-01T03:00"
    )


def test_a_slot_that_comes_due_while_the_last_run_is_still_going_waits_for_it(
    workspace: Workspace, pipeline_file: Path
) -> None:
    clock = FakeClock("2026-03-01T00:00")
    schedules.add_schedule(
        "hourly", f"{pipeline_file}:train", cron="0 * * * *", workspace=workspace, now=clock()
    )
    gate = threading.Event()
    runner = Recorder(gate)
    # Two schedulers on one store: the second must not start the next hour either.
    one = Scheduler(workspace, runner, clock=clock)
    two = Scheduler(workspace, runner, clock=clock)
    clock.set("2026-03-01T01:05")
    assert len(one.tick()) == 1
    clock.set("2026-03-01T02:05")  # the next slot is due, the 01:00 run still going
    assert one.tick() == []  # (its heartbeat keeps the 01:00 firing alive for the other)
    assert two.tick() == []
    gate.set()
    one.wait()
    assert len(two.tick()) == 1  # now it starts, once
    two.wait()
    assert runner.most_active == 1
    assert [k for k, _, _ in _firings(workspace, "hourly")] == [
        "2026-03-01T01:00:00+00:00",
        "2026-03-01T02:00:00+00:00",
    ]


def test_a_new_dataset_version_starts_the_pipeline_with_that_version(
    workspace: Workspace, pipeline_file: Path, tmp_path: Path
) -> None:
    import cairn

    data = tmp_path / "churn.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    cairn.data.add(data, name="churn")
    clock = FakeClock("2026-03-01T00:00")
    schedules.add_schedule(
        "retrain",
        f"{pipeline_file}:train",
        on_dataset="churn",
        params={"lr": 0.1},
        workspace=workspace,
        now=clock(),
    )
    runner = Recorder()
    scheduler = Scheduler(workspace, runner, clock=clock)
    scheduler.tick()
    assert runner.calls == []  # v1 existed before the schedule: not new

    for rows in ("1,2\n3,4\n", "1,2\n3,4\n5,6\n"):  # two versions before the next tick
        data.write_text("a,b\n" + rows, encoding="utf-8")
        cairn.data.add(data, name="churn")
    scheduler.tick()
    scheduler.wait()
    scheduler.tick()
    scheduler.wait()
    assert [c["params"] for c in runner.calls] == [{"lr": "0.1", "dataset": "churn@v3"}]
    assert _firings(workspace, "retrain") == [("churn@v3", "finished", 1)]


def test_a_failing_pipeline_is_recorded_failed_with_its_error_and_the_next_slot_runs(
    workspace: Workspace, pipeline_file: Path
) -> None:
    clock = FakeClock("2026-03-01T00:00")
    schedules.add_schedule(
        "nightly", f"{pipeline_file}:train", cron="0 3 * * *", workspace=workspace, now=clock()
    )
    calls: list[str] = []

    def flaky(target: str, **_: Any) -> None:
        calls.append(target)
        if len(calls) == 1:
            raise ValueError("bad input column 'plan'")

    scheduler = Scheduler(workspace, flaky, clock=clock)
    clock.set("2026-03-01T03:01")
    scheduler.run(threading.Event(), once=True)
    clock.set("2026-03-02T03:01")
    scheduler.run(threading.Event(), once=True)
    found = schedules.store(workspace).list_firings("nightly")
    assert [(f.state, f.error) for f in found] == [
        ("finished", ""),
        ("failed", "ValueError: bad input column 'plan'"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cron": "0 3 * *"}, InvalidInput, r"invalid cron expression '0 3 \* \*': use five"),
        ({"cron": "61 3 * * *"}, InvalidInput, "invalid cron expression"),
        ({}, InvalidInput, "needs exactly one trigger"),
        ({"cron": "0 3 * * *", "on_dataset": "x"}, InvalidInput, "exactly one trigger"),
        ({"on_dataset": "nope"}, NotFound, "no dataset named 'nope'.*cairn data add"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, InvalidInput, "unknown time zone"),
        ({"cron": "0 3 * * *", "params": {"bad key": 1}}, InvalidInput, "parameter name"),
    ],
    ids=["4-fields", "minute-61", "no-trigger", "two-triggers", "no-dataset", "tz", "param"],
)
def test_bad_schedules_are_refused_and_nothing_is_stored(
    workspace: Workspace,
    pipeline_file: Path,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        schedules.add_schedule("s", f"{pipeline_file}:train", workspace=workspace, **kwargs)
    assert schedules.list_schedules(workspace) == []


def test_a_missing_pipeline_file_and_a_taken_name_are_refused(
    workspace: Workspace, pipeline_file: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"pipeline file .*nope\.py does not exist"):
        schedules.add_schedule("s", "nope.py:train", cron="0 3 * * *", workspace=workspace)
    with pytest.raises(InvalidInput, match=r"use FILE\.py:PIPELINE"):
        schedules.add_schedule("s", "pipelines.py", cron="0 3 * * *", workspace=workspace)
    schedules.add_schedule("s", "pipelines.py:train", cron="0 3 * * *", workspace=workspace)
    with pytest.raises(AlreadyExists, match="a schedule named 's' exists"):
        schedules.add_schedule("s", "pipelines.py:train", cron="0 4 * * *", workspace=workspace)
    (stored,) = schedules.list_schedules(workspace)
    assert (stored.cron, stored.pipeline) == ("0 3 * * *", f"{pipeline_file}:train")


def test_schedule_cli_adds_lists_and_removes(
    workspace: Workspace, pipeline_file: Path, invoke: Callable[..., Any]
) -> None:
    added = invoke(
        "schedule", "add", "nightly", "--pipeline", "pipelines.py:train",
        "--cron", "0 3 * * *", "--param", "lr=0.1",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "Added schedule nightly: cron 0 3 * * * (UTC)" in added.stdout
    table = invoke("schedule", "ls").stdout.splitlines()
    assert table[0].split() == ["NAME", "TRIGGER", "PIPELINE", "NEXT", "LAST", "FIRING"]
    assert table[1].startswith("nightly  cron 0 3 * * * (UTC)")
    listed = invoke("schedule", "ls", "--json")
    assert '"params": {\n      "lr": "0.1"' in listed.stdout
    bad = invoke("schedule", "add", "x", "--pipeline", "pipelines.py:train", "--cron", "nope")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: invalid cron expression 'nope'")
    bad = invoke("schedule", "add", "x", "--pipeline", "pipelines.py:train", "--param", "lr")
    assert (bad.exit_code, bad.stderr.strip()) == (
        1,
        "error: invalid --param 'lr': use KEY=VALUE, e.g. --param lr=0.1",
    )
    assert invoke("schedule", "rm", "nightly").exit_code == 0
    gone = invoke("schedule", "rm", "nightly")
    assert (gone.exit_code, gone.stderr.strip()) == (
        1,
        "error: no schedule named 'nightly'; see `cairn schedule ls`",
    )


def test_scheduler_cli_names_a_runner_that_cannot_be_loaded(
    workspace: Workspace, invoke: Callable[..., Any]
) -> None:
    result = invoke("scheduler", "--once", "--runner", "no_such_module:run")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot load the pipeline runner 'no_such_module:run'")
