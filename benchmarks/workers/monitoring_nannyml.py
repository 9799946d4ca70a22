"""NannyML side of the monitoring benchmark; runs in benchmarks/.venvs/nannyml.

Usage: ``python monitoring_nannyml.py DIR``: fits NannyML's CBPE (binary
classification, accuracy) on ``DIR/reference.parquet`` (``proba``, ``y_pred``,
``y_true``) and estimates the accuracy of every window of ``DIR/windows.parquet``, one
chunk per window (the windows have equal sizes). Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nannyml
import pandas as pd


def main() -> None:
    folder = Path(sys.argv[1])
    reference = pd.read_parquet(folder / "reference.parquet")
    windows = pd.read_parquet(folder / "windows.parquet").sort_values("window", kind="stable")
    size = int(windows.groupby("window").size().iloc[0])
    start = time.perf_counter()
    estimator = nannyml.CBPE(
        y_pred_proba="proba",
        y_pred="y_pred",
        y_true="y_true",
        problem_type="classification_binary",
        metrics=["accuracy"],
        chunk_size=size,
    )
    estimator.fit(reference)
    result = estimator.estimate(windows.drop(columns=["y_true"]))
    seconds = time.perf_counter() - start
    frame = result.filter(period="analysis").to_df()
    values = frame[("accuracy", "value")].tolist()
    print(json.dumps({"estimated": [float(v) for v in values], "seconds": seconds}))


if __name__ == "__main__":
    main()
