"""Run by the MLflow venv's python (not by pytest): save the comparison models with
MLflow and write the request bodies MLflow's own helpers make.

    python mlflow_worker.py OUTDIR

writes OUTDIR/table, OUTDIR/array, OUTDIR/proba (MLflow models) and OUTDIR/bodies.json.
The models are fitted exactly as the test fits Cairn's: same data, same estimator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.utils import convert_input_example_to_serving_input
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main(out: Path) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = COLUMNS
    table = LogisticRegression(max_iter=1000).fit(X, y)
    mlflow.sklearn.save_model(table, out / "table", signature=infer_signature(X, table.predict(X)))
    mlflow.sklearn.save_model(
        table,
        out / "proba",
        signature=infer_signature(X, table.predict_proba(X)),
        pyfunc_predict_fn="predict_proba",
    )
    arrays = X.to_numpy()
    bare = LogisticRegression(max_iter=1000).fit(arrays, y)
    frame = pd.DataFrame(arrays)  # integer column names 0..3
    mlflow.sklearn.save_model(
        bare, out / "array", signature=infer_signature(frame, bare.predict(arrays))
    )
    rows = X.iloc[::13]
    bodies = {
        "table-helper": convert_input_example_to_serving_input(rows),
        "array-helper-rows": convert_input_example_to_serving_input(arrays[::13]),
        "array-helper-frame": convert_input_example_to_serving_input(frame.iloc[::13]),
    }
    (out / "bodies.json").write_text(json.dumps(bodies))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
