"""Waiting out the stat cache's racy window on a condition, not a guessed pause."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cairn.data import statcache


def _newest_change_ns(paths: tuple[Path, ...]) -> int:
    newest = 0
    for top in paths:
        found = [top] if not top.is_dir() else [p for p in top.rglob("*") if p.is_file()]
        for path in found:
            st = os.stat(path)
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return newest


def wait_out_of_racy_window(*paths: Path, timeout: float = 30.0) -> None:
    """Return once every file under ``paths`` counts as settled for the stat cache.

    The condition is the cache's own rule (:func:`cairn.data.statcache.scan`): a file is
    trusted when its mtime and ctime are older than ``RACY_WINDOW_NS`` before a scan
    starts. ctime cannot be set back, so a test that wants a cached add waits for the
    clock, here until that rule holds for the newest change, whatever the machine's speed.
    """
    newest = _newest_change_ns(paths or (Path.cwd(),))
    deadline = time.monotonic() + timeout
    while time.time_ns() - statcache.RACY_WINDOW_NS <= newest:
        if time.monotonic() > deadline:
            raise AssertionError(f"the clock did not pass {newest} ns within {timeout} s")
        time.sleep(0.005)
