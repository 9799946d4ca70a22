"""DVC side of the data benchmark; runs in benchmarks/.venvs/dvc, imports nothing of Cairn.

Usage: ``python data_dvc.py MODE SIZE``:

- ``file MiB``: ``dvc add`` of a random file of SIZE MiB (default cache: the file is
  hashed and copied or linked into .dvc/cache), a fresh repository per repeat.
- ``dir N``: ``dvc add`` of a folder of N files of 4 KiB, then ``dvc status`` with nothing
  changed.

Repositories are ``dvc init --no-scm``; data is written before the clock starts and
every timed ``dvc add`` starts from the same settled state as Cairn's (:func:`settle`);
each repository is removed after its repeat, as on the Cairn side.
Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3
DVC = [sys.executable, "-m", "dvc"]


def dvc(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*DVC, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"dvc {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return elapsed


def touch_memory(size: int = 2 << 30) -> None:
    """Write to ``size`` bytes of fresh memory and free it, as the Cairn worker does
    before each timed step: this virtual machine hands idle memory back to its host, and
    a copy into such memory runs 2-4 times slower."""
    region = mmap.mmap(-1, size)
    chunk = b"\1" * (1 << 20)
    for offset in range(0, size, len(chunk)):
        region[offset : offset + len(chunk)] = chunk
    region.close()


def settle(data: Path | None = None) -> None:
    """Start a timed step as the Cairn worker does (its ``settle``): nothing waiting to be
    written back (files created for this step are synced first, so DVC does not pay for
    their write-back), ``data`` read into the page cache, and fresh memory touched."""
    os.sync()
    if data is not None:
        with open(data, "rb") as f:
            while f.read(1 << 20):
                pass
    time.sleep(0.2)
    touch_memory()


def repo(base: Path, name: str) -> Path:
    root = base / name
    root.mkdir()
    dvc("init", "--no-scm", "-q", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    return root


def file_mode(mib: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        times = []
        for i in range(REPEATS):
            root = repo(base, f"r{i}")
            with open(root / "big.bin", "wb") as out:
                for _ in range(mib):
                    out.write(os.urandom(1 << 20))
            settle(root / "big.bin")
            times.append(dvc("add", "-q", "big.bin", cwd=root))
            shutil.rmtree(root)
        return {"add": times}


def dir_mode(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        add, status = [], []
        for i in range(REPEATS):
            root = repo(base, f"r{i}")
            folder = root / "files"
            for k in range(count):
                sub = folder / f"d{k % 100:02d}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"f{k:05d}.bin").write_bytes(os.urandom(4096))
            settle()  # as Cairn's folder step: the new files are not written back during it
            add.append(dvc("add", "-q", "files", cwd=root))
            status.append(dvc("status", "-q", cwd=root))
            shutil.rmtree(root)
        return {"add": add, "status": status}


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"file": file_mode, "dir": dir_mode}[mode](size)))


if __name__ == "__main__":
    main()
