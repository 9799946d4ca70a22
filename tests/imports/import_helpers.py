"""Shared by the import tests (a module, not conftest: conftest names collide)."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Store:
    """An MLflow store: the location ``cairn import mlflow --from`` takes, and what the
    MLflow client wrote into it."""

    location: str
    written: dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(cmd: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GIT_AUTHOR_NAME="Ana", GIT_AUTHOR_EMAIL="ana@example.com")
    env.update(GIT_COMMITTER_NAME="Ana", GIT_COMMITTER_EMAIL="ana@example.com")
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"
    return done.stdout
