"""Fixtures for the UI tests: a populated workspace served on 127.0.0.1, and headless
Chromium (Debian's package) driven by Playwright.

Without chromium on PATH the browser tests skip, saying so; with
``CAIRN_REQUIRE_BROWSER=1`` (CI) they fail instead. Screenshots of each page go to
``test-artifacts/ui/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ui_populate import long_run, many_runs, model_versions

import cairn.workspace
from cairn.access.types import OpenGuard

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "ui"


@contextmanager
def threaded_server(app: Any) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Site:
    url: str
    ws: cairn.workspace.Workspace
    long_run: str


@pytest.fixture
def site(workspace: cairn.workspace.Workspace) -> Iterator[Site]:
    """2,000 runs in ``churn``, a run with 3 metrics x 5,000 steps, model ``churn`` with
    3 versions and ``production`` on version 1; the server app over it."""
    from cairn.server.app import create_app

    many_runs(workspace, 2000, "churn")
    run_id = long_run(workspace, 3, 5000)
    model_versions(workspace, "churn", run_id, 3)
    workspace.registry.set_alias("churn", "production", 1, actor="tester", reason="first")
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        yield Site(url, workspace, run_id)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CAIRN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CAIRN_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CAIRN_REQUIRE_BROWSER") == "1":
            pytest.fail("CAIRN_REQUIRE_BROWSER=1 but the playwright package is missing")
        pytest.skip("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    # Any request to another host is a bug: every asset is served by Cairn.
    foreign: list[str] = []
    pg.on("request", lambda r: foreign.append(r.url) if "127.0.0.1" not in r.url else None)
    yield pg
    context.close()
    assert not foreign, f"the page asked other hosts: {foreign}"


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
