"""Serving: requests/s and p50/p99 latency of ``cairn serve`` vs ``mlflow models serve``
and a bare Starlette app (the floor), plus batch scoring of 1,000,000 rows.

One model for all three servers: a scikit-learn Pipeline (StandardScaler +
LogisticRegression) on the breast-cancer data (30 float columns). Each server runs alone
on 127.0.0.1 with one worker process; the load generator is ``wrk`` (one thread, a few
keep-alive connections) posting the same ``/invocations`` ``dataframe_split`` body of 1
or 100 rows. ``cairn serve`` runs as shipped: signature validation, metrics, request
ids and the prediction log (Parquet) on.

Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import (
    WORKERS,
    BenchmarkError,
    Result,
    Section,
    attempt,
    cairn_python,
    compare,
    log,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2"]
CONNECTIONS = 8
SERVERS = ("cairn", "bare", "mlflow")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise BenchmarkError(f"server exited {proc.returncode}: {err.strip()[-500:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise BenchmarkError(f"server at {url} not ready after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _bodies(tmp: Path) -> dict[int, Path]:
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    out = {}
    for rows in (1, 100):
        split = {"columns": list(X.columns), "data": X.iloc[:rows].values.tolist()}
        path = tmp / f"body{rows}.json"
        path.write_text(json.dumps({"dataframe_split": split}))
        out[rows] = path
    return out


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, body: Path, seconds: int) -> dict[str, float]:
    script = body.with_suffix(".lua")
    script.write_text(
        f'local f = io.open("{body}", "rb")\n'
        'wrk.method = "POST"\n'
        'wrk.body = f:read("*a")\n'
        "f:close()\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = proc.stdout
    if proc.returncode != 0:
        raise BenchmarkError(f"wrk failed: {proc.stderr.strip()[-300:]}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise BenchmarkError("wrk saw errors: " + " | ".join(out.strip().splitlines()[-4:]))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        if m is None:
            raise BenchmarkError(f"no {pct}% latency in wrk output")
        lat[pct] = float(m.group(1)) * _UNITS[m.group(2)]
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"]}


def _start(server: str, tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start one server; returns (process, invocations URL, readiness URL)."""
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if server == "cairn":
        ws = tmp / "cairn-ws"
        if not ws.exists():
            run_worker(cairn_python(), WORKERS / "serving_setup_cairn.py", [str(ws)], 600)
        cairn = cairn_python().parent / "cairn"
        cmd = [str(cairn), "serve", "bc@production", "--port", str(port), "--workers", "1"]
        proc = subprocess.Popen(
            cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return proc, f"{base}/invocations", f"{base}/v2/health/ready"
    if server == "bare":
        cmd = [str(cairn_python()), str(WORKERS / "serving_bare.py"), str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return proc, f"{base}/invocations", f"{base}/ping"
    python = peer_python("mlflow", MLFLOW)
    info = run_worker(python, WORKERS / "serving_setup_mlflow.py", [str(tmp / "mlflow")], 600)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = info["tracking_uri"]
    cmd = [
        str(python.parent / "mlflow"), "models", "serve", "-m", info["model_uri"],
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp / "mlflow", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return proc, f"{base}/invocations", f"{base}/ping"


def _measure(quick: bool) -> dict[str, dict[int, dict[str, float]]]:
    """Medians over rounds; each round hits every server in turn (the others idle), so
    a burst of load from elsewhere on the machine does not land on one server only."""
    seconds, rounds = (3, 1) if quick else (5, 5)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-serving-"))
    samples: dict[str, dict[int, list[dict[str, float]]]] = {s: {1: [], 100: []} for s in SERVERS}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bodies = _bodies(tmp)
        urls = {}
        for server in SERVERS:
            proc, url, ready = _start(server, tmp, _port())
            procs.append(proc)
            _wait_ready(ready, proc)
            _wrk(url, bodies[1], 2)  # warm-up
            urls[server] = url
        for _ in range(rounds):
            for rows, body in bodies.items():
                for server in SERVERS:
                    sample = _wrk(urls[server], body, seconds)
                    samples[server][rows].append(sample)
                    log(f"{server} {rows} rows: {sample}")
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        server: {
            rows: {key: median([s[key] for s in runs]) for key in runs[0]}
            for rows, runs in by_rows.items()
        }
        for server, by_rows in samples.items()
    }


def _batch(quick: bool, notes: list[str]) -> list[Result]:
    """Score a small and a large file: peak memory must not grow with the row count."""
    sizes = (20_000, 100_000) if quick else (200_000, 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-batch-"))
    res = {}
    try:
        ws = tmp / "ws"
        run_worker(cairn_python(), WORKERS / "serving_setup_cairn.py", [str(ws)], 600)
        for rows in sizes:
            data = tmp / f"rows{rows}.parquet"
            run_worker(
                cairn_python(), WORKERS / "serving_batch_cairn.py", ["make", data, rows], 900
            )
            res[rows] = run_worker(
                cairn_python(),
                WORKERS / "serving_batch_cairn.py",
                ["score", ws, data, tmp / "preds.parquet", 50_000],
                1800,
            )
            data.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    small, big = (res[n] for n in sizes)
    grow_small = small["peak_rss_mb"] - small["rss_before_mb"]
    grow_big = big["peak_rss_mb"] - big["rss_before_mb"]
    notes.append(
        f"Batch scoring: `predict_file` (what `cairn predict` runs) over {big['rows']:,} rows x "
        f"30 float columns ({big['input_mb']:.0f} MiB Parquet), batches of 50,000, run "
        f"recorded with input/output digests. RSS {big['rss_before_mb']:.0f} MiB after imports "
        f"and model load; peak growth {grow_big:.0f} MiB for {big['rows']:,} rows vs "
        f"{grow_small:.0f} MiB for {small['rows']:,} rows (constant memory: the growth is one "
        "batch's working set, not the file)."
    )
    label = f"batch scoring {big['rows']:,} rows"
    return [
        Result(label, "throughput", big["rows_per_s"], None, "rows/s", None, "", None),
        Result(
            label,
            "peak memory",
            big["peak_rss_mb"],
            None,
            "MiB",
            None,
            f"growth <= 1.3x the {small['rows']:,}-row run",
            grow_big <= 1.3 * max(grow_small, 1.0),
        ),
    ]


def run(quick: bool) -> Section:
    section = Section(
        title="Serving: cairn serve vs mlflow models serve and a bare Starlette app",
        peer="peer",
        versions={"MLflow": package_version(peer_python("mlflow", MLFLOW), "mlflow")},
    )
    if shutil.which("wrk") is None:
        section.error = "wrk is not installed: apt-get install -y wrk"
        return section
    section.notes.append(
        f"wrk, 1 thread, {CONNECTIONS} keep-alive connections, POST /invocations "
        "(dataframe_split), each server with 1 worker process on 127.0.0.1, hit in turn; "
        f"medians of {1 if quick else 5} rounds of {3 if quick else 5} s. "
        "MLflow: `mlflow models serve --env-manager local`. Bare: Starlette + uvicorn "
        "calling the estimator on the parsed rows, nothing else. Ratios in the MLflow rows "
        "are Cairn / MLflow; in the bare rows Cairn / bare (p99: bare / Cairn)."
    )
    cache: dict[str, Any] = {}

    def fig(server: str, rows: int, key: str) -> float:
        if "f" not in cache:
            cache["f"] = _measure(quick)
        return float(cache["f"][server][rows][key])

    for rows in (1, 100):
        label = f"/invocations {rows} row{'s' if rows > 1 else ''}"
        attempt(
            section,
            f"{label} vs MLflow",
            lambda rows=rows, label=label: compare(
                f"{label} vs MLflow",
                "throughput",
                fig("cairn", rows, "rps"),
                fig("mlflow", rows, "rps"),
                "req/s",
                higher_is_better=True,
                target=">= 4x MLflow",
                check=lambda _c, r: r >= 4,
            ),
        )
        attempt(
            section,
            f"{label} vs bare",
            lambda rows=rows, label=label: compare(
                f"{label} vs bare Starlette",
                "throughput",
                fig("cairn", rows, "rps"),
                fig("bare", rows, "rps"),
                "req/s",
                higher_is_better=True,
                target=">= 80% of bare",
                check=lambda _c, r: r >= 0.8,
            ),
        )
        for pct in ("p50", "p99"):
            attempt(
                section,
                f"{label} {pct}",
                lambda rows=rows, label=label, pct=pct: compare(
                    f"{label} vs bare Starlette",
                    f"{pct} latency",
                    fig("cairn", rows, f"{pct}_ms"),
                    fig("bare", rows, f"{pct}_ms"),
                    "ms",
                    higher_is_better=False,
                    target="within 1.5x of bare" if pct == "p99" else "",
                    check=(lambda _c, r: r >= 1 / 1.5) if pct == "p99" else None,
                ),
            )
            attempt(
                section,
                f"{label} {pct} vs MLflow",
                lambda rows=rows, label=label, pct=pct: compare(
                    f"{label} vs MLflow",
                    f"{pct} latency",
                    fig("cairn", rows, f"{pct}_ms"),
                    fig("mlflow", rows, f"{pct}_ms"),
                    "ms",
                    higher_is_better=False,
                ),
            )

    def batch() -> Result:
        results = _batch(quick, section.notes)
        section.results.extend(results[:-1])
        return results[-1]

    attempt(section, "batch scoring", batch)
    return section


if __name__ == "__main__":
    main(run)
