"""Small real datasets and fitted models shared by the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from cairn.tracking import fluent


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    fluent.reset()


@pytest.fixture(scope="session")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    """Breast-cancer features (6 numeric columns) plus a text column, and the labels."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6].copy()
    X.columns = ["radius", "texture", "perimeter", "area", "smoothness", "compactness"]
    X["plan"] = np.where(np.arange(len(X)) % 3 == 0, "basic", "pro")
    return X, y.to_numpy()


@pytest.fixture(scope="session")
def pipeline(table: tuple[pd.DataFrame, np.ndarray]) -> object:
    """A fitted ColumnTransformer + LogisticRegression Pipeline on ``table``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = table
    numeric = [c for c in X.columns if c != "plan"]
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=1000)).fit(X, y)
