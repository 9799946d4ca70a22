"""The retraining pipeline of the demo (examples/pipelines/retrain.py) trains on the
newest dataset version every time it runs, records that version as the new model
version's lineage, and registers nothing when no new data arrived."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
import cairn.data
import cairn.workspace
from cairn import registry
from cairn.tracking import fluent

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "retrain.py"


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    fluent.reset()


def _retrain(ws: cairn.workspace.Workspace) -> None:
    from cairn.pipelines import run_pipeline
    from cairn.pipelines.loader import load_target

    pipe, target = load_target(f"{PIPELINE}:retrain_pipeline")
    run_pipeline(pipe, {"data": "cells", "model": "cells"}, target=target, workspace=ws)


def _trained_on(ws: cairn.workspace.Workspace, version: int) -> str:
    run = ws.tracking.get_run(registry.get_version("cells", version, workspace=ws).run_id)
    (edge,) = [e for e in run.inputs if e.kind == "dataset"]
    (found,) = ws.datasets.find_digest(edge.digest)
    return str(found.ref)


def test_an_alert_firing_again_without_new_data_adds_no_version_and_new_data_does(
    workspace: cairn.workspace.Workspace, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.to_csv(tmp_path / "v1.csv", index=False)
    cairn.data.add(tmp_path / "v1.csv", name="cells", workspace=workspace)

    _retrain(workspace)
    assert [v.version for v in registry.list_versions("cells", workspace=workspace)] == [1]
    assert _trained_on(workspace, 1) == "cells@v1"

    # The monitor fires again (a new episode, or a retry) while the data is unchanged:
    # the training step is a cache hit, so no identical version piles up.
    _retrain(workspace)
    assert [v.version for v in registry.list_versions("cells", workspace=workspace)] == [1]

    # New data arrives (two measurements shifted): the next run trains on it.
    shifted = frame.assign(mean_texture=frame["mean_texture"] + 4 * frame["mean_texture"].std())
    shifted.to_csv(tmp_path / "v2.csv", index=False)
    cairn.data.add(tmp_path / "v2.csv", name="cells", workspace=workspace)
    _retrain(workspace)
    assert [v.version for v in registry.list_versions("cells", workspace=workspace)] == [1, 2]
    assert _trained_on(workspace, 2) == "cells@v2"
