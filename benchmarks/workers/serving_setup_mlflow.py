"""Log the benchmark model with MLflow; print its URI and tracking URI as JSON.

Usage: serving_setup_mlflow.py DIR. Runs in MLflow's own venv. Same model and data as
serving_setup_cairn.py (Pipeline: StandardScaler + LogisticRegression on breast cancer).
"""

from __future__ import annotations

import json
import os
import sys
import warnings


def main() -> None:
    root = sys.argv[1]
    warnings.filterwarnings("ignore")
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    os.makedirs(root, exist_ok=True)
    os.chdir(root)
    tracking = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(tracking)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=X.head(5),
            signature=infer_signature(X.head(5), model.predict(X.head(5))),
        )
    print(json.dumps({"model_uri": f"runs:/{run.info.run_id}/model", "tracking_uri": tracking}))


if __name__ == "__main__":
    main()
