"""A real ``cairn server`` for tests: uvicorn on 127.0.0.1 in a thread or a process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ports import free_port


def wait_healthy(url: str, deadline_s: float = 30.0, verify: Any = True) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"server at {url} did not become healthy")
        time.sleep(0.05)


@contextmanager
def threaded_server(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` on a free port in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.01)
    scheme = "https" if config.get("ssl_certfile") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def sqlite_server(tmp: Path, **app_options: Any) -> Iterator[str]:
    """A server over a new SQLite database and artifact folder under ``tmp``; without a
    ``guard`` in ``app_options``, an open one (tests of other behaviour than access)."""
    from cairn.access.types import OpenGuard
    from cairn.server.app import create_app
    from cairn.store import open_metadata
    from cairn.store.artifacts import ArtifactStore

    backend = open_metadata(f"sqlite:///{tmp / 'server.db'}", create=True)
    backend.ensure_schema()
    app_options.setdefault("guard", OpenGuard())
    app = create_app(backend, ArtifactStore(str(tmp / "artifacts")), **app_options)
    try:
        with threaded_server(app) as url:
            yield url
    finally:
        backend.close()


def start_process(
    store: str, artifacts: str, port: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``cairn server`` as a real process (``python -m cairn server ...``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn",
            "server",
            "--store",
            store,
            "--artifacts",
            artifacts,
            "--port",
            str(port),
            *extra,
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def server_uri(request: Any) -> str:
    """For contract suites: a server over a new SQLite store in the test's ``tmp_path``,
    stopped when the test ends; returns its ``http://`` URI."""
    from contextlib import ExitStack

    tmp: Path = request.getfixturevalue("tmp_path") / "server"
    tmp.mkdir()
    stack = ExitStack()
    url = stack.enter_context(sqlite_server(tmp))
    request.addfinalizer(stack.close)
    return url
