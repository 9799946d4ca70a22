"""Shared by the import tests (a module, not conftest: conftest names collide)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
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
