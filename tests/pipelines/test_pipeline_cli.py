"""``cairn pipeline`` as a user's shell runs it: one-line errors, JSON, the DAG tree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import cairn.workspace

FLOW = """
@cairn.step
def ingest(n: int) -> list:
    return list(range(n))

@cairn.step
def square(x: int) -> int:
    return x * x

@cairn.step
def total(rows: list, squares: list) -> int:
    return len(rows) + sum(squares)

@cairn.pipeline
def flow(n: int = 3):
    total(ingest(n), square.map([1, 2]))
"""

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_run_prints_plain_lines_when_piped_and_show_draws_the_tree(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path], cli: Cli
) -> None:
    project("flow.py", FLOW)
    first = cli("pipeline", "run", "flow.py:flow", "--param", "n=4")
    assert first.returncode == 0, first.stderr
    assert "\x1b[" not in first.stdout  # no terminal codes in a pipe
    assert "ran      total" in first.stdout
    assert first.stdout.strip().splitlines()[-1].endswith("finished: 4 ran")
    second = cli("pipeline", "run", "flow.py:flow", "--param", "n=4")
    assert second.stdout.strip().splitlines()[-1].endswith("finished: 4 cached")

    listed = json.loads(cli("pipeline", "ls", "--json").stdout)
    assert [r["state"] for r in listed] == ["finished", "finished"]
    run_id = listed[1]["run_id"]
    shown = json.loads(cli("pipeline", "show", run_id[:8], "--json").stdout)
    assert shown["params"] == {"n": 4}
    steps = {s["step"]: s for s in shown["steps"]}
    assert set(steps) == {"ingest", "square[0]", "square[1]", "total"}
    assert steps["total"]["upstream"] == ["ingest", "square[0]", "square[1]"]
    assert all(len(s["cache_key"]) == 64 and s["state"] == "ran" for s in steps.values())
    assert [s["step"] for s in shown["steps"]][-1] == "total"  # after what feeds it

    tree = cli("pipeline", "show", run_id).stdout
    assert "└── total  ran" in tree and "after ingest, square[0], square[1]" in tree

    why = cli("pipeline", "explain", listed[0]["run_id"], "total")
    assert why.returncode == 0
    assert "total: cached" in why.stdout and "code, params and inputs match" in why.stdout


def test_a_pipeline_file_that_does_not_import_is_one_line(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path], cli: Cli
) -> None:
    project("flow.py", "import pandas_typo_package\n")
    result = cli("pipeline", "run", "flow.py:flow")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot load pipeline file flow.py: ")
    assert "No module named 'pandas_typo_package'" in result.stderr and "flow.py:3" in result.stderr
    assert json.loads(cli("pipeline", "ls", "--json").stdout) == []


def test_bad_arguments_are_one_line_errors(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path], cli: Cli
) -> None:
    project("flow.py", FLOW)
    no_colon = cli("pipeline", "run", "flow.py")
    assert no_colon.returncode == 1
    assert "names no pipeline: write FILE.py:FUNCTION" in no_colon.stderr
    bad_param = cli("pipeline", "run", "flow.py:flow", "--param", "n")
    assert bad_param.returncode == 2 and "'n' is not KEY=VALUE" in bad_param.stderr
    unknown = cli("pipeline", "show", "abc123")
    assert unknown.returncode == 1
    assert (
        unknown.stderr
        == "error: no pipeline run id starts with 'abc123'; see `cairn pipeline ls`\n"
    )
    not_hex = cli("pipeline", "explain", "zz", "total")
    assert not_hex.returncode == 1 and "is not a run id" in not_hex.stderr
    project("flow.py", FLOW)
    cli("pipeline", "run", "flow.py:flow")
    run_id = json.loads(cli("pipeline", "ls", "--json").stdout)[0]["run_id"]
    missing = cli("pipeline", "explain", run_id, "train")
    assert missing.returncode == 1
    assert "has no step 'train'; its steps: ingest, square[0], square[1], total" in missing.stderr
