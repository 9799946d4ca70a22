"""Serve the production model on 127.0.0.1, call it like a client would, score a file in
batch, and write the container and Kubernetes files.

Runs after the registry step, which promoted ``breast-cancer`` version 1 to production
and left the held-out rows in ``holdout-gate.csv``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from typing import Any

from steps import Context, StepFailed, heading

MODEL = "breast-cancer"
SUMMARY = (
    "cairn_requests_total",
    "cairn_request_errors_total",
    "cairn_request_latency_seconds_count",
    "cairn_predictions_total",
    "cairn_prediction_class_total",
    "cairn_model_version_info",
    "cairn_predlog_dropped_total",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(ctx: Context, port: int, *options: str) -> subprocess.Popen[str]:
    args = ["serve", f"{MODEL}@production", "--port", str(port), *options]
    cmd = [sys.executable, "-m", "cairn", *args]
    print(f"\n$ cairn {' '.join(args)}   (in the background)", flush=True)
    proc = subprocess.Popen(
        cmd, cwd=ctx.workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StepFailed(f"cairn serve exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise StepFailed("cairn serve did not become ready within 60 s")


def _requests(base: str, features: Any) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=10) as client:
        meta = client.get(f"/v2/models/{MODEL}").json()
        print(
            f"GET /v2/models/{MODEL}: version {meta['version']}, "
            f"{len(meta['inputs'])} inputs ({meta['inputs'][0]['name']}, ...)"
        )

        rows = features.head(3)
        body = {
            "inputs": [
                {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
                for c in rows.columns
            ]
        }
        resp = client.post(f"/v2/models/{MODEL}/infer", json=body)
        out = resp.json()["outputs"][0]
        print(f"POST /v2/models/{MODEL}/infer (3 rows, one tensor per column): {out['data']}")

        split = {"columns": list(features.columns), "data": features.head(5).values.tolist()}
        resp = client.post(
            "/invocations", json={"dataframe_split": split}, headers={"X-Request-ID": "demo-42"}
        )
        print(
            f"POST /invocations (5 rows, dataframe_split): {resp.json()['predictions']} "
            f"[X-Request-ID {resp.headers['x-request-id']}, model version "
            f"{resp.headers['x-model-version']}]"
        )
        # Everyday traffic: the held-out cases, a few per request. Monitoring compares
        # what the server saw with the training data (the monitoring step).
        for start in range(0, len(features), 5):
            part = features.iloc[start : start + 5]
            rows_split = {"columns": split["columns"], "data": part.values.tolist()}
            client.post("/invocations", json={"dataframe_split": rows_split})

        bad = {"dataframe_records": [{c: 1.0 for c in list(features.columns)[1:]}]}
        resp = client.post("/invocations", json=bad)
        print(f"a request missing a column: {resp.status_code} {resp.json()}")

        print("\nGET /metrics (summary):")
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(SUMMARY):
                print(f"  {line}")


def run(ctx: Context) -> None:
    import pandas as pd

    import cairn.serving

    holdout = ctx.workspace / "holdout-gate.csv"
    if not holdout.exists():
        raise StepFailed("no holdout-gate.csv: the registry step must run first")
    target = str(ctx.results.get("target", "target"))
    features = pd.read_csv(holdout).drop(columns=[target, "tumour_size"], errors="ignore")

    heading("serve the production model")
    port = _free_port()
    proc = _start(ctx, port)
    try:
        _requests(f"http://127.0.0.1:{port}", features)
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: the prediction log is flushed
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("server stopped")
    log = cairn.serving.read_log(MODEL)
    print(
        f"prediction log: {len(log)} rows from {log['request_id'].nunique()} requests, "
        f"versions {sorted(log['version'].unique())}"
    )

    heading("batch scoring")
    ctx.cairn(
        "predict",
        f"{MODEL}@production",
        "--input",
        holdout.name,
        "--output",
        "holdout-preds.parquet",
    )

    heading("deployment files")
    ctx.cairn("build", f"{MODEL}@production", "-o", "build/container", "--force")
    ctx.cairn("deploy", "k8s", f"{MODEL}@production", "-o", "build/k8s")
