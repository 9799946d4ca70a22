"""Helpers both server workers use (standard library only): free ports, waiting for a
server, its resident memory, and the 8-client throughput run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 180) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"no answer from {url} in {deadline_s:.0f} s")
        time.sleep(0.1)


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (workers), MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            continue
    return total / 1024


class PeakRss:
    """Samples a process tree's RSS every 50 ms in a thread; ``peak`` is the highest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mib(self.pid))
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def clients(script: str, env: dict[str, str], n_clients: int, runs: int) -> float:
    """Wall seconds for ``n_clients`` processes of ``script client RUNS`` to finish (each
    waits for a start file, so interpreter start-up is not timed)."""
    go = Path(env["BENCH_GO_FILE"])
    go.unlink(missing_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, script, "client", str(runs)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
        )
        for _ in range(n_clients)
    ]
    for p in procs:  # each says "ready" once imported and connected
        line = p.stdout.readline() if p.stdout else b""
        if line.strip() != b"ready":
            raise SystemExit(f"client failed to start: {line!r}")
    start = time.perf_counter()
    go.write_text("go")
    for p in procs:
        out = p.communicate()[0]
        if p.returncode != 0 or json.loads(out.splitlines()[-1])["runs"] != runs:
            raise SystemExit(f"client exited {p.returncode}")
    return time.perf_counter() - start


def wait_go(path: str) -> None:
    print("ready", flush=True)
    while not os.path.exists(path):
        time.sleep(0.005)
