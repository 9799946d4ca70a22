"""Helpers of the monitoring tests: a classifier trained on versioned data, and a way to
write its prediction log the way the model server does (real predictor, real writer)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import cairn
from cairn.workspace import Workspace

FEATURES = ["x0", "x1", "x2", "x3", "plan"]
HOUR_MS = 3_600_000


def make_frame(
    n: int,
    seed: int,
    shift: float = 0.0,
    scale: float = 1.0,
    plans: tuple[str, ...] = ("a", "b", "c"),
) -> pd.DataFrame:
    """Features and a label whose relation to them never changes (``shift`` and ``scale``
    move x0: a covariate shift, the kind confidence-based estimation is built for)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x0": rng.normal(shift, scale, n),
            "x1": rng.normal(0.0, 1.0, n),
            "x2": rng.uniform(0.0, 10.0, n),
            "x3": rng.normal(5.0, 2.0, n),
            "plan": rng.choice(np.array(plans), n),
        }
    )
    logit = 2.0 * frame["x0"] - 1.0 * frame["x1"] + (frame["plan"] == "b") * 0.5
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@dataclass
class Monitored:
    ws: Workspace
    root: Path
    name: str = "churn"

    def predictor(self, version: int = 1) -> Any:
        from cairn.models import load
        from cairn.serving.predictor import make_predictor

        model = load(f"models:/{self.name}/{version}", workspace=self.ws)
        return make_predictor(model, self.name, str(version))

    def log(
        self,
        frame: pd.DataFrame,
        when_ms: int,
        *,
        version: int = 1,
        per_request: int = 1,
        prefix: str = "r",
        status: int = 200,
        latency_ms: float = 5.0,
        spread_ms: int = 1000,
        privacy: Any = None,
    ) -> list[str]:
        """Log ``frame`` as requests of ``per_request`` rows starting at ``when_ms``;
        returns the request ids."""
        from cairn.serving.codec import table_batch
        from cairn.serving.predlog import LogRecord, PredictionLog, default_root
        from cairn.serving.spec import ServingError

        predictor = self.predictor(version)
        plog = PredictionLog(
            default_root(self.ws), privacy=None if privacy is None else {self.name: privacy}
        )
        ids = []
        inputs = frame[[c for c in FEATURES if c in frame.columns]]
        for i, start in enumerate(range(0, len(inputs), per_request)):
            part = inputs.iloc[start : start + per_request]
            batch = table_batch(predictor.spec, {c: part[c].to_numpy() for c in part.columns})
            code = status
            preds = None
            if code < 400:
                try:  # as the server does: a refused request is logged with its status
                    preds = predictor.predict(batch)[0]
                except ServingError as exc:
                    code = exc.status
            rid = f"{prefix}{i}"
            ids.append(rid)
            plog.append(
                LogRecord(
                    when_ms + (i * spread_ms) // max(len(inputs) // per_request, 1),
                    rid, self.name, str(version), "primary", True, batch, preds,
                    code, latency_ms,
                    predictor.predict_proba if preds is not None else None,
                )
            )  # fmt: skip
            if plog.pending > 5000:
                plog.flush()
        plog.close()
        return ids


def train(ws: Workspace, root: Path, name: str = "churn", seed: int = 0) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train_frame = make_frame(3000, seed)
    valid_frame = make_frame(3000, seed + 1)
    train_frame.to_csv(root / "train.csv", index=False)
    valid_frame.to_csv(root / "valid.csv", index=False)
    train_ds = cairn.data.add(root / "train.csv", name=f"{name}-train", workspace=ws)
    valid_ds = cairn.data.add(root / "valid.csv", name=f"{name}-valid", workspace=ws)
    model = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LogisticRegression(max_iter=500),
    )
    model.fit(train_frame[FEATURES], train_frame["churned"])
    with cairn.start_run(experiment=name) as run:
        run.log_input(train_ds, role="train")
        run.log_input(valid_ds, role="validation")
        cairn.log_model(model, input_example=train_frame[FEATURES].head(5), registered_name=name)


def settled_hour(hours_ago: int = 3) -> int:
    """The start (epoch ms) of a whole hour that ended long enough ago to be cached."""
    now = int(time.time() * 1000)
    return (now // HOUR_MS - hours_ago) * HOUR_MS
