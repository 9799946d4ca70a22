"""Pipelines: cached DAGs of typed steps, run in-process, on local processes or Ray.

::

    import cairn

    @cairn.step
    def ingest(path: str) -> pd.DataFrame: ...

    @cairn.step(retries=2, timeout=600, cpus=2)
    def train(frame: pd.DataFrame, C: float = 1.0) -> LogisticRegression: ...

    @cairn.pipeline
    def churn(path: str = "data/churn.csv", C: float = 1.0):
        train(ingest(path), C=C)

    churn(C=0.5)                # or: cairn pipeline run pipelines/churn.py:churn --param C=0.5

Calling a pipeline builds its DAG (step calls return handles), validates it, then runs
it; see :mod:`cairn.pipelines.runner` for what is recorded and
:mod:`cairn.pipelines.executors` for where steps run.
"""

from __future__ import annotations

from cairn.pipelines.graph import Graph, Pipeline, PipelineError, pipeline
from cairn.pipelines.outcome import Outcome, PipelineFailed, PipelineInterrupted
from cairn.pipelines.runner import run_pipeline
from cairn.pipelines.serializers import SERIALIZERS, Serializer, register_serializer
from cairn.pipelines.step import Step, step
from cairn.pipelines.worker import StepContext, current

__all__ = [
    "SERIALIZERS",
    "Graph",
    "Outcome",
    "Pipeline",
    "PipelineError",
    "PipelineFailed",
    "PipelineInterrupted",
    "Serializer",
    "Step",
    "StepContext",
    "current",
    "pipeline",
    "register_serializer",
    "run_pipeline",
    "step",
]
