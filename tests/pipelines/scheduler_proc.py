"""A scheduler process for the crash and two-scheduler tests.

Run as ``python scheduler_proc.py CLOCK_FILE LOG_FILE GATE_FILE`` in a workspace's
folder. It runs the same :class:`~cairn.pipelines.scheduler.Scheduler` as `cairn
scheduler`, with two test seams: the clock is read from CLOCK_FILE (milliseconds; the
test moves it), and the pipeline runner appends ``start KEY PID`` to LOG_FILE, waits
until GATE_FILE exists, then appends ``end KEY PID``. Every tick appends ``tick PID NOW``
to LOG_FILE + ".ticks", so a test can wait until both schedulers have looked.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cairn.pipelines.scheduler import Scheduler, current_firing
from cairn.workspace import current


def main() -> None:
    clock_file, log_file, gate_file = (Path(a) for a in sys.argv[1:4])
    pid = os.getpid()

    def clock() -> int:
        return int(clock_file.read_text(encoding="utf-8"))

    def append(path: Path, line: str) -> None:
        with open(path, "a", encoding="utf-8") as f:  # O_APPEND: whole lines from each process
            f.write(line + "\n")

    def runner(target: str, *, params: dict[str, str], executor: str | None) -> str:
        firing = current_firing()
        assert firing is not None
        key = firing.fire_key
        append(log_file, f"start {key} {pid}")
        while not gate_file.exists():
            time.sleep(0.02)
        append(log_file, f"end {key} {pid}")
        return f"run-{key}"

    class Logged(Scheduler):
        def tick(self) -> Any:
            started = super().tick()
            append(Path(f"{log_file}.ticks"), f"tick {pid} {self.clock()}")
            return started

    scheduler = Logged(current(), runner, clock=clock, lease_ms=36_000_000)
    scheduler.run(threading.Event(), poll=0.05)


if __name__ == "__main__":
    main()
