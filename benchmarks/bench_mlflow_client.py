"""MLflow's own client script against ``mlflow server`` and against ``cairn server``.

The same unmodified script (:file:`workers/mlflow_client.py`: 1,000 runs x 10 params x
100 metric points, one ``log_batch`` per run, then a filtered and ordered search) runs
once against each server, started on this machine over a fresh SQLite database and
artifact folder. Each server runs as one process (``mlflow server --workers 1``,
``cairn server --workers 1``; Cairn from the interpreter running the benchmark). Run
alone with
``python benchmarks/bench_mlflow_client.py [--quick]``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import (
    ROOT,
    WORKERS,
    BenchmarkError,
    Section,
    compare,
    log,
    main,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(cmd: list[str], health: str, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise BenchmarkError(f"{cmd[2]} server exited: {err.strip()[-300:]}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{' '.join(cmd[:3])} did not become healthy")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _measure(
    python: Path, name: str, cmd: list[str], health: str, url: str, runs: int, env: dict[str, str]
) -> dict[str, float]:
    log(f"mlflow client: {runs} runs against {name}")
    with _server(cmd, health, env):
        start = time.perf_counter()
        out = run_worker(
            python,
            WORKERS / "mlflow_client.py",
            [url, str(runs)],
            timeout=3600,
            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
        )
        out["total_s"] = time.perf_counter() - start
    return out


def _create_store(uri: str) -> None:
    """A new Cairn store with its schema (``cairn server`` refuses a missing one)."""
    code = (
        "import sys; from cairn.store import open_metadata; "
        "b = open_metadata(sys.argv[1], create=True); b.ensure_schema(); b.close()"
    )
    done = subprocess.run([sys.executable, "-c", code, uri], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"cannot create the Cairn store: {done.stderr.strip()[-300:]}")


def run(quick: bool) -> Section:
    runs = 100 if quick else 1000
    mlflow_python = peer_python("mlflow", MLFLOW)
    section = Section(
        title="MLflow's client against cairn server and mlflow server",
        peer="MLflow",
        versions={"MLflow": package_version(mlflow_python, "mlflow")},
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = _port()
        theirs = _measure(
            mlflow_python,
            "mlflow server",
            [
                str(mlflow_python),
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "mlflow-artifacts"),
            ],
            f"http://127.0.0.1:{port}/health",
            f"http://127.0.0.1:{port}",
            runs,
            {},
        )
        port = _port()
        store = f"sqlite:///{root / 'cairn.db'}"
        _create_store(store)
        ours = _measure(
            mlflow_python,
            "cairn server",
            [
                sys.executable,
                "-m",
                "cairn",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--insecure-no-auth",
                "--store",
                store,
                "--artifacts",
                str(root / "cairn-artifacts"),
            ],
            f"http://127.0.0.1:{port}/health",
            f"http://127.0.0.1:{port}",
            runs,
            {"PYTHONPATH": str(ROOT / "src")},
        )
    if ours["found"] != theirs["found"]:
        raise BenchmarkError(
            f"the search found {ours['found']} runs on cairn server, {theirs['found']} on "
            "mlflow server; the two servers disagree"
        )
    section.results.append(
        compare(
            "mlflow client",
            f"{runs} runs x 10 params x 100 points + search, end to end",
            ours["total_s"],
            theirs["total_s"],
            "s",
            higher_is_better=False,
            target="Cairn >= 5x faster",
            check=lambda _s, ratio: ratio >= 5,
        )
    )
    section.results.append(
        compare(
            "mlflow client",
            "writes (create, log_batch, terminate per run)",
            ours["write_s"],
            theirs["write_s"],
            "s",
            higher_is_better=False,
        )
    )
    section.results.append(
        compare(
            "mlflow client",
            f"search ({ours['found']} runs found)",
            ours["search_s"],
            theirs["search_s"],
            "s",
            higher_is_better=False,
        )
    )
    section.notes.append(
        "One run per server, the same client script and interpreter (MLflow's venv), "
        "each server one process over a new SQLite file on the same disk; the end-to-end "
        "time includes the client's start-up and imports, equal on both sides."
    )
    return section


if __name__ == "__main__":
    main(run)
