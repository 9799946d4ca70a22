"""MLflow's own client, in its own venv, against a live ``cairn server``.

A client script runs as a subprocess of the MLflow tool environment
(:mod:`tool_venv`) with ``MLFLOW_TRACKING_URI`` set to the server; it prints one JSON
object as its last line, which the test reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_harness import sqlite_server
from tool_venv import tool_python


@dataclass(frozen=True)
class Server:
    url: str
    root: Path  # holds server.db and artifacts/

    @property
    def store(self) -> str:
        return f"sqlite:///{self.root / 'server.db'}"

    def cairn(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``cairn`` command on the server's own store (not through the server)."""
        env = {
            **os.environ,
            "CAIRN_TRACKING_URI": self.store,
            "CAIRN_ARTIFACT_URI": str(self.root / "artifacts"),
        }
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=120,
            check=False,
        )


@contextmanager
def cairn_server(tmp: Path, **options: Any) -> Iterator[Server]:
    root = tmp / "server"
    root.mkdir()
    with sqlite_server(root, **options) as url:
        yield Server(url, root)


def run_mlflow(script: str, url: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` with MLflow's client against ``url``; its last output line, parsed."""
    python = tool_python("mlflow")
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(
        {
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "GIT_PYTHON_REFRESH": "quiet",
            **(env or {}),
        }
    )
    path = cwd / "client_script.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    done = subprocess.run(
        [str(python), str(path)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"MLflow client script failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
