"""Create a Cairn workspace serving the benchmark model as ``bc@production``.

Usage: serving_setup_cairn.py WORKSPACE_DIR. Runs in the project venv. The model is a
scikit-learn Pipeline (StandardScaler + LogisticRegression) fitted on the breast-cancer
DataFrame (30 float columns), the same model the MLflow and bare-app workers build.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1])
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import cairn.models
    import cairn.workspace
    from cairn.store.registry import NewModelVersion
    from cairn.tracking.fluent import start_run

    ws = cairn.workspace.Workspace.init(root)
    os.chdir(root)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    with start_run(experiment="bench-serving"):
        info = cairn.models.log_model(model, input_example=X.head(5))
    version = ws.registry.create_version(
        NewModelVersion("bc", info.digest, info.manifest.flavor, info.uri, info.run_id)
    ).version
    ws.registry.set_alias("bc", "production", version, actor="bench")
    print(json.dumps({"model": "bc@production", "version": version}))


if __name__ == "__main__":
    main()
