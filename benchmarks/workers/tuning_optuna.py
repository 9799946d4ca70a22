"""Optuna side of the tuning benchmark; runs in its own venv, imports only Optuna.

Usage: ``python tuning_optuna.py STORAGE N REPEATS`` with STORAGE ``sqlite`` (Optuna's
RDB storage on a fresh SQLite file per repeat, its way of keeping every trial) or
``memory``. Same objective, space and seeded TPE sampler as the Cairn worker. Prints
``{"seconds": [...], "stored": [...]}``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import optuna


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    return (x - 2.0) ** 2


def one(storage_kind: str, n: int, seed: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'optuna.db'}" if storage_kind == "sqlite" else None
        study = optuna.create_study(
            storage=storage,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
        start = time.perf_counter()
        study.optimize(objective, n_trials=n)
        seconds = time.perf_counter() - start
        return seconds, len(study.get_trials(deepcopy=False))


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_kind, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    one(storage_kind, 5, 0)  # warm-up
    seconds, stored = [], []
    for r in range(repeats):
        s, k = one(storage_kind, n, r)
        seconds.append(s)
        stored.append(k)
        sys.stderr.write(f"optuna {storage_kind} repeat {r}: {n / s:.0f} trials/s\n")
    print(json.dumps({"seconds": seconds, "stored": stored}))


if __name__ == "__main__":
    main()
