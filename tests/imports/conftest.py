"""MLflow stores written by MLflow itself, and a DVC repository made by dvc and git.

The stores are written once per session by ``mlflow_writer.py`` in MLflow's own
environment (tests/tool_venv.py); each test imports them into a fresh workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from import_helpers import Store, free_port, run

from tool_venv import tool_bin, tool_python

WRITER = Path(__file__).with_name("mlflow_writer.py")


def _write(uri: str, folder: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    out = folder / "written.json"
    done = subprocess.run(
        [str(tool_python("mlflow")), str(WRITER), uri, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written: dict[str, Any] = json.loads(out.read_text())
    return written


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return Store(uri, _write(uri, folder))


@pytest.fixture(scope="session")
def file_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("mlflow-files")
    return Store(str(folder / "mlruns"), _write((folder / "mlruns").as_uri(), folder))


@pytest.fixture(scope="session")
def http_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A live ``mlflow server`` on 127.0.0.1 (artifacts proxied), populated over HTTP."""
    folder = tmp_path_factory.mktemp("mlflow-http")
    port = free_port()
    mlflow = tool_bin("mlflow", "mlflow")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{mlflow.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(
        [
            str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, time.monotonic() + 120)
        yield Store(url, _write(url, folder))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.communicate(timeout=10)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, deadline: float) -> None:
    import httpx

    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"mlflow server did not start: {err.decode()[-1500:]}")
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", "files", "http"])
def store(request: pytest.FixtureRequest) -> Store:
    fixture = {"sqlite": "sqlite_store", "files": "file_store", "http": "http_store"}
    found: Store = request.getfixturevalue(fixture[request.param])
    return found


# -- DVC ---------------------------------------------------------------------------------


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    """A git repository where the real ``dvc`` tracked a CSV over two commits, a folder,
    and a pipeline output recorded in dvc.lock."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    dvc = str(tool_bin("dvc", "dvc"))
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    run([dvc, "init", "-q"], repo)
    run([dvc, "config", "core.autostage", "true"], repo)
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n1,2\n")
    (repo / "data" / "images").mkdir()
    for i in range(3):
        (repo / "data" / "images" / f"{i}.txt").write_text(f"image {i}\n")
    run([dvc, "add", "-q", "data/train.csv", "data/images"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "first data"], repo)
    (repo / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    run([dvc, "add", "-q", "data/train.csv"], repo)
    run(["git", "commit", "-qam", "more rows"], repo)
    run(
        [dvc, "stage", "add", "-q", "-n", "prep", "-d", "data/train.csv", "-o", "out/sum.txt",
         f"{sys.executable} -c \"import pathlib; pathlib.Path('out').mkdir(exist_ok=True); "
         "pathlib.Path('out/sum.txt').write_text('10')\""],
        repo,
    )  # fmt: skip
    run([dvc, "repro", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "pipeline"], repo)
    return repo
