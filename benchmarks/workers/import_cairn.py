"""Cairn side of the import benchmark; runs in the project venv.

Usage: ``python import_cairn.py DB WORKDIR``: a fresh workspace in WORKDIR, then
``cairn.imports.import_mlflow`` of the SQLite store DB timed in-process, then the same
import again (nothing new: every run skipped) timed too. Prints one JSON object.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import cairn.workspace
from cairn.imports.mlflow import import_mlflow


def main(db: str, workdir: str) -> dict[str, float]:
    root = Path(workdir)
    shutil.rmtree(root, ignore_errors=True)
    ws = cairn.workspace.Workspace.init(root)
    start = time.perf_counter()
    first = import_mlflow(f"sqlite:///{db}", workspace=ws)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = import_mlflow(f"sqlite:///{db}", workspace=ws)
    second_s = time.perf_counter() - start
    return {
        "runs": first["runs imported"],
        "points": first["metric points"],
        "seconds": first_s,
        "rerun_seconds": second_s,
        "rerun_skipped": second["runs already imported"],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
