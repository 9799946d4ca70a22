"""DVC side of the pipelines benchmark; runs in benchmarks/.venvs/dvc.

Usage: ``python pipelines_dvc.py N REPEATS``: a dvc.yaml of N stages in a chain, each a
trivial Python command reading the previous stage's output and writing its own; wall time
of ``dvc repro`` (first run) and of ``dvc repro`` again with nothing changed, a fresh
repository per repeat (``dvc init --no-scm``, analytics off, hash cache in the repo).
Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DVC = [sys.executable, "-m", "dvc"]


def dvc(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*DVC, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"dvc {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return elapsed


def repo(n: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="dvc-bench-pl-"))
    dvc("init", "--no-scm", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    dvc("config", "core.site_cache_dir", str(root / ".dvc" / "site"), cwd=root)
    (root / "s0.txt").write_text("0")
    stages = []
    for i in range(1, n + 1):
        cmd = (
            f"{sys.executable} -c \"open('s{i}.txt','w').write(str(int(open('s{i - 1}.txt')"
            f'.read())+1))"'
        )
        stages.append(
            f"  s{i}:\n    cmd: {json.dumps(cmd)}\n    deps: [s{i - 1}.txt]\n    outs: [s{i}.txt]\n"
        )
    (root / "dvc.yaml").write_text("stages:\n" + "".join(stages))
    return root


if __name__ == "__main__":
    n, repeats = int(sys.argv[1]), int(sys.argv[2])
    first, noop = [], []
    for _ in range(repeats):
        root = repo(n)
        try:
            first.append(dvc("repro", cwd=root))
            noop.append(dvc("repro", cwd=root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"first": first, "noop": noop}))
