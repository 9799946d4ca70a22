"""The charts' fast series read returns exactly what get_metric_history returns."""

from __future__ import annotations

import math
from typing import Any

import pytest

import cairn
from cairn.errors import NotFound
from cairn.store.sql.metric_series import metric_arrays, metric_arrays_many
from cairn.types import Metric


def test_fast_read_matches_history_with_repeats_gaps_and_out_of_order_steps(
    workspace: Any,
) -> None:
    tracking = workspace.tracking
    exp = tracking.create_experiment("odd")
    run = tracking.create_run(exp.id, name="odd")
    other = tracking.create_run(exp.id, name="other")
    points = [
        Metric("m", 3.0, 10, 5),
        Metric("m", 1.0, 2, 9),
        Metric("m", math.nan, 4, 1),
        Metric("m", 7.0, 2, 3),  # same step, earlier time: comes first
        Metric("m", math.inf, 6, 2),
        Metric("other", 9.0, 1, 1),
    ]
    tracking.log_batch(run.id, points)
    tracking.log_batch(other.id, [Metric("m", 0.5, 0, 0)])
    tracking.end_run(run.id, cairn.RunStatus.FINISHED)
    history = tracking.get_metric_history(run.id, "m")
    steps, values = metric_arrays(tracking.db, run.id, "m")
    assert list(steps) == [m.step for m in history] == [2, 2, 4, 6, 10]
    expected = [m.value for m in history]
    assert [str(v) for v in values] == [str(v) for v in expected]  # nan == nan as text
    many = metric_arrays_many(tracking.db, [run.id, other.id, "f" * 32], "m")
    assert set(many) == {run.id, other.id}
    assert list(many[run.id][0]) == list(steps) and list(many[other.id][1]) == [0.5]
    assert metric_arrays(tracking.db, run.id, "absent") == (steps[:0], values[:0])
    with pytest.raises(NotFound, match="no run with id"):
        metric_arrays(tracking.db, "0" * 32, "m")
