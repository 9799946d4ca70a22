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
    out = populate(db, int(sys.argv[3])) if mode == "populate" else read(db)
    print(json.dumps(out))
