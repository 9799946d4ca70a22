"""Cairn side of the data benchmark; runs in the project venv.

Usage: ``python data_cairn.py MODE SIZE``:

- ``file MiB``: a random file of SIZE MiB; times ``cp``, raw multithreaded BLAKE3 of the
  file (memory-mapped), Cairn's hashing phase alone (the chunked read + hash loop that
  ``cairn data add`` runs, with the copy discarded) and the whole ``cairn data add``
  command (a fresh workspace per repeat).
- ``dir N``: N files of 4 KiB; times ``cairn data add`` of the folder, then a re-add of the
  unchanged folder (what ``dvc status`` answers).
- ``profile ROWS``: a Parquet file of ROWS x 20 columns; times the profile in a child
  process and reports its peak RSS (and the RSS of the same imports without profiling).

The data is written before the clock starts and is in the page cache when timed. Prints
one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3


def cairn(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", *args], cwd=cwd, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"cairn {' '.join(args)} failed: {proc.stderr.strip()}")
    return elapsed


def fresh_workspace(base: Path, name: str) -> Path:
    from cairn.workspace import Workspace

    root = base / name
    Workspace.init(root).close()
    return root


def file_mode(mib: int) -> dict[str, object]:
    from cairn.hashing import copy_hashing, hash_file

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        data = base / "big.bin"
        with open(data, "wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
        hash_file(data)  # warm the page cache
        cp, raw, phase, add = [], [], [], []
        for i in range(REPEATS):
            start = time.perf_counter()
            subprocess.run(["cp", str(data), str(base / "copy.bin")], check=True)
            cp.append(time.perf_counter() - start)
            (base / "copy.bin").unlink()
            start = time.perf_counter()
            hash_file(data)
            raw.append(time.perf_counter() - start)
            start = time.perf_counter()
            with open(data, "rb") as f:
                copy_hashing(f, lambda _chunk: None)
            phase.append(time.perf_counter() - start)
            ws = fresh_workspace(base, f"ws{i}")
            add.append(cairn("data", "add", str(data), "--name", "big", cwd=ws))
        return {"cp": cp, "blake3": raw, "hash_phase": phase, "add": add, "bytes": mib << 20}


def dir_mode(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        folder = base / "files"
        for i in range(count):
            sub = folder / f"d{i % 100:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
        time.sleep(0.2)  # files older than the stat cache's racy window, as in real use
        add, status = [], []
        for i in range(REPEATS):
            ws = fresh_workspace(base, f"ws{i}")
            add.append(cairn("data", "add", str(folder), "--name", "files", cwd=ws))
            status.append(cairn("data", "add", str(folder), "--name", "files", cwd=ws))
        return {"add": add, "readd": status, "files": count}


PROFILE_CHILD = """
import resource, sys, time
from pathlib import Path
import numpy, pandas, pyarrow.parquet
from cairn.data.tabular import Source, iter_batches, schema_of
from cairn.data.profile import compute_profile
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "profile":
    src = [Source("data", path=Path(sys.argv[1]))]
    start = time.perf_counter()
    schema = schema_of(src, "parquet")
    compute_profile(schema, lambda cols: iter_batches(src, "parquet", schema, cols))
    elapsed = time.perf_counter() - start
else:
    elapsed = 0.0
print(elapsed, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
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
        for _ in range(REPEATS):
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
    result = {"file": file_mode, "dir": dir_mode, "profile": profile_mode}[mode](size)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
