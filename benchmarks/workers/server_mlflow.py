"""MLflow side of the server benchmark; runs inside the MLflow venv.

Usage: ``python server_mlflow.py main STORE_URI SIZES_JSON`` starts ``mlflow server`` over
STORE_URI and measures what :mod:`server_cairn` measures, through MLflow's client over
HTTP (``log_metric`` is synchronous: one request per call). The 10,000-run population
for the search is copied in SQL from one template run (SQLite only). ``python
server_mlflow.py client RUNS`` is one of the 8 clients. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient
from server_common import PeakRss, clients, free_port, tree_rss_mib, wait_go, wait_http
from tracking_mlflow import populate

PARAMS = {f"p{i}": str(i) for i in range(5)}
# Usage telemetry off: it sends nothing useful here, and its session id raced in clients.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def one_run(i: int) -> None:
    with mlflow.start_run():
        mlflow.log_params(PARAMS)
        mlflow.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})


def main(store: str, sizes: dict[str, int]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-mlflow-server-"))
    out: dict[str, Any] = {}
    search_id = None
    if store.startswith("sqlite:///"):
        mlflow.set_tracking_uri(store)  # creates the schema, then the population
        search_id = mlflow.create_experiment("search")
        populate(Path(store.removeprefix("sqlite:///")), search_id, sizes["search"])
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            store,
            "--default-artifact-root",
            str(tmp / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=(tmp / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        time.sleep(1.0)
        out["rss_idle_mib"] = tree_rss_mib(proc.pid)
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("bench")
        one_run(0)
        seconds = []
        for _ in range(sizes["repeats"]):
            start = time.perf_counter()
            with mlflow.start_run() as run:
                for step in range(sizes["metric_calls"]):
                    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            seconds.append(time.perf_counter() - start)
            stored = len(MlflowClient().get_metric_history(run.info.run_id, "loss"))
            assert stored == sizes["metric_calls"], stored
        out["log_metric"] = {"n": sizes["metric_calls"], "seconds": seconds}
        seconds = []
        for _ in range(sizes["repeats"]):
            start = time.perf_counter()
            for i in range(sizes["runs"]):
                one_run(i)
            seconds.append(time.perf_counter() - start)
        out["runs"] = {"n": sizes["runs"], "seconds": seconds}
        if search_id is not None:
            client = MlflowClient()
            query = {"filter_string": "metrics.acc > 0.9", "max_results": 1000}
            found = client.search_runs([search_id], **query)
            seconds = []
            for _ in range(sizes["repeats"]):
                start = time.perf_counter()
                found = client.search_runs([search_id], **query)
                seconds.append(time.perf_counter() - start)
            out["search"] = {"seconds": seconds, "matched": len(found)}
        env = {"MLFLOW_TRACKING_URI": url, "BENCH_GO_FILE": str(tmp / "go")}
        with PeakRss(proc.pid) as peak:
            wall = clients(__file__, env, 8, sizes["client_runs"])
        out["clients"] = {"runs": 8 * sizes["client_runs"], "seconds": wall}
        out["rss_load_mib"] = peak.peak
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def client(runs: int) -> None:
    mlflow.set_experiment("bench")  # connect before the clock
    wait_go(os.environ["BENCH_GO_FILE"])
    for i in range(runs):
        one_run(i)
    print(json.dumps({"runs": runs}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(int(sys.argv[2]))
    else:
        result = main(sys.argv[2], json.loads(sys.argv[3]))
        sys.stdout.write(json.dumps(result) + "\n")
