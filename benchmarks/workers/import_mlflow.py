"""MLflow side of the import benchmark; runs in the MLflow venv.

Usage: ``python import_mlflow.py populate DB N`` writes N runs into the SQLite store DB
with MLflow's own client, one ``log_batch`` per run (5 params, 3 tags, 3 metrics x 10
steps), and times it; ``python import_mlflow.py read DB`` times MLflow's client reading
every run back with its full metric histories (what an import has to read). Prints one
JSON object as the last line.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402


def populate(db: str, n: int) -> dict[str, float]:
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.create_experiment("bench")
    start = time.perf_counter()
    base = int(time.time() * 1000)
    for i in range(n):
        rid = client.create_run(exp, run_name=f"run-{i}").info.run_id
        metrics = [
            Metric(key, 1.0 / (s + 1 + k), base + s, s)
            for k, key in enumerate(("loss", "auc", "acc"))
            for s in range(10)
        ]
        params = [Param(f"p{j}", str(i * j)) for j in range(5)]
        tags = [RunTag(f"t{j}", f"v{j}") for j in range(3)]
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        client.set_terminated(rid)
    return {"seconds": time.perf_counter() - start, "runs": n}


def multiply(source: str, target: str, n: int) -> dict[str, float]:
    """Copy ``source`` (runs written by MLflow's client) to ``target`` and add copies of
    its runs, under new run ids, in SQL until it holds ``n`` runs: MLflow's client writes
    about 6 runs/s here, so a 10,000-run store would take half an hour to log. Every
    table with a ``run_uuid`` column is copied; text holding the old id (artifact URIs)
    gets the new one. MLflow's client reads the result like any other store (``read``)."""
    import shutil
    import sqlite3
    import uuid

    shutil.copyfile(source, target)
    con = sqlite3.connect(target)
    tables = [
        name
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if "run_uuid" in [c[1] for c in con.execute(f"PRAGMA table_info('{name}')")]
    ]
    originals = [r for (r,) in con.execute("SELECT run_uuid FROM runs ORDER BY start_time")]
    rows = {
        t: con.execute(
            f"SELECT * FROM {t} WHERE run_uuid IN (SELECT run_uuid FROM runs)"
        ).fetchall()
        for t in tables
    }
    columns = {t: [c[1] for c in con.execute(f"PRAGMA table_info('{t}')")] for t in tables}
    made = len(originals)
    while made < n:
        batch = originals[: n - made]
        new_ids = {old: uuid.uuid4().hex for old in batch}
        for t in tables:
            index = columns[t].index("run_uuid")
            out = []
            for row in rows[t]:
                old = row[index]
                if old not in new_ids:
                    continue
                new = new_ids[old]
                out.append(tuple(v.replace(old, new) if isinstance(v, str) else v for v in row))
            marks = ",".join("?" * len(columns[t]))
            con.executemany(f"INSERT INTO {t} VALUES ({marks})", out)
        made += len(batch)
    con.commit()
    con.close()
    return {"runs": made}


def read(db: str) -> dict[str, float]:
    client = MlflowClient(f"sqlite:///{db}")
    start = time.perf_counter()
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = 0
    token = None
    while True:
        page = client.search_runs(exps, max_results=1000, page_token=token)
        for run in page:
            for key in run.data.metrics:
                client.get_metric_history(run.info.run_id, key)
            runs += 1
        token = page.token
        if not token:
            break
    return {"seconds": time.perf_counter() - start, "runs": runs}


if __name__ == "__main__":
    mode, db = sys.argv[1], sys.argv[2]
    if mode == "populate":
        out = populate(db, int(sys.argv[3]))
    elif mode == "multiply":
        out = multiply(db, sys.argv[3], int(sys.argv[4]))
    else:
        out = read(db)
    print(json.dumps(out))
