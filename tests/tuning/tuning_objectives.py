"""Objectives the tuning tests pass to worker processes (importable by name)."""

from __future__ import annotations

from typing import Any


def quadratic(trial: Any) -> float:
    """Best at x = 2; reports a falling curve so pruners have something to compare."""
    x = float(trial.params["x"])
    score = -((x - 2.0) ** 2)
    for step in range(3):
        trial.report(score - (3 - step), step)
        if trial.should_prune():
            from cairn.tuning import TrialPruned

            raise TrialPruned()
    return score


def fails_on_negative(trial: Any) -> float:
    if trial.params["x"] < 0:
        raise ValueError(f"x must be positive, got {trial.params['x']}")
    return float(trial.params["x"])
