"""Model load time and 1-row predict latency: cairn.models.load vs the raw estimator.

Usage: models_cairn.py LOADS CALLS. Runs in the project venv. Prints one JSON object.
The same model as models_mlflow.py: StandardScaler + LogisticRegression on the
breast-cancer data (30 float columns), fitted on a DataFrame.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def per_call_us(fn, row, calls: int) -> float:  # type: ignore[no-untyped-def]
    """Median over 5 batches of the mean time of one call, in microseconds."""
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn(row)
        batches.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(batches)


def main() -> None:
    loads, calls = int(sys.argv[1]), int(sys.argv[2])
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import cairn
    from cairn.workspace import Workspace

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    row = X.iloc[:1]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Workspace.init(Path(tmp))
        with cairn.start_run(experiment="bench"):
            cairn.log_model(model, input_example=X.head(5), registered_name="bc")
        load_s = []
        for _ in range(loads):
            start = time.perf_counter()
            loaded = cairn.models.load("models:/bc/1")
            load_s.append(time.perf_counter() - start)
        assert (loaded.predict(X) == model.predict(X)).all()
        raw_us, cairn_us = [], []
        for _ in range(3):  # interleaved, so machine noise hits both alike
            raw_us.append(per_call_us(model.predict, row, calls))
            cairn_us.append(per_call_us(loaded.predict, row, calls))
    print(
        json.dumps(
            {
                "load_s": load_s,
                "raw_predict_us": statistics.median(raw_us),
                "cairn_predict_us": statistics.median(cairn_us),
            }
        )
    )


if __name__ == "__main__":
    main()
