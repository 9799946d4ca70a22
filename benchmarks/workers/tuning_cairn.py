"""Cairn side of the tuning benchmark; runs in the project venv, imports only Cairn.

Usage: ``python tuning_cairn.py N REPEATS``. Each repeat makes a fresh embedded workspace
(untimed), then times ``cairn.tune`` over N trials of a trivial objective with Optuna's
TPE sampler (seeded), every trial recorded as a child run. Prints
``{"seconds": [...], "stored": [...]}`` where ``stored`` counts the child runs found
afterwards (the caller checks it is N).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import optuna

import cairn
from cairn.tuning import Float


def objective(trial: cairn.tuning.Trial) -> float:
    x = trial.params["x"]
    return (x - 2.0) ** 2


def one(n: int, seed: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        cairn.init(root)
        start = time.perf_counter()
        result = cairn.tune(
            objective,
            {"x": Float(-10.0, 10.0)},
            n_trials=n,
            metric="loss",
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
        seconds = time.perf_counter() - start
        runs = cairn.search_runs(max_results=10 * n)
        children = [r for r in runs if r.parent_id == result.run_id]
        from cairn.tracking.fluent import current_client

        current_client().workspace.close()
        os.chdir("/")
        return seconds, len(children)


def main() -> None:
    n, repeats = int(sys.argv[1]), int(sys.argv[2])
    one(5, 0)  # warm-up: imports and first-use caches, not measured
    seconds, stored = [], []
    for r in range(repeats):
        s, k = one(n, r)
        seconds.append(s)
        stored.append(k)
        sys.stderr.write(f"cairn.tune repeat {r}: {n / s:.0f} trials/s\n")
    print(json.dumps({"seconds": seconds, "stored": stored}))


if __name__ == "__main__":
    main()
