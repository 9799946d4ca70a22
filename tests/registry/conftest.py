"""A workspace with a held-out split on disk and two registered versions of ``churn``.

Version 1 is a logistic regression (good); version 2 always predicts the majority class
(worse by any measure), so gates have real outcomes to decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.tracking import fluent
from cairn.workspace import Workspace

GATES = """\
data: holdout.csv            # a held-out split saved as a file
target: churned
rules:
  - {metric: roc_auc, min: 0.90}
  - {metric: roc_auc, no_worse_than: production, tolerance: 0.005}
  - {latency_p95_ms: 2000}
  - {fairness: {metric: accuracy, by: gender, max_gap: 0.2}}
  - {signature_compatible_with: production}
"""


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    fluent.reset()


@dataclass(frozen=True)
class Trained:
    ws: Workspace
    root: Path
    gates: Path
    holdout: pd.DataFrame
    runs: list[str]


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :8].copy()
    frame.columns = [f"f{i}" for i in range(8)]
    frame["churned"] = y
    frame["gender"] = np.where(np.arange(len(frame)) % 2 == 0, "F", "M")
    train, test = train_test_split(frame, test_size=0.3, random_state=0)
    return train, test


@pytest.fixture
def trained(workspace: Workspace) -> Trained:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = workspace.root
    assert root is not None
    train, test = _data()
    test.to_csv(root / "holdout.csv", index=False)
    (root / "gates.yaml").write_text(GATES, encoding="utf-8")
    features = [f"f{i}" for i in range(8)]
    X, y = train[features], train["churned"]
    runs = []
    for label, model in (
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
        ("dummy", DummyClassifier(strategy="most_frequent")),
    ):
        with cairn.start_run(experiment="churn", name=label) as run:
            model.fit(X, y)
            cairn.log_model(model, input_example=X.head(5), registered_name="churn")
        runs.append(run.id)
    return Trained(workspace, root, root / "gates.yaml", test, runs)
