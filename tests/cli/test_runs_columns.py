"""``cairn runs ls`` columns: the ones a user picks, or as many metrics as fit the terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cairn.workspace

Invoke = Callable[..., Any]
RunCairn = Callable[..., subprocess.CompletedProcess[str]]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_columns_shows_exactly_the_picked_fields_in_order(invoke: Invoke, populated: Any) -> None:
    result = invoke(
        "runs", "ls", "--sort", "metrics.auc desc",
        "--columns", "metrics.auc,params.model", "-c", "tags.team,name,id",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["auc", "params.model", "tags.team", "NAME", "ID"]
    assert lines[1].split() == ["0.93", "rf", "a", "rf-run", populated.ids[1][:12]]
    assert len(lines) == 4


def test_columns_shows_a_dash_for_runs_without_the_value(invoke: Invoke, populated: Any) -> None:
    from cairn.tracking.client import TrackingClient

    client = TrackingClient(populated.ws)
    try:
        bare = client.create_run("demo", name="bare")
        client.end_run(bare.id)
    finally:
        client.close()
    result = invoke("runs", "ls", "--columns", "name,metrics.auc,user,end")
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["bare"][1] == "-"
    assert rows["rf-run"][1] == "0.93"
    assert result.stdout.splitlines()[0].split() == ["NAME", "auc", "USER", "ENDED", "(UTC)"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("id,colour", "unknown column 'colour' in --columns; use id, experiment, name"),
        ("metrics.acu", "no listed run has 'metrics.acu'; metrics in these runs: "
         "metrics.accuracy, metrics.auc, metrics.loss"),
        ("params.", "column 'params.' names no key; write e.g. params.auc"),
        ("id,,name", "unknown column '' in --columns"),
    ],
    ids=["unknown-field", "typo-metric", "no-key", "empty"],
)  # fmt: skip
def test_bad_column_is_a_one_line_error_listing_what_exists(
    run_cairn: RunCairn, populated: Any, columns: str, message: str
) -> None:
    proc = run_cairn("runs", "ls", "--columns", columns, cwd=populated.ws.root)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"error: {message}"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_json_is_the_same_with_or_without_columns(invoke: Invoke, populated: Any) -> None:
    plain = json.loads(invoke("runs", "ls", "--json").stdout)
    picked = json.loads(invoke("runs", "ls", "--json", "--columns", "id,metrics.auc").stdout)
    assert picked == plain
    assert set(plain[0]) >= {"id", "params", "metrics", "tags"}


def test_piped_output_has_every_metric_most_common_first(invoke: Invoke, populated: Any) -> None:
    from cairn.tracking.client import TrackingClient

    client = TrackingClient(populated.ws)
    try:
        run = client.create_run("demo", name="wide")
        client.log_metrics(run.id, {f"m{i:02d}": float(i) for i in range(12)})
        client.log_metric(run.id, "auc", 0.5)
        client.end_run(run.id)
    finally:
        client.close()
    header = invoke("runs", "ls").stdout.splitlines()[0].split()
    metrics = header[header.index("DURATION") + 1 :]
    # auc is on all four runs, accuracy and loss on three; then the one-run metrics by name.
    assert metrics == ["auc", "accuracy", "loss", *(f"m{i:02d}" for i in range(12))]


def _ls_on_a_terminal(root: Path, columns: int, *args: str) -> tuple[list[str], str]:
    """``cairn runs ls`` with stdout on a pseudo-terminal ``columns`` wide: (lines, stderr)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "NO_COLOR": "1", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn", "runs", "ls", *args],
        cwd=root, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 0, stderr
    text = _ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")
    return [line for line in text.split("\n") if line.strip()], stderr


def _many_metrics(ws: cairn.workspace.Workspace) -> None:
    from cairn.tracking.client import TrackingClient

    client = TrackingClient(ws)
    try:
        for i in range(3):
            run = client.create_run("demo", name=f"r{i}")
            # 20 metrics on every run; "rare" on one run only, so it comes last.
            client.log_metrics(run.id, {f"metric_{k:02d}": k + i / 10 for k in range(20)})
            if i == 0:
                client.log_metric(run.id, "aaa_rare", 1.0)
            client.end_run(run.id)
    finally:
        client.close()


def test_a_terminal_gets_as_many_metric_columns_as_fit_its_width(
    workspace: cairn.workspace.Workspace,
) -> None:
    _many_metrics(workspace)
    narrow, narrow_err = _ls_on_a_terminal(workspace.root, 120)
    wide, _ = _ls_on_a_terminal(workspace.root, 260)

    def metric_headers(lines: list[str]) -> list[str]:
        return re.findall(r"metric_\d\d|aaa_rare", lines[0])

    shown_narrow, shown_wide = metric_headers(narrow), metric_headers(wide)
    assert 0 < len(shown_narrow) < len(shown_wide) < 21
    assert shown_wide[: len(shown_narrow)] == shown_narrow  # most common first, same order
    assert "aaa_rare" not in shown_wide  # on one run only: the first to go
    for lines, width in ((narrow, 120), (wide, 260)):
        assert max(len(line) for line in lines) <= width
        assert all("metric_" not in line for line in lines[1:2])  # the header is one line
    hidden = 21 - len(shown_narrow)
    assert f"{hidden} more metric(s) do not fit the terminal" in narrow_err


def test_a_sorted_by_metric_stays_on_a_narrow_terminal(
    workspace: cairn.workspace.Workspace,
) -> None:
    _many_metrics(workspace)
    lines, _ = _ls_on_a_terminal(workspace.root, 100, "--sort", "metrics.aaa_rare desc")
    assert "aaa_rare" in lines[0]
