"""Outputs stored by type, read back in other processes, and traced through lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_helpers import load, states

import cairn.workspace
from cairn.pipelines import PipelineFailed, run_pipeline

TYPED = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

@cairn.step
def ingest(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)], "y": [i % 2 for i in range(n)]})

@cairn.step
def features(frame: pd.DataFrame) -> np.ndarray:
    return frame[["x"]].to_numpy()

@cairn.step
def train(frame: pd.DataFrame, X: np.ndarray) -> LogisticRegression:
    return LogisticRegression().fit(X, frame["y"])

@cairn.step
def evaluate(model: LogisticRegression, X: np.ndarray, frame: pd.DataFrame) -> dict:
    return {"accuracy": float((model.predict(X) == frame["y"]).mean()), "rows": len(frame)}

@cairn.pipeline
def flow(n: int = 20):
    frame = ingest(n)
    X = features(frame)
    evaluate(train(frame, X), X, frame)
"""


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_frames_arrays_and_models_travel_between_steps_by_type(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path], executor: str
) -> None:
    path = project("flow.py", TYPED)
    outcome = run_pipeline(load(path), {}, executor=executor)
    assert set(states(outcome).values()) == {"ran"}
    kinds = {k: json.loads(r.outputs)[0]["serializer"] for k, r in outcome.steps.items()}
    assert kinds == {"ingest": "parquet", "features": "npy", "train": "model", "evaluate": "json"}
    assert outcome.output("evaluate")["rows"] == 20
    assert outcome.output("features").shape == (20, 1)


def test_which_pipeline_run_made_a_model_is_one_lineage_query(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project("flow.py", TYPED)
    outcome = run_pipeline(load(path), {})
    model_digest = json.loads(outcome.steps["train"].outputs)[0]["digest"]
    writers = workspace.tracking.runs_for_digest(model_digest, "output")
    assert outcome.run_id in {r.id for r in writers}
    step_run = next(r for r in writers if r.id != outcome.run_id)
    assert step_run.parent_id == outcome.run_id and step_run.name == "train"
    inputs = {io.role for io in step_run.inputs}
    assert inputs == {"frame", "X"}


def test_an_output_without_a_serializer_names_the_type_and_how_to_register(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        class Summary:
            pass

        @cairn.step
        def summarize(n: int):      # no declared type: found when it returns
            return Summary()

        @cairn.step
        def other(n: int) -> int:
            return n

        @cairn.pipeline
        def flow(n: int = 1):
            summarize(n)
            other(n)
        """,
    )
    with pytest.raises(PipelineFailed) as info:
        run_pipeline(load(path), {})
    message = str(info.value)
    assert "step 'summarize' returned an output it cannot store" in message
    assert "Summary" in message and "cairn.pipelines.register_serializer(Summary" in message
    assert states(info.value.outcome) == {"summarize": "failed", "other": "ran"}


def test_a_registered_serializer_is_used_in_worker_processes_too(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        from pathlib import Path

        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y

        class PointSerializer:
            name = "point"

            def dump(self, value, path):
                Path(path).write_text(f"{value.x},{value.y}")

            def load(self, path):
                return Point(*map(int, Path(path).read_text().split(",")))

        cairn.pipelines.register_serializer(Point, PointSerializer())

        @cairn.step
        def make(n: int) -> Point:
            return Point(n, n + 1)

        @cairn.step
        def norm(p: Point) -> int:
            return p.x + p.y

        @cairn.pipeline
        def flow(n: int = 2):
            norm(make(n))
        """,
    )
    outcome = run_pipeline(load(path), {}, executor="process")
    assert outcome.output("norm") == 5
    assert json.loads(outcome.steps["make"].outputs)[0]["serializer"] == "point"
