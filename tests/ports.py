"""A free TCP port on 127.0.0.1 for test servers (a module of its own: test modules in
different folders cannot import ``conftest`` reliably, each folder has one)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
