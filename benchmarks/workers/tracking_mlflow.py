"""MLflow side of the tracking benchmark; runs inside the MLflow venv, imports only MLflow.

Usage: ``python tracking_mlflow.py MODE N REPEATS`` with MODE one of ``log_metric``,
``log_metric_async``, ``runs``, ``search`` (population copied in SQL), ``search_api``
(population logged through the API). Every repeat uses a fresh temporary directory and a fresh
``sqlite:///`` tracking store whose schema is created before the clock starts. Prints
one JSON object: ``{"seconds": [...], ...}``.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient


def fresh_store(tmp: Path) -> str:
    """Point MLflow at a new SQLite file in ``tmp``; create its schema (untimed)."""
    os.chdir(tmp)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return str(mlflow.set_experiment("bench").experiment_id)


def bench_log_metric(n: int) -> tuple[float, int]:
    """Seconds for start_run + ``n`` single log_metric calls + end of run; points stored."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_store(Path(tmp))
        start = time.perf_counter()
        with mlflow.start_run() as run:
            for step in range(n):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        seconds = time.perf_counter() - start
        return seconds, len(MlflowClient().get_metric_history(run.info.run_id, "loss"))


def bench_log_metric_async(n: int) -> tuple[float, int]:
    """As :func:`bench_log_metric` with MLflow's asynchronous logging (``synchronous=False``).

    The clock stops after the run has ended: ``end_run`` waits until MLflow's queue has
    written every point, so all ``n`` points are in the store, as on the Cairn side.
    """
    with tempfile.TemporaryDirectory() as tmp:
        fresh_store(Path(tmp))
        start = time.perf_counter()
        with mlflow.start_run() as run:
            for step in range(n):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=False)
        mlflow.flush_async_logging()  # end_run already waited; this makes it explicit
        seconds = time.perf_counter() - start
        return seconds, len(MlflowClient().get_metric_history(run.info.run_id, "loss"))


def bench_runs(n: int) -> tuple[float, int]:
    """Seconds to create ``n`` runs, each with 5 params and 5 metrics; runs stored."""
    params = {f"p{i}": str(i) for i in range(5)}
    with tempfile.TemporaryDirectory() as tmp:
        experiment_id = fresh_store(Path(tmp))
        start = time.perf_counter()
        for i in range(n):
            mlflow.start_run()
            mlflow.log_params(params)
            mlflow.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
            mlflow.end_run()
        seconds = time.perf_counter() - start
        found = MlflowClient().search_runs(
            [experiment_id], filter_string="metrics.m4 >= 4", max_results=n + 1
        )
        return seconds, len(found)


def populate(db: Path, experiment_id: str, n: int, seed: int = 7) -> None:
    """Create ``n`` finished runs with a uniform ``acc`` metric, fast.

    One template run goes through MLflow's own API; its rows in every table keyed by
    ``run_uuid`` are then copied ``n - 1`` times with new ids and new ``acc`` values,
    so the copies are exactly what MLflow itself writes (population is not timed).
    """
    rng = random.Random(seed)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({f"p{i}": str(i) for i in range(5)})
        mlflow.log_metric("acc", rng.random())
        mlflow.log_metric("loss", 0.5)
    template = run.info.run_id
    copies = [(uuid.uuid4().hex, rng.random()) for _ in range(n - 1)]
    con = sqlite3.connect(db)
    tables = [
        name
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if any(col[1] == "run_uuid" for col in con.execute(f"PRAGMA table_info('{name}')"))
    ]
    for table in tables:
        cols = [col[1] for col in con.execute(f"PRAGMA table_info('{table}')")]
        rows = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (template,)).fetchall()
        new_rows = []
        for new_id, acc in copies:
            for row in rows:
                record = {
                    col: value.replace(template, new_id) if isinstance(value, str) else value
                    for col, value in zip(cols, row, strict=True)
                }
                if table in ("metrics", "latest_metrics") and record.get("key") == "acc":
                    record["value"] = acc
                new_rows.append(tuple(record[c] for c in cols))
        marks = ",".join("?" * len(cols))
        con.executemany(f"INSERT INTO {table} VALUES ({marks})", new_rows)
    con.commit()
    con.close()


def populate_api(experiment_id: str, n: int, seed: int = 7) -> None:
    """Create ``n`` finished runs through MLflow's public API, one call sequence per run.

    Each run gets the same 5 params and ``acc``/``loss`` metrics as :func:`populate`,
    with the same ``acc`` values, so the two stores differ only in how they were written.
    ``log_batch`` is MLflow's fastest public way to record them (population is not timed).
    """
    from mlflow.entities import Metric, Param

    rng = random.Random(seed)
    client = MlflowClient()
    params = [Param(f"p{i}", str(i)) for i in range(5)]
    for _ in range(n):
        run_id = client.create_run(experiment_id).info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric("acc", rng.random(), now, 0), Metric("loss", 0.5, now, 0)]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id)


def bench_search(n_runs: int, repeats: int, api: bool = False) -> dict[str, object]:
    """Populate ``n_runs`` runs once (copied in SQL, or through the API with ``api``),
    then time ``repeats`` warm searches."""
    with tempfile.TemporaryDirectory() as tmp:
        experiment_id = fresh_store(Path(tmp))
        if api:
            populate_api(experiment_id, n_runs)
        else:
            populate(Path(tmp) / "mlflow.db", experiment_id, n_runs)
        os.sync()  # write the population out now, not during the timed searches
        client = MlflowClient()
        with sqlite3.connect(Path(tmp) / "mlflow.db") as con:
            (total,) = con.execute("SELECT count(*) FROM runs").fetchone()
        query = dict(filter_string="metrics.acc > 0.9", max_results=1000)
        found = client.search_runs([experiment_id], **query)  # warm-up
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            found = client.search_runs([experiment_id], **query)
            seconds.append(time.perf_counter() - start)
        sample = found[0].data
        return {
            "seconds": seconds,
            "total_runs": total,
            "matched": len(found),
            "full_runs": bool(sample.params) and "acc" in sample.metrics,
        }


def main() -> None:
    mode, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode in ("search", "search_api"):
        result: dict[str, object] = bench_search(n, repeats, api=mode == "search_api")
    else:
        bench = {
            "log_metric": bench_log_metric,
            "log_metric_async": bench_log_metric_async,
            "runs": bench_runs,
        }[mode]
        bench(10)  # untimed: first-call costs (lazy imports, caches) stay out of the figures
        seconds, stored = zip(*(bench(n) for _ in range(repeats)), strict=True)
        result = {"seconds": list(seconds), "stored": list(stored)}
    result.update(n=n, version=mlflow.__version__)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
