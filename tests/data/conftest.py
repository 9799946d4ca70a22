"""Small tabular files for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def churn_csv(workspace: object) -> Callable[..., Path]:
    """``churn_csv(rows=100, name="churn.csv")`` writes a churn-like CSV in the workspace."""
    import numpy as np
    import pandas as pd

    def make(rows: int = 100, name: str = "churn.csv", seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        frame = pd.DataFrame(
            {
                "customer_id": np.arange(rows),
                "tenure": rng.integers(0, 72, rows),
                "plan": rng.choice(["basic", "pro", "enterprise"], rows),
                "charges": rng.normal(70, 20, rows).round(2),
                "churned": rng.integers(0, 2, rows),
            }
        )
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    return make
