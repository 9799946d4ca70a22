"""``cairn ui`` as a user starts it: a real process over the current workspace."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import httpx


def test_cairn_ui_serves_the_workspace_on_loopback_without_login(workspace: Any) -> None:
    tracking = workspace.tracking
    exp = tracking.create_experiment("churn")
    run = tracking.create_run(exp.id, name="first-run")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn", "ui", "--port", "0"],
        cwd=workspace.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "Cairn UI on" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, line
            line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        page = httpx.get(f"{url.group(0)}/ui/runs?experiment=churn")
        assert page.status_code == 200 and "first-run" in page.text
        assert run.id in page.text
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_cairn_ui_outside_a_workspace_says_how_to_make_one(tmp_path: Any) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cairn", "ui", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "cairn init" in r.stderr
