"""Output helpers: time and number formats, plain tables when piped, Rich on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from typing import Any

import pytest

from cairn.cli import _output


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert _output.iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert _output.iso_time(1_714_564_803_120) == "2024-05-01T12:00:03.120Z"
    assert _output.iso_time(None) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.912345678, "0.912346"), (3.0, "3"), (-4.5, "-4.5"), (1e-7, "1e-07"), (float("nan"), "nan")],
)
def test_format_number(value: float, text: str) -> None:
    assert _output.format_number(value) == text


def test_json_output_is_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_json([{"auc": float("nan"), "loss": float("inf"), "n": [1.5, float("-inf")]}])
    assert json.loads(capsys.readouterr().out) == [{"auc": None, "loss": None, "n": [1.5, None]}]


def test_format_delta_is_signed() -> None:
    assert _output.format_delta(0.08000000000000007) == "+0.08"
    assert _output.format_delta(-2.0) == "-2"
    assert _output.format_delta(0.0) == "0"


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")]
)
def test_format_bytes(size: int, text: str) -> None:
    assert _output.format_bytes(size) == text


@pytest.mark.parametrize(
    ("ms", "text"), [(None, "-"), (1234, "1.2s"), (125_000, "2m05s"), (7_380_000, "2h03m")]
)
def test_format_duration(ms: int | None, text: str) -> None:
    assert _output.format_duration(ms) == text


def test_plain_table_aligns_columns(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_table(["NAME", "AUC"], [["rf", 0.91], ["gradient", None], ["x", "[1, 2]"]])
    assert capsys.readouterr().out.splitlines() == [
        "NAME      AUC",
        "rf        0.91",
        "gradient  -",
        "x         [1, 2]",
    ]


def test_progress_is_silent_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with _output.progress("work", total=2) as advance:
        advance(1)
        advance(1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def _run_in_terminal(args: list[str], cwd: Any) -> str:
    """Run a command with stdout and stderr on a pseudo-terminal; return what it showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_tables_are_drawn_with_rich_on_a_terminal(populated: Any) -> None:
    shown = _run_in_terminal([sys.executable, "-m", "cairn", "runs", "ls"], populated.ws.root)
    assert "rf-run" in shown
    assert "━" in shown or "─" in shown  # Rich's rules under the header
