"""Fixtures for driving the ``cairn`` command, in-process and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import cairn.workspace
from cairn.cli.main import app


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """Run the CLI in this process (the cwd's workspace); returns exit code and streams."""

    def run(*args: str) -> Result:
        cairn.workspace.reset()  # each command opens the workspace afresh, like a new process
        result = CliRunner().invoke(app, list(args), prog_name="cairn")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def _run_cairn(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cairn ARGS`` as a real process (what a user's shell does)."""
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.fixture
def run_cairn() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cairn("runs", "ls", cwd=path)``: the CLI as a subprocess, in ``cwd``."""
    return _run_cairn


@dataclass(frozen=True)
class Populated:
    """Three finished runs in experiment ``demo``; ``ids`` in creation order."""

    ws: cairn.workspace.Workspace
    ids: list[str]


RUNS = [
    ("lr-run", {"model": "lr", "C": "1.0"}, {"auc": 0.85, "accuracy": 0.80}, {"team": "a"}),
    ("rf-run", {"model": "rf", "C": "1.0"}, {"auc": 0.93, "accuracy": 0.90}, {"team": "a"}),
    ("gb-run", {"model": "gb", "C": "0.5"}, {"auc": 0.88, "accuracy": 0.86}, {"team": "x"}),
]


@pytest.fixture
def populated(workspace: cairn.workspace.Workspace, tmp_path: Path) -> Populated:
    """A workspace with three runs; the second (rf-run) has a model.txt artifact."""
    from cairn.tracking.client import TrackingClient

    client = TrackingClient(workspace)
    ids = []
    try:
        for name, params, metrics, tags in RUNS:
            run = client.create_run("demo", name=name, params=params, tags=tags)
            for key, value in metrics.items():
                client.log_metric(run.id, key, value)
            client.log_metric(run.id, "loss", 0.5, step=0)
            client.log_metric(run.id, "loss", 0.2, step=1)
            if name == "rf-run":
                artifact = tmp_path / "model.txt"
                artifact.write_text("a fitted model\n", encoding="utf-8")
                client.log_artifact(run.id, artifact)
            client.end_run(run.id)
            ids.append(run.id)
    finally:
        client.close()
    return Populated(workspace, ids)
