"""MLflow's unmodified client against a tracking server: N runs x 10 params x 100 metric
points, each run logged with one ``log_batch``, then a filtered, ordered search.

Usage: ``python mlflow_client.py TRACKING_URL RUNS``. Prints one JSON object: seconds for
the writes, for the search, and how many runs the search returned (a check).
"""

from __future__ import annotations

import json
import sys
import time

from mlflow import MlflowClient
from mlflow.entities import Metric, Param


def main() -> None:
    url, runs = sys.argv[1], int(sys.argv[2])
    client = MlflowClient(url)
    start = time.perf_counter()
    exp = client.create_experiment(f"bench-{time.time_ns()}")
    now = int(time.time() * 1000)
    for i in range(runs):
        run = client.create_run(exp, run_name=f"run-{i}")
        rid = run.info.run_id
        params = [Param(f"p{k}", f"v{(i + k) % 7}") for k in range(10)]
        metrics = [Metric("loss", 1.0 / (s + 1 + i), now + s, s) for s in range(100)]
        client.log_batch(rid, metrics=metrics, params=params)
        client.set_terminated(rid)
    written = time.perf_counter() - start
    start = time.perf_counter()
    found = client.search_runs(
        [exp],
        filter_string="params.p0 = 'v0' and metrics.loss < 0.5",
        order_by=["metrics.loss ASC"],
        max_results=1000,
    )
    searched = time.perf_counter() - start
    print(json.dumps({"write_s": written, "search_s": searched, "found": len(found)}))


if __name__ == "__main__":
    main()
