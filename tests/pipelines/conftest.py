"""Fixtures for schedule tests: a pipeline file, the CLI in-process."""

from __future__ import annotations

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
        cairn.workspace.reset()
        result = CliRunner().invoke(app, list(args), prog_name="cairn")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def pipeline_file(workspace: object) -> Path:
    """A pipeline file in the workspace (schedules refuse a file that does not exist)."""
    path = Path("pipelines.py").resolve()
    path.write_text("def train(**params):\n    return params\n", encoding="utf-8")
    return path
