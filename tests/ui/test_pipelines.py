"""Pipeline pages against real `cairn pipeline run` processes: the DAG with step states,
durations and cache keys, updating in the open page while the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from ui_site import screenshot, threaded_server

from cairn.access.types import OpenGuard
from cairn.server.app import create_app

FLOW = """
import pathlib
import time

import cairn


@cairn.step
def prepare(n: int) -> list:
    return list(range(n))


@cairn.step
def wait_for_go(xs: list) -> int:
    # Holds the run in "running" until the test creates the file (or 120 s pass).
    go = pathlib.Path(__file__).parent / "go"
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the go file never came")
        time.sleep(0.05)
    return sum(xs)


@cairn.step
def report(total: int) -> str:
    return f"total={total}"


@cairn.step
def audit(xs: list) -> int:
    return len(xs)


@cairn.pipeline
def flow(n: int = 10):
    xs = prepare(n)
    report(wait_for_go(xs))
    audit(xs)
"""


def _start(root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with (root / "run.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _first_run(base: str, deadline: float) -> str:
    while True:
        runs = httpx.get(f"{base}/ui/pipelines?format=json").json()["runs"]
        if runs:
            return str(runs[0]["run_id"])
        assert time.monotonic() < deadline, "the pipeline run never appeared"
        time.sleep(0.1)


def test_the_dag_updates_live_while_the_pipeline_runs_then_shows_cache_hits(
    workspace: Any, page: Any
) -> None:
    root = workspace.root
    (root / "flow.py").write_text(FLOW, encoding="utf-8")
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as base:
        proc = _start(root)
        try:
            run_id = _first_run(base, time.monotonic() + 60)
            page.goto(f"{base}/ui/pipelines/{run_id}")
            running = "g.node[data-step=wait_for_go][data-state=running]"
            page.wait_for_selector(running, timeout=60_000)  # the page polls its DAG
            assert page.locator("g.node[data-step=prepare]").get_attribute("data-state") == "ran"
            assert page.locator("#dag").get_attribute("hx-trigger") == "every 2s"
            screenshot(page, "pipeline-running")
            (root / "go").write_text("", encoding="utf-8")
            # No reload: the poll brings the end of the run into the open page.
            page.wait_for_selector("#dag[data-state=finished]", timeout=60_000)
            assert proc.wait(timeout=60) == 0, (root / "run.log").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        states = page.locator("svg.dag g.node").evaluate_all(
            "gs => Object.fromEntries(gs.map(g => [g.dataset.step, g.dataset.state]))"
        )
        assert states == {"prepare": "ran", "wait_for_go": "ran", "report": "ran", "audit": "ran"}
        assert page.locator("#dag").get_attribute("hx-trigger") is None  # polling stopped
        assert page.locator("svg.dag path.edge").count() == 3
        steps = page.locator("table#steps").inner_text()
        assert "miss" in steps and "key " in page.locator("svg.dag").inner_html()
        screenshot(page, "pipeline-finished")

        # The same run again: every step comes from the cache, and the page says so.
        again = _start(root)
        assert again.wait(timeout=120) == 0, (root / "run.log").read_text()
        runs = httpx.get(f"{base}/ui/pipelines?format=json").json()["runs"]
        second = next(r["run_id"] for r in runs if r["run_id"] != run_id)
        page.goto(f"{base}/ui/pipelines/{second}")
        cells = page.locator("table#steps tbody tr td:nth-child(5)").all_inner_texts()
        assert cells == ["hit"] * 4
        first_keys = httpx.get(f"{base}/ui/pipelines/{run_id}?format=json").json()["steps"]
        second_keys = httpx.get(f"{base}/ui/pipelines/{second}?format=json").json()["steps"]
        assert {s["step"]: s["cache_key"] for s in first_keys} == {
            s["step"]: s["cache_key"] for s in second_keys
        }
        screenshot(page, "pipeline-cached")
        page.goto(f"{base}/ui/pipelines")
        assert page.locator("table#pipeline-runs tbody tr").count() == 2


def test_bad_pipeline_requests_name_the_problem(workspace: Any) -> None:
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as base:
        r = httpx.get(f"{base}/ui/pipelines/feedbeef?format=json")
        assert r.status_code == 404 and "feedbeef" in r.json()["error"]["message"]
        r = httpx.get(f"{base}/ui/pipelines?limit=0&format=json")
        assert r.status_code == 400 and "out of range" in r.json()["error"]["message"]
        r = httpx.get(f"{base}/ui/pipelines?limit=<script>")
        assert r.status_code == 400 and "<script>" not in r.text
