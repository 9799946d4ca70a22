"""Schedulers as real processes: killed with SIGKILL mid-run, and two of them on one
PostgreSQL store. The clock is a file the test moves (see ``scheduler_proc.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from schedule_helpers import ms

from cairn.pipelines import schedule as schedules
from cairn.workspace import Workspace

PROC = Path(__file__).with_name("scheduler_proc.py")
DEADLINE = 60.0


class Harness:
    """Scheduler processes on one workspace, with their clock, log and gate files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = root / "clock"
        self.log = root / "runner.log"
        self.gate = root / "gate"
        self.procs: list[subprocess.Popen[bytes]] = []

    def set_clock(self, text: str) -> int:
        self.clock.write_text(str(ms(text)), encoding="utf-8")
        return ms(text)

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.root / f"stderr-{len(self.procs)}", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(PROC), str(self.clock), str(self.log), str(self.gate)],
                cwd=self.root,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.procs.append(proc)
        return proc

    def events(self, kind: str) -> list[tuple[str, int]]:
        """(slot, pid) of each ``start`` or ``end`` line the runners wrote."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [(p[1], int(p[2])) for p in (line.split() for line in lines) if p[0] == kind]

    def ticks(self, pid: int, now: int) -> int:
        """How many ticks process ``pid`` made with the clock at ``now``."""
        path = Path(f"{self.log}.ticks")
        if not path.exists():
            return 0
        return path.read_text(encoding="utf-8").count(f"tick {pid} {now}\n")

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            for proc in self.procs:
                if proc.poll() not in (None, -signal.SIGKILL):
                    err = (self.root / f"stderr-{self.procs.index(proc)}").read_text()
                    pytest.fail(f"scheduler {proc.pid} exited {proc.returncode}: {err[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; log: {self.events('start')}")
            time.sleep(0.02)

    def settle(self, procs: list[subprocess.Popen[bytes]], now: int) -> None:
        """Wait until each process has looked at the schedules three times at ``now``."""
        self.wait_for(lambda: all(self.ticks(p.pid, now) >= 3 for p in procs), "schedulers to tick")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[[Workspace], Harness]]:
    made: list[Harness] = []

    def make(ws: Workspace) -> Harness:
        assert ws.root is not None
        (ws.root / "pipelines.py").write_text("def train(): ...\n", encoding="utf-8")
        made.append(Harness(ws.root))
        return made[-1]

    yield make
    for h in made:
        h.stop()


def _firings(ws: Workspace, name: str) -> list[tuple[str, str, int]]:
    return sorted((f.fire_key, f.state, f.attempts) for f in schedules.store(ws).list_firings(name))


def test_a_scheduler_killed_mid_run_loses_nothing_and_doubles_nothing(
    workspace: Workspace, harness: Callable[[Workspace], Harness]
) -> None:
    h = harness(workspace)
    created = h.set_clock("2026-03-01T00:00")
    schedules.add_schedule(
        "nightly", "pipelines.py:train", cron="0 3 * * *", workspace=workspace, now=created
    )
    h.set_clock("2026-03-01T03:30")
    first = h.start()
    slot = "2026-03-01T03:00:00+00:00"
    h.wait_for(lambda: h.events("start") == [(slot, first.pid)], "the 03:00 run to start")

    os.kill(first.pid, signal.SIGKILL)  # mid-run: the firing is claimed, the run not done
    first.wait()
    h.gate.touch()
    second = h.start()
    h.wait_for(lambda: h.events("end") == [(slot, second.pid)], "the retaken run to end")
    # Retaken, not lost and not doubled: one firing for the slot, on its second attempt.
    assert _firings(workspace, "nightly") == [(slot, "finished", 2)]
    assert h.events("start") == [(slot, first.pid), (slot, second.pid)]

    os.kill(second.pid, signal.SIGKILL)  # now while idle, then down for three days
    second.wait()
    later = h.set_clock("2026-03-04T05:00")
    third = h.start()
    newest = "2026-03-04T03:00:00+00:00"
    h.wait_for(lambda: (newest, third.pid) in h.events("end"), "the catch-up run")
    h.settle([third], later)
    assert _firings(workspace, "nightly") == [(slot, "finished", 2), (newest, "finished", 1)]
    assert len(h.events("start")) == 3


@pytest.mark.postgres
def test_two_schedulers_on_one_postgresql_store_start_each_slot_once_one_at_a_time(
    tmp_path: Path,
    postgres_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    harness: Callable[[Workspace], Harness],
    request: pytest.FixtureRequest,
) -> None:
    ws = Workspace.init(tmp_path / "pg-ws", tracking_uri=postgres_uri)
    request.addfinalizer(ws.close)
    monkeypatch.chdir(ws.root)
    h = harness(ws)
    created = h.set_clock("2026-03-01T00:00")
    schedules.add_schedule(
        "hourly", "pipelines.py:train", cron="0 * * * *", workspace=ws, now=created
    )
    h.set_clock("2026-03-01T01:05")
    procs = [h.start(), h.start()]
    h.wait_for(lambda: len(h.events("start")) == 1, "the 01:00 run to start")

    # The 02:00 slot comes due while the 01:00 run is still going: neither scheduler
    # starts it until that run ends.
    now = h.set_clock("2026-03-01T02:05")
    h.settle(procs, now)
    assert [slot for slot, _ in h.events("start")] == ["2026-03-01T01:00:00+00:00"]

    h.gate.touch()
    h.wait_for(lambda: len(h.events("end")) == 2, "the 02:00 run to end")
    now = h.set_clock("2026-03-01T09:30")  # seven slots missed: caught up once
    h.wait_for(lambda: len(h.events("end")) == 3, "the catch-up run to end")
    h.settle(procs, now)

    expected = ["2026-03-01T01:00:00+00:00", "2026-03-01T02:00:00+00:00"]
    expected.append("2026-03-01T09:00:00+00:00")
    assert [slot for slot, _ in h.events("start")] == expected
    assert _firings(ws, "hourly") == [(slot, "finished", 1) for slot in expected]
    # Never two at once: every start is followed by its own end before the next start.
    lines = h.log.read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in lines] == ["start", "end"] * 3
    assert [line.split()[1] for line in lines] == [s for s in expected for _ in (0, 1)]
