"""Cairn side of the data benchmark; runs in the project venv.

Usage: ``python data_cairn.py MODE SIZE``:

- ``file MiB``: a random file of SIZE MiB; times ``cp``, raw multithreaded BLAKE3 of the
  file (``cairn.hashing.hash_file``), the artifact store's ``put_file`` in-process with
  its hashing call timed on its own (the hashing phase, which runs while the kernel
  copies the file), and the whole ``cairn data add`` command (a fresh workspace per
  repeat). Also checks once that the command shows a progress bar on a terminal.
- ``dir N``: N files of 4 KiB; times ``cairn data add`` of the folder, a re-add of the
  unchanged folder and ``cairn data status`` (what ``dvc status`` answers).
- ``profile ROWS``: a Parquet file of ROWS x 20 columns; times the profile in a child
  process and reports its peak RSS (and the RSS of the same imports without profiling).

The data is written before the clock starts and is in the page cache when timed. The
``cairn`` commands run with compiled bytecode cached (in a private folder), as an
installed package has it: the benchmark framework disables writing ``.pyc`` files, which
would otherwise make every command compile Cairn's modules from source. Prints one JSON
object as the last line.
"""

from __future__ import annotations

import json
import mmap
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7
PROFILE_REPEATS = 3
_PYC = Path(tempfile.mkdtemp(prefix="cairn-bench-pyc-"))
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": str(_PYC),
}


def cairn(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", *args], cwd=cwd, capture_output=True, text=True, env=ENV
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"cairn {' '.join(args)} failed: {proc.stderr.strip()}")
    return elapsed


def settle(data: Path | None = None) -> None:
    """Start a timed step with nothing waiting to be written back (the previous step's
    copies must not be flushed during this one) and with ``data`` in the page cache
    (this machine's cache loses pages of idle files now and then, which turned some
    repeats into disk reads). The DVC worker does the same before each ``dvc add``."""
    os.sync()
    if data is not None:
        with open(data, "rb") as f:
            while f.readinto(_WARM):
                pass
    time.sleep(0.2)
    touch_memory()


_WARM = bytearray(1 << 20)


def touch_memory(size: int = 2 << 30) -> None:
    """Write to ``size`` bytes of fresh memory and free it.

    This machine is a virtual machine that hands idle guest memory back to its host;
    the first write to such memory costs a fault in the host, which made a 1 GiB copy
    (``cp`` or any tool) take 2-4 times as long in a random half of the repeats.
    Writing this much just before a timed step gives every tool resident memory to
    copy into. The DVC worker does the same.
    """
    region = mmap.mmap(-1, size)
    chunk = b"\1" * (1 << 20)
    for offset in range(0, size, len(chunk)):
        region[offset : offset + len(chunk)] = chunk
    region.close()


def fresh_workspace(base: Path, name: str) -> Path:
    from cairn.workspace import Workspace

    root = base / name
    Workspace.init(root).close()
    return root


def warm_up(base: Path, target: Path) -> None:
    """One untimed add and status: compiles and caches the bytecode of every module used."""
    ws = fresh_workspace(base, "warm-up")
    cairn("data", "add", str(target), "--name", "warm", cwd=ws)
    cairn("data", "status", cwd=ws)
    shutil.rmtree(ws)


