"""The demo's training pipeline: ingest -> validate -> split -> train -> evaluate ->
register -> gate.

    cairn pipeline run examples/pipelines/train.py:train_pipeline --param C=0.5

Each step is a plain typed function; the pipeline wires them by calling them. Outputs are
stored by type (DataFrame as Parquet, the model with its flavor, dicts as JSON), and a
second run skips every step whose code, parameters and inputs are unchanged.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import cairn


def make_model(C: float, seed: int) -> Any:
    """The candidate model. Swap in automated selection with one line:
    ``return cairn.select_model(X, y, candidates=[...], metric="roc_auc").model``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = LogisticRegression(C=C, max_iter=1000, random_state=seed)
    return make_pipeline(StandardScaler(), classifier)


@cairn.step
def ingest() -> pd.DataFrame:
    """The breast-cancer data that ships with scikit-learn (no download)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


@cairn.step
def validate(frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse data a model must not be trained on."""
    if frame.isna().any().any():
        raise ValueError(f"missing values in columns {list(frame.columns[frame.isna().any()])}")
    if set(frame["target"].unique()) != {0, 1}:
        raise ValueError("target must hold both classes 0 and 1")
    if len(frame) < 100:
        raise ValueError(f"only {len(frame)} rows; need at least 100")
    return frame


@cairn.step
def split(frame: pd.DataFrame, test_size: float, seed: int) -> dict:
    """Row numbers of a stratified train/test split."""
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(
        list(range(len(frame))), test_size=test_size, random_state=seed, stratify=frame["target"]
    )
    return {"train": sorted(train_rows), "test": sorted(test_rows)}


@cairn.step
def train(frame: pd.DataFrame, rows: dict, C: float, seed: int) -> Any:
    part = frame.iloc[rows["train"]]
    return make_model(C, seed).fit(part.drop(columns="target"), part["target"])


@cairn.step
def evaluate(model: Any, frame: pd.DataFrame, rows: dict) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    part = frame.iloc[rows["test"]]
    X, y = part.drop(columns="target"), part["target"]
    return {
        "auc": float(roc_auc_score(y, model.predict_proba(X)[:, 1])),
        "accuracy": float(accuracy_score(y, model.predict(X))),
    }


@cairn.step
def register(model: Any, metrics: dict, name: str) -> dict:
    """A new version of ``name`` from the train step's stored model, so the version's
    lineage leads back to this pipeline run."""
    source = cairn.pipelines.current().sources["model"]
    version = cairn.registry.register(source, name, description=f"auc {metrics['auc']:.4f}")
    return {"name": name, "version": version.version}


@cairn.step
def gate(registered: dict, metrics: dict, min_auc: float) -> dict:
    """Point the ``staging`` alias at the version if it is good enough."""
    passed = metrics["auc"] >= min_auc
    if passed:
        cairn.registry.promote(
            registered["name"], registered["version"], "staging",
            reason=f"pipeline gate: auc {metrics['auc']:.4f} >= {min_auc}",
        )  # fmt: skip
    return {**registered, "passed": passed, "auc": metrics["auc"]}


@cairn.pipeline
def train_pipeline(
    C: float = 1.0,
    test_size: float = 0.25,
    seed: int = 7,
    min_auc: float = 0.95,
    name: str = "breast-cancer-pipeline",
) -> None:
    frame = validate(ingest())
    rows = split(frame, test_size, seed)
    model = train(frame, rows, C, seed)
    metrics = evaluate(model, frame, rows)
    gate(register(model, metrics, name), metrics, min_auc)
