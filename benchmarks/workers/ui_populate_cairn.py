"""Cairn side of the UI benchmark's setup; runs in the project venv, imports only Cairn.

Usage: ``python ui_populate_cairn.py DIR N [METRICS STEPS]``: a workspace in ``DIR`` whose
experiment ``bench`` holds ``N`` finished runs (5 params, ``acc`` and ``loss``), made as
the tracking benchmark makes its store (one run through Cairn's API, its rows copied in
SQL). With METRICS and STEPS, one more run in experiment ``curves`` logs METRICS series
of STEPS points each through ``log_batch``. Prints ``{"runs": N, "long_run": id}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tracking_cairn import close_current, populate

import cairn
from cairn.types import Metric


def long_run(metrics: int, steps: int) -> str:
    """A finished run with ``metrics`` series of ``steps`` points (a noisy decay)."""
    from cairn.tracking.fluent import current_client

    tracking = current_client().workspace.tracking
    experiment = tracking.create_experiment("curves")
    run = tracking.create_run(experiment.id, name="long", params={"lr": "0.01"})
    for m in range(metrics):
        points = [
            Metric(f"m{m}", 1.0 / (1 + s) + m + ((s * 7919) % 101) / 1000, s, s)
            for s in range(steps)
        ]
        for i in range(0, steps, 50_000):
            tracking.log_batch(run.id, points[i : i + 50_000])
    tracking.end_run(run.id, cairn.RunStatus.FINISHED)
    return run.id


def main() -> None:
    root, n = Path(sys.argv[1]), int(sys.argv[2])
    os.chdir(root)
    cairn.init(root)
    populate(root / ".cairn" / "cairn.db", n)
    run_id = long_run(int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else None
    close_current()
    sys.stdout.write(json.dumps({"runs": n, "long_run": run_id}) + "\n")


if __name__ == "__main__":
    main()
