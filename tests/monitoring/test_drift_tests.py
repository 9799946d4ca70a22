"""Drift tests read like-for-like data as undrifted, whatever its shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from cairn.data.profile import compute_profile
from cairn.monitoring.drift import TESTS, compare
from cairn.monitoring.sketch import FeatureSketch


def _profile(values: np.ndarray) -> dict[str, Any]:
    table = pa.table({"x": values})
    columns = compute_profile(table.schema, lambda cols: iter(table.to_batches()))["columns"]
    info: dict[str, Any] = columns["x"]
    return info


def _sketch(info: dict[str, Any], values: np.ndarray) -> FeatureSketch:
    sketch = FeatureSketch.empty(info)
    for start in range(0, len(values), 7_000):  # several batches, as an hour of log is read
        sketch.update(info, pa.array(values[start : start + 7_000]))
    return sketch


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda rng, n: (rng.random(n) < 0.3).astype(np.int64), id="zero-one"),
        pytest.param(lambda rng, n: rng.integers(0, 50, n), id="integers"),
        pytest.param(lambda rng, n: rng.poisson(2.0, n).astype(np.float64), id="counts"),
    ],
)
def test_ks_does_not_flag_a_discrete_column_logged_with_the_same_shares(draw: Any) -> None:
    """P(X <= x) of the reference against P(X < x) of the window made a 0/1 feature
    read as drifted on every window."""
    flagged = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        info = _profile(draw(rng, 20_000))
        result = compare("x", info, _sketch(info, draw(rng, 600)), test="ks")
        assert result.score is not None and result.score < 0.1, result.score
        flagged += result.drifted
    assert flagged <= 2  # p < 0.01 on 10 like-for-like windows: about 0.1 expected


def test_ks_still_flags_a_discrete_column_whose_shares_moved() -> None:
    rng = np.random.default_rng(1)
    info = _profile((rng.random(20_000) < 0.3).astype(np.int64))
    result = compare("x", info, _sketch(info, (rng.random(600) < 0.45).astype(np.int64)))
    assert result.test == "ks" and result.drifted


def test_window_bins_count_the_reference_itself_exactly() -> None:
    """Binning a window must match the profile's own binning value for value, edges and
    out-of-range values included, or PSI drifts on identical data."""
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 30_000), [np.nan, np.inf, -np.inf]])
    info = _profile(values)
    sketch = _sketch(info, values)
    assert sketch.bins == info["histogram"]["counts"]
    assert sketch.infinite == 2 and sketch.nulls == 1
    assert sketch.below == 0 and sketch.above == 0
    result = compare("x", info, sketch, test="psi")
    assert result.score == 0.0 and not result.drifted
    wider = _sketch(info, np.array([info["min"] - 1.0, info["max"] + 1.0, info["max"]]))
    assert (wider.below, wider.above) == (1, 1)
    assert wider.bins[0] == 1 and wider.bins[-1] == 2


def test_every_named_test_gives_a_finite_score_or_none() -> None:
    rng = np.random.default_rng(3)
    numeric = _profile(rng.normal(0, 1, 5_000))
    table = pa.table({"c": rng.choice(np.array(["a", "b", "c"]), 5_000)})
    categorical = compute_profile(table.schema, lambda cols: iter(table.to_batches()))["columns"][
        "c"
    ]
    for name, (_, kinds) in TESTS.items():
        for kind in kinds:
            if kind == "numeric":
                result = compare("x", numeric, _sketch(numeric, rng.normal(0, 1, 400)), test=name)
            else:
                sketch = FeatureSketch.empty(categorical)
                sketch.update(categorical, pa.array(rng.choice(np.array(["a", "b", "z"]), 400)))
                result = compare("c", categorical, sketch, test=name)
            assert result.test == name
            assert result.score is None or np.isfinite(result.score)
