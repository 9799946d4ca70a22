"""Helpers shared by the schedule tests (a clock tests move by hand)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


def ms(text: str) -> int:
    """``"2026-03-01T03:00"`` (UTC) as milliseconds since 1970."""
    return round(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


class FakeClock:
    """A clock that moves only when a test sets it."""

    def __init__(self, start: str) -> None:
        self.now = ms(start)

    def set(self, text: str) -> None:
        self.now = ms(text)

    def __call__(self) -> int:
        return self.now


def write_pipeline_file(root: Path) -> Path:
    """A pipeline file in ``root`` (schedules refuse a file that does not exist)."""
    path = (root / "pipelines.py").resolve()
    path.write_text("def train(**params):\n    return params\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def invoke_cli(*args: str) -> Result:
    """Run the CLI in this process (the cwd's workspace), as a new process would."""
    from click.testing import CliRunner

    import cairn.workspace
    from cairn.cli.main import app

    cairn.workspace.reset()
    result = CliRunner().invoke(app, list(args), prog_name="cairn")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def recording_runner(target: str, *, params: dict[str, str], executor: str | None) -> str:
    """A runner for ``cairn scheduler --runner schedule_helpers:recording_runner``: appends
    the call as JSON to the file named by ``SCHEDULE_TEST_LOG``."""
    import json
    import os

    with open(os.environ["SCHEDULE_TEST_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"target": target, "params": params, "executor": executor}) + "\n")
    return "run-from-test"
