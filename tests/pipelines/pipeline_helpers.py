"""Helpers shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load(path: Path, name: str = "flow") -> Any:
    from cairn.pipelines.loader import load_target

    pipe, _ = load_target(f"{path}:{name}")
    return pipe


def states(outcome: Any) -> dict[str, str]:
    return {k: r.state for k, r in outcome.steps.items()}
