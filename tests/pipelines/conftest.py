"""Fixtures for pipeline tests: a workspace with pipeline files, and the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import cairn.workspace

HEADER = "from __future__ import annotations\nimport cairn\n"


@pytest.fixture
def project(workspace: cairn.workspace.Workspace) -> Callable[..., Path]:
    """``project("flow.py", source)`` writes a file (dedented) in the workspace root."""
    assert workspace.root is not None
    root = workspace.root

    def write(name: str, source: str, header: bool = True) -> Path:
        path = root / name
        path.write_text((HEADER if header else "") + textwrap.dedent(source), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(workspace: cairn.workspace.Workspace) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli("pipeline", "run", ...)``: ``python -m cairn`` as a real process in the
    workspace (stdout piped, so plain lines)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args],
            cwd=workspace.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )

    return run
