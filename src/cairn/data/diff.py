"""Comparing two dataset versions from their schemas and profiles.

Per column: added, removed or retyped; null rate and mean before and after; and the
Population Stability Index of the new distribution against the old one's bins.

The new version is binned exactly into the old version's bins (:func:`binned_counts`,
one streamed pass over the new version's compared columns): numbers into the old
histogram's edges, categories into the old top values plus "other". Both sides then
count the same way, so data whose distribution did not change (the same rows
reordered, every row duplicated) gives a PSI of 0, not an artefact of two different
binnings. Where the new data cannot be read (a version stored as bytes), numbers fall
back to the new profile's 101 quantiles (linear interpolation of its CDF; good to about
a percentile, and coarse on columns with few distinct values) and categories to its top
values. Common reading of PSI: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large
one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.store.datasets import DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa

PSI_FLOOR = 1e-4  # proportions are floored so empty bins do not make PSI infinite


@dataclass(frozen=True)
class ColumnChange:
    name: str
    status: str  # added | removed | retyped | same
    old_dtype: str | None
    new_dtype: str | None
    old_null_rate: float | None = None
    new_null_rate: float | None = None
    old_mean: float | None = None
    new_mean: float | None = None
    psi: float | None = None


@dataclass(frozen=True)
class DatasetDiff:
    old: DatasetVersion
    new: DatasetVersion
    columns: tuple[ColumnChange, ...]

    @property
    def same_content(self) -> bool:
        return self.old.digest == self.new.digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.ref,
            "new": self.new.ref,
            "same_content": self.same_content,
            "rows": {"old": self.old.rows, "new": self.new.rows},
            "size": {"old": self.old.size, "new": self.new.size},
            "files": {"old": self.old.file_count, "new": self.new.file_count},
            "columns": [c.__dict__ for c in self.columns],
        }


def diff_profiles(
    old: DatasetVersion,
    new: DatasetVersion,
    old_profile: dict[str, Any] | None,
    new_profile: dict[str, Any] | None,
    new_counts: dict[str, list[int]] | None = None,
) -> DatasetDiff:
    """Column-by-column changes between two versions.

    ``new_counts`` (from :func:`binned_counts`) holds the new version's counts in the old
    version's bins; columns missing from it use the profiles' approximation.
    """
    binned = new_counts or {}
    old_cols = {c.name: c.dtype for c in old.columns}
    new_cols = {c.name: c.dtype for c in new.columns}
    op = (old_profile or {}).get("columns", {})
    np_ = (new_profile or {}).get("columns", {})
    changes = []
    for name in [*old_cols, *(n for n in new_cols if n not in old_cols)]:
        a, b = old_cols.get(name), new_cols.get(name)
        status = (
            "added" if a is None else "removed" if b is None else "retyped" if a != b else "same"
        )
        pa_, pb = op.get(name), np_.get(name)
        changes.append(
            ColumnChange(
                name=name,
                status=status,
                old_dtype=a,
                new_dtype=b,
                old_null_rate=_null_rate(pa_),
                new_null_rate=_null_rate(pb),
                old_mean=None if pa_ is None else pa_.get("mean"),
                new_mean=None if pb is None else pb.get("mean"),
                psi=psi(pa_, pb, binned.get(name)) if pa_ is not None and pb is not None else None,
            )
        )
    return DatasetDiff(old, new, tuple(changes))


def _null_rate(info: dict[str, Any] | None) -> float | None:
    if not info or not info.get("count"):
        return None
    return float(info["nulls"]) / float(info["count"])


def compared_columns(
    old_profile: dict[str, Any] | None, new_profile: dict[str, Any] | None
) -> list[str]:
    """Columns present in both profiles, of one kind, with bins on the old side."""
    op = (old_profile or {}).get("columns", {})
    np_ = (new_profile or {}).get("columns", {})
    return [
        name
        for name, info in op.items()
        if name in np_
        and np_[name].get("kind") == info.get("kind")
        and (info.get("histogram") or info.get("top") is not None)
    ]


def binned_counts(
    old_profile: dict[str, Any], columns: list[str], batches: Iterable[pa.RecordBatch]
) -> dict[str, list[int]]:
    """The new data's counts in the old profile's bins, per column, from one pass.

    Numeric columns count into the old histogram's edges exactly as the profile counted
    its own data (:func:`cairn.data.profile.bin_counts`); categorical columns count the
    old top values, in order, then everything else that is not null.
    """
    import numpy as np
    import pyarrow.compute as pc

    from cairn.data.profile import bin_counts

    info = old_profile["columns"]
    totals: dict[str, np.ndarray] = {}
    tops: dict[str, dict[Any, int]] = {}
    for name in columns:
        if info[name].get("histogram"):
            totals[name] = np.zeros(max(len(info[name]["histogram"]["edges"]) - 1, 1), np.int64)
        else:
            values = [t["value"] for t in info[name]["top"]]
            tops[name] = {v: i for i, v in enumerate(values)}
            totals[name] = np.zeros(len(values) + 1, np.int64)
    for batch in batches:
        for name in columns:
            array = batch.column(name)
            if name not in tops:
                totals[name] += bin_counts(info[name]["histogram"]["edges"], array)
                continue
            if array.null_count:
                array = pc.drop_null(array)
            counted = pc.value_counts(array)
            slots, other = tops[name], len(tops[name])
            for value, count in zip(
                counted.field("values").to_pylist(),
                counted.field("counts").to_pylist(),
                strict=True,
            ):
                key = value if isinstance(value, (str, int, float, bool)) else str(value)
                totals[name][slots.get(key, other)] += count
    return {name: [int(c) for c in counts] for name, counts in totals.items()}


def psi(
    old: dict[str, Any], new: dict[str, Any], new_counts: list[int] | None = None
) -> float | None:
    """PSI of column profile ``new`` against ``old``; ``None`` if they cannot be compared.

    ``new_counts`` are the new data's counts in the old bins (:func:`binned_counts`);
    without them the new side is approximated from its profile.
    """
    if old.get("kind") != new.get("kind"):
        return None
    if new_counts is not None and (old.get("histogram") or old.get("top") is not None):
        if old.get("histogram"):
            expected = _shares(old["histogram"]["counts"])
        else:
            expected = _shares([t["count"] for t in old["top"]] + [old["other"]])
        actual = _shares(new_counts)
    elif old.get("histogram") and new.get("quantiles"):
        expected = _shares(old["histogram"]["counts"])
        actual = _numeric_shares(old["histogram"]["edges"], new["quantiles"])
    elif old.get("top") is not None and new.get("top") is not None:
        values = [t["value"] for t in old["top"]]
        expected = _shares([t["count"] for t in old["top"]] + [old["other"]])
        new_top = {t["value"]: t["count"] for t in new["top"]}
        present = new["count"] - new["nulls"]
        counted = [new_top.get(v, 0) for v in values]
        actual = _shares([*counted, max(present - sum(counted), 0)])
    else:
        return None
    if not expected or not actual:
        return None
    total = 0.0
    for p, q in zip(expected, actual, strict=True):
        p, q = max(p, PSI_FLOOR), max(q, PSI_FLOOR)
        total += (q - p) * math.log(q / p)
    return total


def _shares(counts: list[int]) -> list[float]:
    total = float(sum(counts))
    return [c / total for c in counts] if total else []


def _numeric_shares(edges: list[float], quantiles: dict[str, Any]) -> list[float]:
    probs, values = quantiles["probs"], quantiles["values"]
    if not values or any(v is None for v in values):
        return []

    def cdf(x: float) -> float:
        if x < values[0]:
            return 0.0
        if x >= values[-1]:
            return 1.0
        for i in range(1, len(values)):
            if x < values[i]:
                lo, hi = values[i - 1], values[i]
                frac = 0.0 if hi == lo else (x - lo) / (hi - lo)
                return float(probs[i - 1] + frac * (probs[i] - probs[i - 1]))
        return 1.0

    inner = [cdf(e) for e in edges[1:-1]]
    cuts = [
        0.0,
        *inner,
        1.0,
    ]  # below the first edge counts in the first bin, above the last in the last
    return [max(cuts[i + 1] - cuts[i], 0.0) for i in range(len(cuts) - 1)]
