"""Column profiles of tabular data, computed by streaming record batches.

A profile is a JSON object (``"format": "cairn.profile/1"``)::

    {"format": "cairn.profile/1", "rows": 1000,
     "columns": {"age": {"dtype": "int64", "kind": "numeric", "count": 1000, "nulls": 3,
                         "distinct": 71, "distinct_exact": true, "min": 18, "max": 90,
                         "mean": 41.2, "std": 12.9, "infinite": 0,
                         "quantiles": {"probs": [0.0, 0.01, ...], "values": [18, 19, ...],
                                       "exact": true},
                         "histogram": {"edges": [18, 22, ...], "counts": [52, 49, ...]}},
                 "plan": {"dtype": "string", "kind": "categorical", ..., "top":
                          [{"value": "basic", "count": 700}, ...], "top_exact": true,
                          "top_error": 0, "other": 0}}}

It is the reference drift monitoring compares against, so the histogram keeps its bin
edges: numeric columns get ``HISTOGRAM_BINS`` equal-frequency bins (from the quantile
sample; the outer edges are the exact min and max) with exact counts, or one bin per
value when a column has at most that many distinct values; categorical columns keep
their top values with counts and the count of everything else (``other``). Those are what
PSI, chi-squared and Jensen-Shannon need; KS uses the 101 quantiles.

Memory is bounded by the batch size and the sketch sizes (see :mod:`cairn.data.sketches`),
never by the number of rows. Numeric columns take a second pass over the data (the bin
edges are known only after the first): counts are exact, at the price of reading those
columns twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cairn.data.sketches import (
    DISTINCT_EXACT_CAP,
    HLL_PRECISION,
    RESERVOIR_SIZE,
    DistinctCounter,
    Moments,
    Reservoir,
    TopCounter,
)
from cairn.data.tabular import dtype_name

if TYPE_CHECKING:
    import pyarrow as pa

PROFILE_FORMAT = "cairn.profile/1"
HISTOGRAM_BINS = 20
TOP_VALUES = 20
QUANTILE_PROBS = tuple(i / 100 for i in range(101))

#: ``reader(columns)`` yields record batches restricted to ``columns`` (``None``: all).
BatchReader = Callable[[Sequence[str] | None], Iterator["pa.RecordBatch"]]


def column_kind(arrow_type: pa.DataType) -> str:
    """``numeric``, ``categorical``, ``temporal`` or ``other`` for an Arrow type."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        return "categorical"
    if str(t) == "string_view":
        return "categorical"
    if pa.types.is_temporal(t):
        return "temporal"
    return "other"


