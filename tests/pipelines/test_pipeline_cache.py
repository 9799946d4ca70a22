"""Caching by content: what changes re-runs a step, what does not, and explain says why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_helpers import load, states

import cairn.workspace
from cairn.pipelines import run_pipeline
from cairn.pipelines.history import explain
from cairn.store.blobs import object_key

FLOW = """
import helpers

@cairn.step
def ingest(n: int) -> list:
    return list(range(n))

@cairn.step
def scale(rows: list, factor: float) -> list:
    return [helpers.adjust(r) * factor for r in rows]

@cairn.step
def total(rows: list) -> float:
    return sum(rows)

@cairn.step(cache=False)
def stamp(value: float) -> dict:
    return {"value": value}

@cairn.pipeline
def flow(n: int = 4, factor: float = 1.0):
    stamp(total(scale(ingest(n), factor)))
"""


@pytest.fixture
def flow(project: Callable[..., Path]) -> Path:
    project("helpers.py", "def adjust(x):\n    return x + 1\n")
    return project("flow.py", FLOW)


def _fresh(path: Path) -> object:
    """The pipeline as a new process would load it (edited files are read again)."""
    import sys

    for name in [n for n in sys.modules if n.startswith("_cairn_pipeline_") or n == "helpers"]:
        del sys.modules[name]
    from cairn.pipelines import codehash

    codehash._code_digest.cache_clear()
    return load(path)


def test_unchanged_steps_are_cached_and_reuse_the_stored_outputs(
    workspace: cairn.workspace.Workspace, flow: Path
) -> None:
    first = run_pipeline(_fresh(flow), {})
    assert set(states(first).values()) == {"ran"}
    second = run_pipeline(_fresh(flow), {})
    assert states(second) == {
        "ingest": "cached", "scale": "cached", "total": "cached", "stamp": "ran",
    }  # fmt: skip
    assert second.output("total") == first.output("total") == 10.0
    assert second.steps["total"].step_run_id == first.steps["total"].step_run_id


def test_a_changed_parameter_reruns_only_the_steps_it_reaches(
    workspace: cairn.workspace.Workspace, flow: Path
) -> None:
    first = run_pipeline(_fresh(flow), {})
    second = run_pipeline(_fresh(flow), {"factor": "2"})
    assert states(second)["ingest"] == "cached"
    assert states(second)["scale"] == "ran" and states(second)["total"] == "ran"
    assert second.output("total") == 20.0
    why = explain(second.run_id, "scale", workspace=workspace)
    assert why.compared_with == first.run_id
    assert why.reasons == ["ran because param 'factor' changed: 1.0 -> 2.0"]
    downstream = explain(second.run_id, "total", workspace=workspace)
    assert len(downstream.reasons) == 1 and "input 'rows' changed" in downstream.reasons[0]
    cached = explain(second.run_id, "ingest", workspace=workspace)
    assert cached.reasons[0].startswith("cached: code, params and inputs match")


def test_editing_a_project_helper_the_step_calls_reruns_it(
    workspace: cairn.workspace.Workspace, flow: Path, project: Callable[..., Path]
) -> None:
    run_pipeline(_fresh(flow), {})
    # The attack: the step's own source is unchanged; only a helper in another module is.
    project("helpers.py", "def adjust(x):\n    return x + 2\n", header=False)
    second = run_pipeline(_fresh(flow), {})
    assert states(second)["ingest"] == "cached"
    assert states(second)["scale"] == "ran"
    assert second.output("total") == 14.0
    why = explain(second.run_id, "scale", workspace=workspace)
    assert why.reasons[0].startswith("ran because code changed")


def test_no_cache_runs_every_step_and_the_cache_serves_the_next_run(
    workspace: cairn.workspace.Workspace, flow: Path
) -> None:
    run_pipeline(_fresh(flow), {})
    forced = run_pipeline(_fresh(flow), {}, use_cache=False)
    assert set(states(forced).values()) == {"ran"}
    why = explain(forced.run_id, "ingest", workspace=workspace)
    assert "caching was off" in why.reasons[0]
    again = run_pipeline(_fresh(flow), {})
    assert states(again)["total"] == "cached"


def test_a_cached_output_removed_from_the_store_is_computed_again(
    workspace: cairn.workspace.Workspace, flow: Path
) -> None:
    first = run_pipeline(_fresh(flow), {})
    digest = json.loads(first.steps["total"].outputs)[0]["digest"]
    # The attack: the object behind a cache entry disappears (gc, a wiped bucket).
    workspace.artifacts.blobs.delete(object_key(digest))
    assert not workspace.artifacts.exists(digest)
    second = run_pipeline(_fresh(flow), {})
    assert states(second)["scale"] == "cached"
    assert states(second)["total"] == "ran"
    assert workspace.artifacts.exists(digest)
    assert second.output("total") == 10.0
