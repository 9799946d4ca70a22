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


def test_sqlite_thins_exactly_as_the_python_thinning_does(workspace: Any) -> None:
    import random

    from cairn.store.sql.metric_series import thinned_series
    from cairn.ui.downsample import downsample

    rng = random.Random(3)
    tracking = workspace.tracking
    exp = tracking.create_experiment("thin")
    for case in range(12):
        n = rng.choice([50, 1000, 7777, 20_000])
        steps = sorted(rng.sample(range(n * 3), n))
        values = [rng.gauss(0, 1) for _ in range(n)]
        for _ in range(rng.randint(0, 5)):  # gaps and infinities, as users log them
            values[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf])
        values[rng.randrange(n)] = 50.0  # a one-point spike
        run = tracking.create_run(exp.id, name=f"case-{case}")
        points = [Metric("m", v, s, s) for s, v in zip(steps, values, strict=True)]
        tracking.log_batch(run.id, points)
        for buckets, lo_hi in ((100, (None, None)), (37, (steps[n // 4], steps[n // 2]))):
            lo, hi = lo_hi
            got = thinned_series(tracking.db, run.id, "m", buckets, lo, hi)
            pairs = zip(steps, values, strict=True)
            part = [(s, v) for s, v in pairs if lo is None or lo <= s <= hi]
            want = downsample([s for s, _ in part], [v for _, v in part], buckets)
            if len(part) <= 2 * buckets:
                assert got is None
                continue
            assert got is not None
            assert got == (want.steps, want.values, want.total), (case, buckets)
            if lo is None:
                assert 50.0 in got[1]
