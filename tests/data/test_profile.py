"""Profiles: streamed statistics agree with whole-data computation, memory-bounded sketches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.data.diff import binned_counts, compared_columns, psi
from cairn.data.profile import compute_profile
from cairn.data.sketches import DistinctCounter, Moments, Reservoir, TopCounter


def _profile(table: pa.Table, batch_rows: int) -> dict[str, Any]:
    def reader(columns: Any) -> Any:
        return iter(
            table.select(columns or table.column_names).to_batches(max_chunksize=batch_rows)
        )

    return compute_profile(table.schema, reader)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(finite, st.none()), min_size=1, max_size=300), st.integers(1, 50))
def test_streamed_numeric_stats_match_whole_data(values: list[float | None], batch: int) -> None:
    table = pa.table({"x": pa.array(values, type=pa.float64())})
    col = _profile(table, batch)["columns"]["x"]
    present = np.array([v for v in values if v is not None])
    assert col["count"] == len(values)
    assert col["nulls"] == len(values) - present.size
    if present.size == 0:
        assert col["mean"] is None
        return
    assert col["min"] == pytest.approx(present.min()) and col["max"] == pytest.approx(present.max())
    assert col["mean"] == pytest.approx(present.mean(), rel=1e-9, abs=1e-6)
    if present.size > 1:
        assert col["std"] == pytest.approx(present.std(ddof=1), rel=1e-6, abs=1e-6)
    assert col["distinct"] == len(set(present.tolist())) and col["distinct_exact"]
    # Few values: the sample holds them all, so quantiles are exact.
    assert col["quantiles"]["exact"]
    assert col["quantiles"]["values"][50] == pytest.approx(np.quantile(present, 0.5))
    assert sum(col["histogram"]["counts"]) == present.size


def test_profile_does_not_depend_on_batch_size() -> None:
    rng = np.random.default_rng(3)
    table = pa.table({"x": rng.normal(size=5000), "c": rng.choice(["a", "b", "c"], 5000)})
    a, b = _profile(table, 97), _profile(table, 5000)
    for name in ("x", "c"):
        for key in ("count", "nulls", "distinct", "min", "max", "top", "histogram"):
            left, right = a["columns"][name].get(key), b["columns"][name].get(key)
            assert left == right or left == pytest.approx(right), (name, key)


def test_categorical_columns_keep_top_values_and_other() -> None:
    values = ["a"] * 50 + ["b"] * 30 + [f"rare{i}" for i in range(25)] + [None] * 5
    col = _profile(pa.table({"c": values}), 16)["columns"]["c"]
    assert col["kind"] == "categorical"
    assert col["top"][:2] == [{"value": "a", "count": 50}, {"value": "b", "count": 30}]
    assert col["nulls"] == 5 and col["distinct"] == 27 and col["top_exact"]
    assert sum(t["count"] for t in col["top"]) + col["other"] == 105


def test_low_cardinality_numbers_get_one_bin_per_value() -> None:
    col = _profile(pa.table({"y": [0, 1, 1, 2, 2, 2] * 10}), 7)["columns"]["y"]
    assert col["histogram"]["counts"] == [10, 20, 30]


def test_nan_counts_as_missing_and_infinities_are_kept_out_of_the_moments() -> None:
    col = _profile(pa.table({"x": [1.0, float("nan"), float("inf"), 3.0]}), 2)["columns"]["x"]
    assert (col["nulls"], col["infinite"], col["mean"], col["max"]) == (1, 1, 2.0, 3)


def test_distinct_count_switches_to_an_estimate_within_its_error() -> None:
    counter = DistinctCounter(exact_cap=1000)
    rng = np.random.default_rng(0)
    true = rng.permutation(np.unique(np.frombuffer(rng.bytes(8 * 200_000), dtype=np.uint64)))
    for chunk in np.array_split(true, 20):
        counter.update(np.concatenate([chunk, chunk[:100]]))  # duplicates do not count twice
    assert not counter.exact
    assert abs(counter.count() - true.size) / true.size < 0.03  # 0.8% standard error, 3.7 sigma


def test_reservoir_quantiles_are_close_on_large_columns() -> None:
    rng = np.random.default_rng(1)
    sample = Reservoir(size=4096, seed=0)
    data = rng.uniform(0, 1, 200_000)
    for chunk in np.array_split(data, 37):
        sample.update(chunk)
    assert not sample.exact and sample.sample().size == 4096
    # Rank error sd <= 0.5 / sqrt(4096) ~ 0.008; allow 4 sigma.
    assert abs(np.quantile(sample.sample(), 0.9) - 0.9) < 0.032


def test_moments_merge_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(1e6, 3, 10_000)  # large offset: a naive sum of squares loses precision
    moments = Moments()
    for chunk in np.array_split(data, 13):
        moments.update(chunk)
    assert moments.mean == pytest.approx(data.mean(), rel=1e-12)
    assert moments.std == pytest.approx(data.std(ddof=1), rel=1e-9)


def test_top_counter_keeps_heavy_hitters_past_its_capacity() -> None:
    counter = TopCounter(capacity=100, keep=20)
    for i in range(50):
        counter.update(["hot"] + [f"cold{i}-{j}" for j in range(10)], [100] + [1] * 10)
    assert counter.top(1)[0][0] == "hot"
    assert not counter.exact
    assert 5000 - counter.error <= counter.top(1)[0][1] <= 5000


def test_psi_is_zero_for_the_same_profile_and_grows_with_shift() -> None:
    rng = np.random.default_rng(4)
    base = _profile(pa.table({"x": rng.normal(0, 1, 20_000)}), 4096)["columns"]["x"]
    same = _profile(pa.table({"x": rng.normal(0, 1, 20_000)}), 4096)["columns"]["x"]
    moved = _profile(pa.table({"x": rng.normal(1, 1, 20_000)}), 4096)["columns"]["x"]
    small, large = psi(base, same), psi(base, moved)
    assert small is not None and large is not None
    assert small < 0.02 < 0.25 < large
    assert math.isfinite(large)


def _binned_psi(old: pa.Table, new: pa.Table) -> dict[str, float | None]:
    """PSI per column the way `cairn data diff` computes it: new data in the old bins."""
    old_profile, new_profile = _profile(old, 97), _profile(new, 89)
    columns = compared_columns(old_profile, new_profile)
    counts = binned_counts(old_profile, columns, new.select(columns).to_batches(max_chunksize=53))
    return {
        name: psi(old_profile["columns"][name], new_profile["columns"][name], counts.get(name))
        for name in old.column_names
    }


column_values = st.one_of(
    st.lists(st.integers(0, 6), min_size=5, max_size=200),  # few distinct values
    st.lists(finite, min_size=5, max_size=200),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=5, max_size=200),
)


@settings(max_examples=60, deadline=None)
@given(column_values, st.integers(1, 4), st.randoms(use_true_random=False))
def test_duplicated_or_reordered_rows_give_no_drift(
    values: list[Any], copies: int, random: Any
) -> None:
    """Data whose distribution did not change: every row repeated, rows shuffled."""
    new_values = values * copies
    random.shuffle(new_values)
    result = _binned_psi(pa.table({"x": values}), pa.table({"x": new_values}))
    assert result["x"] is not None
    assert result["x"] < 0.01


def test_a_known_shift_gives_the_known_psi() -> None:
    # Ten values, 100 rows each: one bin per value. Half of value 0's rows become 1s.
    old = pa.table({"x": np.repeat(np.arange(10), 100)})
    shifted = np.repeat(np.arange(10), 100)
    shifted[:50] = 1
    # PSI = (0.05 - 0.1) ln(0.05 / 0.1) + (0.15 - 0.1) ln(0.15 / 0.1)
    expected = 0.05 * math.log(2) + 0.05 * math.log(1.5)
    assert _binned_psi(old, pa.table({"x": shifted}))["x"] == pytest.approx(expected, rel=1e-9)
    cats = pa.table({"c": np.repeat(np.array(list("abcdefghij")), 100)})
    moved = np.repeat(np.array(list("abcdefghij")), 100)
    moved[:50] = "b"
    assert _binned_psi(cats, pa.table({"c": moved}))["c"] == pytest.approx(expected, rel=1e-9)
