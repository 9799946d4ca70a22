"""Model load time and 1-row predict latency through mlflow.pyfunc.load_model.

Usage: models_mlflow.py LOADS CALLS. Runs in MLflow's own venv. Prints one JSON object.
Same model and data as models_cairn.py; tracking on SQLite in a temporary directory.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import warnings


def per_call_us(fn, row, calls: int) -> float:  # type: ignore[no-untyped-def]
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn(row)
        batches.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(batches)


def main() -> None:
    loads, calls = int(sys.argv[1]), int(sys.argv[2])
    warnings.filterwarnings("ignore")
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    row = X.iloc[:1]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=X.head(5),
                signature=infer_signature(X.head(5), model.predict(X.head(5))),
            )
        uri = f"runs:/{run.info.run_id}/model"
        load_s = []
        for _ in range(loads):
            start = time.perf_counter()
            loaded = mlflow.pyfunc.load_model(uri)
            load_s.append(time.perf_counter() - start)
        assert (loaded.predict(X) == model.predict(X)).all()
        predict_us = statistics.median(per_call_us(loaded.predict, row, calls) for _ in range(3))
    print(json.dumps({"load_s": load_s, "predict_us": predict_us}))


if __name__ == "__main__":
    main()
