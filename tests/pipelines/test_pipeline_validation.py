"""A pipeline that cannot run fails before any step runs, naming file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_helpers import load

import cairn.workspace
from cairn.pipelines import PipelineError, run_pipeline
from cairn.pipelines.graph import topological
from cairn.pipelines.step import Node, step

# Each step writes a marker so a test can tell that nothing ran.
STEPS = """
MARK = __file__ + ".ran"

def mark():
    open(MARK, "a").write("x")

@cairn.step
def ingest(n: int) -> list:
    mark()
    return list(range(n))

@cairn.step
def train(rows: list, C: float) -> float:
    mark()
    return sum(rows) * C
"""


def _nothing_recorded(ws: cairn.workspace.Workspace, path: Path) -> None:
    assert not Path(str(path) + ".ran").exists(), "a step ran before validation failed"
    assert ws.metadata.pipelines.list_runs() == []
    assert not ws.tracking.search_runs().items


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_missing_input_names_the_call_site_and_runs_nothing(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
@cairn.pipeline
def flow(n: int = 3):
    rows = ingest(n)
    train(rows)   # C forgotten
""",
    )
    with pytest.raises(PipelineError) as info:
        run_pipeline(load(path), {})
    message = str(info.value)
    assert f"{path}:{_line_of(path, 'train(rows)')}" in message
    assert "train" in message and "'C'" in message
    _nothing_recorded(workspace, path)


def test_unknown_parameter_is_refused_with_the_ones_it_takes(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
@cairn.pipeline
def flow(n: int = 3, C: float = 1.0):
    train(ingest(n), C)
""",
    )
    with pytest.raises(PipelineError) as info:
        run_pipeline(load(path), {"learning_rate": "0.1"})
    message = str(info.value)
    assert f"{path}:{_line_of(path, 'def flow')}" in message
    assert "'learning_rate'" in message and "it takes: n, C" in message
    _nothing_recorded(workspace, path)


def test_a_parameter_of_the_wrong_type_is_refused(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
@cairn.pipeline
def flow(n: int = 3, C: float = 1.0):
    train(ingest(n), C)
""",
    )
    with pytest.raises(PipelineError, match=r"parameter 'n' of pipeline 'flow' must be a int"):
        run_pipeline(load(path), {"n": "three"})
    _nothing_recorded(workspace, path)


def test_unserializable_declared_output_names_the_step_definition(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
class Report:
    pass

@cairn.step
def report(value: float) -> Report:
    mark()
    return Report()

@cairn.pipeline
def flow(n: int = 3):
    report(train(ingest(n), 1.0))
""",
    )
    with pytest.raises(PipelineError) as info:
        run_pipeline(load(path), {})
    message = str(info.value)
    assert f"{path}:{_line_of(path, 'def report')}" in message
    assert "Report" in message and "register_serializer(Report" in message
    _nothing_recorded(workspace, path)


def test_mapping_over_a_step_output_is_refused_at_build(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
@cairn.pipeline
def flow(n: int = 3):
    rows = ingest(n)
    train.map(rows, 1.0)
""",
    )
    with pytest.raises(PipelineError) as info:
        run_pipeline(load(path), {})
    assert f"{path}:{_line_of(path, 'train.map')}" in str(info.value)
    _nothing_recorded(workspace, path)


def test_using_an_output_as_a_value_in_the_pipeline_body_is_explained(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
@cairn.pipeline
def flow(n: int = 3):
    rows = ingest(n)
    if rows:
        train(rows, 1.0)
""",
    )
    with pytest.raises(PipelineError, match="has no value while the pipeline is being built"):
        run_pipeline(load(path), {})
    _nothing_recorded(workspace, path)


def test_a_step_argument_that_is_not_json_is_refused_at_its_call(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        STEPS
        + """
import threading

@cairn.pipeline
def flow(n: int = 3):
    train(ingest(n), C=threading.Lock())
""",
    )
    with pytest.raises(PipelineError) as info:
        run_pipeline(load(path), {})
    message = str(info.value)
    assert f"{path}:{_line_of(path, 'C=threading.Lock()')}" in message
    assert "argument 'C' of step 'train' is a lock, which is not JSON" in message
    _nothing_recorded(workspace, path)


def test_a_cycle_is_reported_with_each_step_and_call() -> None:
    @step
    def a(x: int) -> int:
        return x

    first = Node("a", a, {}, "flow.py:10")
    second = Node("b", a, {}, "flow.py:11", upstream=[first])
    first.upstream.append(second)
    with pytest.raises(PipelineError) as info:
        topological([first, second])
    assert "cycle" in str(info.value)
    assert "a (flow.py:10)" in str(info.value) and "b (flow.py:11)" in str(info.value)


def test_a_step_outside_a_pipeline_is_its_plain_function() -> None:
    @step(retries=1)
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8
    assert double.map([1, 2]) == [2, 4]
