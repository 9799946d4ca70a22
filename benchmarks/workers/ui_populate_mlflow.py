"""MLflow side of the UI benchmark's setup; runs in the MLflow venv, imports only MLflow.

Usage: ``python ui_populate_mlflow.py DIR N``: a SQLite tracking store ``DIR/mlflow.db``
with experiment ``bench`` holding ``N`` finished runs (5 params, ``acc`` and ``loss``),
made as the tracking benchmark makes its store (one run through MLflow's API, its rows
copied in SQL). Prints ``{"experiment_id": ..., "runs": N}``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import mlflow
from tracking_mlflow import populate


def main() -> None:
    root, n = Path(sys.argv[1]), int(sys.argv[2])
    os.chdir(root)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    experiment_id = str(mlflow.set_experiment("bench").experiment_id)
    populate(root / "mlflow.db", experiment_id, n)
    with sqlite3.connect(root / "mlflow.db") as con:
        (total,) = con.execute("SELECT count(*) FROM runs").fetchone()
    sys.stdout.write(json.dumps({"experiment_id": experiment_id, "runs": total}) + "\n")


if __name__ == "__main__":
    main()
