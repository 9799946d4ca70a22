"""The CLI and the Python API against a real `cairn server` process, by setting one URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.store import open_metadata
from ports import free_port
from server_harness import start_process, wait_healthy


def _cairn(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server process with an admin whose token this test and its subprocesses send."""
    from cairn.access.admin import create_admin

    store = f"sqlite:///{tmp_path / 'server' / 'cairn.db'}"
    backend = open_metadata(store, create=True)
    backend.ensure_schema()
    _, admin = create_admin(backend.access, "root")
    backend.close()
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", admin.secret)
    port = free_port()
    proc = start_process(store, str(tmp_path / "server" / "artifacts"), port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_runs_logged_in_python_and_data_added_by_the_cli_land_on_the_server(
    server: str, tmp_path: Path
) -> None:
    client = tmp_path / "client"  # no workspace here: the URI is all a client needs
    client.mkdir()
    env = {"CAIRN_TRACKING_URI": server}
    script = (
        "import cairn\n"
        "with cairn.start_run(experiment='churn') as run:\n"
        "    cairn.log_params({'depth': '3'})\n"
        "    for i in range(50):\n"
        "        cairn.log_metric('auc', i / 50, step=i)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=client,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = _cairn("runs", "ls", "--filter", "metrics.auc > 0.9", "--json", cwd=client, env=env)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["params"] == {"depth": "3"} and run["metrics"]["auc"] == pytest.approx(49 / 50)
    history = open_metadata(server).tracking.get_metric_history(run["id"], "auc")
    assert len(history) == 50

    (client / "churn.csv").write_text("a,b\n1,2\n3,4\n")
    added = _cairn("data", "add", "churn.csv", "--name", "churn", cwd=client, env=env)
    assert added.returncode == 0, added.stderr
    assert not (client / ".cairn").exists()  # nothing stored on the client's disk
    out = tmp_path / "elsewhere"
    out.mkdir()
    got = _cairn("data", "checkout", "churn@v1", "-o", "copy.csv", cwd=out, env=env)
    assert got.returncode == 0, got.stderr
    assert (out / "copy.csv").read_text() == "a,b\n1,2\n3,4\n"


def test_a_bad_filter_over_http_prints_the_same_one_line_error(server: str, tmp_path: Path) -> None:
    result = _cairn(
        "runs", "ls", "--filter", "metrics.auc >", cwd=tmp_path, env={"CAIRN_TRACKING_URI": server}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "position" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_is_down_is_named_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _cairn(
        "runs",
        "ls",
        cwd=tmp_path,
        env={"CAIRN_TRACKING_URI": url, "CAIRN_HTTP_RETRY_SECONDS": "0.5"},
    )
    assert result.returncode == 1
    assert f"cannot reach the Cairn server at {url}" in result.stderr
    assert "Traceback" not in result.stderr
