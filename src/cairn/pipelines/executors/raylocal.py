"""Stopping a local Ray that Cairn started, without Ray's graceful teardown.

``ray.shutdown()`` sends SIGTERM to each of Ray's processes in turn and waits up to a
second for each (over a second in all on a small machine). For a local Ray that Cairn
started for one run, and whose tasks have all finished or been cancelled, nothing is
left to hand over: :func:`stop_local` disconnects this process from Ray the way
``ray.shutdown()`` does, then freezes every process of that Ray (the ones it started
and all their descendants: GCS server, raylet, dashboard, agents, workers) with SIGSTOP,
so that none can start another, and kills them all with SIGKILL at once. It reads the
process tree from ``/proc``; where there is none (macOS) it falls back to
``ray.shutdown()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: How long to wait for killed processes to be gone before giving up on them.
REAP_SECONDS = 10.0


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from ``/proc``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them (Linux)."""
    found = set(roots)
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signal(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def kill_tree(roots: Iterable[int]) -> set[int]:
    """Freeze ``roots`` and all their descendants, then kill them all; returns the pids.

    Freezing first closes the race with a process starting a child while the tree is
    read: a stopped process cannot fork, so the tree read after the last SIGSTOP is
    complete.
    """
    roots = set(roots)
    frozen: set[int] = set()
    while True:
        tree = descendants(roots | frozen)
        fresh = tree - frozen
        if not fresh:
            break
        _signal(fresh, signal.SIGSTOP)
        frozen |= fresh
    _signal(frozen, signal.SIGKILL)
    return frozen


def stop_local(ray: Any) -> None:
    """Disconnect from the local Ray this process started and kill all its processes."""
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(worker, "_global_node", None)
    processes = getattr(node, "all_processes", None)
    if node is None or not sys.platform.startswith("linux") or not isinstance(processes, dict):
        ray.shutdown()
        return
    popens = [info.process for infos in processes.values() for info in infos]
    # ray.shutdown() disconnects this process (its core worker, the GCS client) first and
    # then stops the processes one by one, gracefully; the processes are stopped below
    # instead, all at once.
    node.kill_all_processes = lambda *args, **kwargs: None
    ray.shutdown()
    # A process that already ended may have had its pid reused: only the running ones.
    pids = kill_tree(p.pid for p in popens if p.poll() is None)
    deadline = time.monotonic() + REAP_SECONDS
    for popen in popens:  # this process's children: reap them
        with contextlib.suppress(Exception):
            popen.wait(timeout=max(0.0, deadline - time.monotonic()))
    # The others were the raylet's children; init reaps them once it is gone.
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
