"""Metaflow side of the pipelines benchmark; runs in benchmarks/.venvs/metaflow.

Usage: ``python pipelines_metaflow.py N REPEATS``: a FlowSpec of N trivial steps in a
chain (plus Metaflow's required ``start`` and ``end``); wall time of ``python flow.py
run`` with the local datastore, a fresh folder per repeat. Prints one JSON object as the
last line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def flow(n: int) -> str:
    lines = ["from metaflow import FlowSpec, step", "", "class Chain(FlowSpec):"]
    names = ["start", *[f"s{i}" for i in range(n - 2)], "end"]
    for i, name in enumerate(names):
        lines += ["    @step", f"    def {name}(self):"]
        lines += ["        self.x = getattr(self, 'x', 0) + 1"]
        if name != "end":
            lines += [f"        self.next(self.{names[i + 1]})"]
        lines += [""]
    lines += ["if __name__ == '__main__':", "    Chain()"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    n, repeats = int(sys.argv[1]), int(sys.argv[2])
    runs = []
    for _ in range(repeats):
        root = Path(tempfile.mkdtemp(prefix="mf-bench-pl-"))
        (root / "flow.py").write_text(flow(n))
        env = {**os.environ, "USERNAME": "bench", "METAFLOW_HOME": str(root / "home")}
        try:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "flow.py", "run"], cwd=root, env=env,
                                  capture_output=True, text=True)  # fmt: skip
            runs.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"metaflow run failed: {proc.stderr.strip()[-800:]}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"run": runs}))