def bin_counts(edges: np.ndarray | Sequence[float], array: pa.Array) -> np.ndarray:
    """Counts of ``array``'s finite values in the histogram bins ``edges`` (nulls, NaN dropped).

    Values below the first edge count in the first bin and above the last in the last,
    so a profile's own data and any later data fall into the same bins the same way:
    :mod:`cairn.data.diff` bins a new version with this function into an old version's
    edges.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    edges = np.asarray(edges, dtype=np.float64)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    present = pc.drop_null(array) if array.null_count else array
    values = np.asarray(present.to_numpy(zero_copy_only=False), dtype=np.float64)
    values = values[np.isfinite(values)]
    size = max(edges.size - 1, 1)
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, size - 1)
    return np.bincount(bins, minlength=size).astype(np.int64)


class _ColumnState:
    def __init__(self, name: str, arrow_type: pa.DataType, seed: int) -> None:
        self.name = name
        self.dtype = dtype_name(arrow_type)
        self.kind = column_kind(arrow_type)
        self.count = 0
        self.nulls = 0
        self.infinite = 0
        self.distinct = DistinctCounter()
        self.moments = Moments() if self.kind == "numeric" else None
        self.sample = Reservoir(seed=seed) if self.kind == "numeric" else None
        self.top = TopCounter() if self.kind == "categorical" else None
        self.low: Any = None
        self.high: Any = None
        self.edges: np.ndarray | None = None
        self.counts: np.ndarray | None = None

    def update(self, array: pa.Array) -> None:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        self.count += len(array)
        self.nulls += array.null_count
        present = pc.drop_null(array) if array.null_count else array
        if self.kind == "numeric":
            values = np.asarray(present.to_numpy(zero_copy_only=False), dtype=np.float64)
            nan = np.isnan(values)
            if nan.any():
                self.nulls += int(nan.sum())
                values = values[~nan]
            finite = np.isfinite(values)
            self.infinite += int(values.size - finite.sum())
            values = values[finite]
            assert self.moments is not None and self.sample is not None
            self.moments.update(values)
            self.sample.update(values)
            if values.size:
                self.distinct.update(pd.util.hash_array(values))
        elif self.kind == "categorical":
            assert self.top is not None
            counted = pc.value_counts(present)
            values = counted.field("values").to_pylist()
            self.top.update(values, counted.field("counts").to_pylist())
            if values:
                self.distinct.update(pd.util.hash_array(np.asarray(values, dtype=object)))
        elif self.kind == "temporal" and len(present):
            bounds = pc.min_max(present)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)
            unique = pc.unique(present).cast(pa.string()).to_numpy(zero_copy_only=False)
            self.distinct.update(pd.util.hash_array(np.asarray(unique, dtype=object)))

    def plan_histogram(self) -> None:
        """Fix the bin edges from the sample (called between the two passes)."""
        assert self.moments is not None and self.sample is not None
        if self.moments.n == 0:
            return
        sample = self.sample.sample()
        values = np.unique(sample)
        if self.distinct.exact and self.distinct.count() <= HISTOGRAM_BINS:
            # One bin per value: edges halfway between neighbours.
            mids = (values[:-1] + values[1:]) / 2
            edges = np.concatenate([[values[0]], mids, [values[-1]]])
        else:
            probs = np.linspace(0, 1, HISTOGRAM_BINS + 1)
            edges = np.unique(np.quantile(sample, probs))
        edges[0], edges[-1] = self.moments.min, self.moments.max
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
        self.edges = edges
        self.counts = np.zeros(edges.size - 1, dtype=np.int64)

    def count_bins(self, array: pa.Array) -> None:
        if self.edges is None or self.counts is None:
            return
        self.counts += bin_counts(self.edges, array)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "distinct": self.distinct.count(),
            "distinct_exact": self.distinct.exact,
        }
        if self.moments is not None and self.sample is not None:
            m = self.moments
            out["infinite"] = self.infinite
            out["min"] = _num(m.min) if m.n else None
            out["max"] = _num(m.max) if m.n else None
            out["mean"] = _float(m.mean) if m.n else None
            out["std"] = _float(m.std) if m.std is not None else None
            if m.n:
                quantiles = np.quantile(self.sample.sample(), QUANTILE_PROBS)
                out["quantiles"] = {
                    "probs": list(QUANTILE_PROBS),
                    "values": [_num(v) for v in quantiles],
                    "exact": self.sample.exact,
                }
            if self.edges is not None and self.counts is not None:
                out["histogram"] = {
                    "edges": [_num(e) for e in self.edges],
                    "counts": [int(c) for c in self.counts],
                }
        if self.top is not None:
            top = self.top.top(TOP_VALUES)
            present = self.count - self.nulls
            out["top"] = [{"value": _plain(v), "count": c} for v, c in top]
            out["top_exact"] = self.top.exact
            out["top_error"] = self.top.error
            out["other"] = present - sum(c for _, c in top)
        if self.kind == "temporal":
            out["min"] = None if self.low is None else str(self.low)
            out["max"] = None if self.high is None else str(self.high)
        return out


def compute_profile(
    schema: pa.Schema, reader: BatchReader, on_rows: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Profile every column of the data ``reader`` yields, in at most two streamed passes.

    Example:
        >>> import pyarrow as pa
        >>> table = pa.table({"x": [1.0, 2.0, 3.0, None]})
        >>> read = lambda cols: iter(table.select(cols or ["x"]).to_batches())
        >>> profile = compute_profile(table.schema, read)
        >>> profile["columns"]["x"]["nulls"], profile["columns"]["x"]["mean"]
        (1, 2.0)
    """
    states = [_ColumnState(f.name, f.type, seed) for seed, f in enumerate(schema)]
    rows = 0
    for batch in reader(None):
        rows += batch.num_rows
        for state, array in zip(states, batch.columns, strict=True):
            state.update(array)
        if on_rows is not None:
            on_rows(batch.num_rows)
    numeric = [s for s in states if s.kind == "numeric" and s.moments and s.moments.n]
    for state in numeric:
        state.plan_histogram()
    if numeric:
        names = [s.name for s in numeric]
        for batch in reader(names):
            for state, array in zip(numeric, batch.columns, strict=True):
                state.count_bins(array)
    return {
        "format": PROFILE_FORMAT,
        "rows": rows,
        "columns": {s.name: s.result() for s in states},
        "sketch": {
            "quantile_sample_size": RESERVOIR_SIZE,
            "distinct_exact_cap": DISTINCT_EXACT_CAP,
            "hll_precision": HLL_PRECISION,
            "histogram_bins": HISTOGRAM_BINS,
        },
    }


def _num(value: float | np.floating[Any]) -> float | int | None:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _float(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
