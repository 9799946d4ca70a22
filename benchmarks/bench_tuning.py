"""Tuning, Cairn against Optuna: 200 trials of a trivial objective.

Three runs of the same search (one float parameter, Optuna's TPE sampler with the same
seeds): ``cairn.tune`` with every trial recorded as a child run in an embedded SQLite
workspace; Optuna with its own SQLite storage (how Optuna keeps its trials); and bare
in-memory Optuna, which records nothing and is the floor. Each in its own process, Optuna
in its own venv. Run alone with ``python benchmarks/bench_tuning.py [--quick]``.
"""

from __future__ import annotations

from common import (
    WORKERS,
    BenchmarkError,
    Section,
    attempt,
    cairn_python,
    compare,
    log,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

OPTUNA = ["optuna==5.1.0"]


def run(quick: bool) -> Section:
    n, repeats = (50, 2) if quick else (200, 5)
    section = Section(title="Tuning", peer="Optuna")
    optuna = peer_python("optuna", OPTUNA)
    section.versions["Optuna"] = package_version(optuna, "optuna")
    figures: dict[str, dict[str, list[float]]] = {}

    def measure(side: str) -> dict[str, list[float]]:
        if side not in figures:
            log(f"tuning: {side}, {n} trials x {repeats}")
            if side == "cairn":
                data = run_worker(cairn_python(), WORKERS / "tuning_cairn.py", [n, repeats], 900)
            else:
                data = run_worker(optuna, WORKERS / "tuning_optuna.py", [side, n, repeats], 900)
            if any(stored != n for stored in data["stored"]):
                raise BenchmarkError(f"{side} recorded {data['stored']} of {n} trials per repeat")
            figures[side] = data
        return figures[side]

    def rate(side: str) -> float:
        return n / median(measure(side)["seconds"])

    attempt(
        section,
        "trials vs Optuna on SQLite",
        lambda: compare(
            f"{n} trials, every trial stored",
            "throughput",
            rate("cairn"),
            rate("sqlite"),
            "trials/s",
            higher_is_better=True,
            target=">= 5x Optuna with SQLite storage",
            check=lambda _c, ratio: ratio >= 5,
        ),
    )
    attempt(
        section,
        "trials vs in-memory Optuna",
        lambda: compare(
            f"{n} trials vs in-memory Optuna (records nothing)",
            "throughput",
            rate("cairn"),
            rate("memory"),
            "trials/s",
            higher_is_better=True,
            target="overhead reported",
        ),
    )
    if all(side in figures for side in ("cairn", "memory", "sqlite")):
        ours, bare, theirs = (1000 / rate(s) for s in ("cairn", "memory", "sqlite"))
        section.notes.append(
            f"Per trial: cairn.tune {ours:.2f} ms, bare in-memory Optuna {bare:.2f} ms "
            f"(so recording each trial as a child run costs {ours - bare:.2f} ms), Optuna "
            f"on SQLite {theirs:.2f} ms."
        )
    section.notes.append(
        f"{n} trials of (x - 2)^2 over one float, TPE seeded per repeat, median of "
        f"{repeats} repeats, a fresh workspace / database file each, warm-up run first. "
        "Cairn records each trial as a child run (params, metric, status) in the "
        "workspace's SQLite store and keeps the study in memory; Optuna's SQLite storage "
        "is its own way of keeping trials."
    )
    return section


if __name__ == "__main__":
    main(run)