def on_terminal(args: list[str], cwd: Path) -> str:
    """Run ``cairn ARGS`` with stdout and stderr on a pseudo-terminal; return what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**ENV, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(follower)
    out = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait()
    os.close(leader)
    return out.decode(errors="replace")


def file_mode(mib: int) -> dict[str, object]:
    import cairn.store.artifacts as artifacts
    from cairn.hashing import hash_file, usable_cores
    from cairn.store.artifacts import ArtifactStore

    hash_seconds: list[float] = []

    def timed_hash(path: str | os.PathLike[str], threads: int | None = None) -> tuple[str, int]:
        start = time.perf_counter()
        try:
            return hash_file(path, threads)
        finally:
            hash_seconds.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        data = base / "big.bin"
        with open(data, "wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
        os.sync()  # the copies below should not wait on the write-back of this one
        time.sleep(0.2)  # older than the stat cache's racy window, as in real use
        hash_file(data)  # warm the page cache
        warm_up(base, data)
        cp, raw, raw_left, phase, put, add = [], [], [], [], [], []
        for i in range(REPEATS):
            settle(data)
            start = time.perf_counter()
            subprocess.run(["cp", str(data), str(base / "copy.bin")], check=True)
            cp.append(time.perf_counter() - start)
            (base / "copy.bin").unlink()
            settle(data)
            start = time.perf_counter()
            hash_file(data)
            raw.append(time.perf_counter() - start)
            start = time.perf_counter()
            hash_file(data, threads=usable_cores() - 1)
            raw_left.append(time.perf_counter() - start)
            # The store's own call, with its hashing timed while the kernel copies.
            store = ArtifactStore(str(base / f"store{i}"))
            setattr(artifacts, "hash_file", timed_hash)  # noqa: B010  (module's own name)
            try:
                settle(data)
                start = time.perf_counter()
                store.put_file(data)
                put.append(time.perf_counter() - start)
            finally:
                setattr(artifacts, "hash_file", hash_file)  # noqa: B010
            phase.append(hash_seconds[-1])
            shutil.rmtree(base / f"store{i}")
            ws = fresh_workspace(base, f"ws{i}")
            settle(data)
            add.append(cairn("data", "add", str(data), "--name", "big", cwd=ws))
            shutil.rmtree(ws)  # drops its copy (and the dirty pages) before the next repeat
        ws = fresh_workspace(base, "terminal")
        drawn = on_terminal(["data", "add", str(data), "--name", "big"], cwd=ws)
        bar = f"storing {data.name}" in drawn and "━" in drawn
        return {
            "cp": cp,
            "blake3": raw,
            "blake3_left": raw_left,
            "cores": usable_cores(),
            "hash_phase": phase,
            "put_file": put,
            "add": add,
            "bytes": mib << 20,
            "progress_bar": bar,
        }


def dir_mode(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        folder = base / "files"
        for i in range(count):
            sub = folder / f"d{i % 100:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
        time.sleep(0.2)  # files older than the stat cache's racy window, as in real use
        warm_up(base, folder)
        add, readd, status = [], [], []
        for i in range(REPEATS):
            ws = fresh_workspace(base, f"ws{i}")
            settle()
            add.append(cairn("data", "add", str(folder), "--name", "files", cwd=ws))
            readd.append(cairn("data", "add", str(folder), "--name", "files", cwd=ws))
            status.append(cairn("data", "status", cwd=ws))
            shutil.rmtree(ws)
        return {"add": add, "readd": readd, "status": status, "files": count}


# Peak RSS is the child's VmHWM (KiB), which starts afresh at exec; ru_maxrss would carry
# over the parent's peak (this worker holds the generated table) through fork.
PROFILE_CHILD = """
import sys, time
from pathlib import Path
def peak():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
import numpy, pandas, pyarrow.parquet
from cairn.data.tabular import Source, iter_batches, schema_of
from cairn.data.profile import compute_profile
base = peak()
if sys.argv[2] == "profile":
    src = [Source("data", path=Path(sys.argv[1]))]
    start = time.perf_counter()
    schema = schema_of(src, "parquet")
    compute_profile(schema, lambda cols: iter_batches(src, "parquet", schema, cols))
    elapsed = time.perf_counter() - start
else:
    elapsed = 0.0
print(elapsed, base, peak())
"""


def profile_mode(rows: int) -> dict[str, object]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp) / "table.parquet"
        rng = np.random.default_rng(0)
        columns: dict[str, object] = {}
        for i in range(10):
            columns[f"num{i}"] = rng.normal(i, 1 + i, rows)
        for i in range(5):
            columns[f"int{i}"] = rng.integers(0, 10 ** (i + 1), rows)
        for i in range(5):
            cats = np.array([f"cat{j}" for j in range(10 ** (i % 4 + 1))])
            columns[f"cat{i}"] = pa.array(cats[rng.integers(0, cats.size, rows)])
        pq.write_table(pa.table(columns), path, row_group_size=128 * 1024)
        runs, peaks, bases = [], [], []
        for _ in range(PROFILE_REPEATS):
            out = subprocess.run(
                [sys.executable, "-c", PROFILE_CHILD, str(path), "profile"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            runs.append(float(out[0]))
            peaks.append(int(out[2]) / 1024)
        idle = subprocess.run(
            [sys.executable, "-c", PROFILE_CHILD, str(path), "idle"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        bases.append(int(idle[2]) / 1024)
        return {
            "seconds": runs,
            "peak_rss_mib": peaks,
            "baseline_rss_mib": bases,
            "file_mib": path.stat().st_size / 2**20,
            "rows": rows,
        }


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    try:
        result = {"file": file_mode, "dir": dir_mode, "profile": profile_mode}[mode](size)
    finally:
        shutil.rmtree(_PYC, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
