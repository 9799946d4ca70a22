"""Comparing two dataset versions from their schemas and profiles (no data is read).

Per column: added, removed or retyped; null rate and mean before and after; and the
Population Stability Index of the new distribution against the old one's bins. For
numbers, the new version's share of each old bin is read off its 101 stored quantiles
(linear interpolation of its CDF), so the PSI is an approximation good to about a
percentile; for categories it is computed over the old top values plus "other".
Common reading of PSI: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cairn.store.datasets import DatasetVersion

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
) -> DatasetDiff:
    """Column-by-column changes between two versions."""
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
                psi=psi(pa_, pb) if pa_ is not None and pb is not None else None,
            )
        )
    return DatasetDiff(old, new, tuple(changes))


def _null_rate(info: dict[str, Any] | None) -> float | None:
    if not info or not info.get("count"):
        return None
    return float(info["nulls"]) / float(info["count"])


def psi(old: dict[str, Any], new: dict[str, Any]) -> float | None:
    """PSI of column profile ``new`` against ``old``; ``None`` if they cannot be compared."""
    if old.get("kind") != new.get("kind"):
        return None
    if old.get("histogram") and new.get("quantiles"):
        expected = _shares(old["histogram"]["counts"])
        actual = _numeric_shares(old["histogram"]["edges"], new["quantiles"])
    elif old.get("top") is not None and new.get("top") is not None:
        values = [t["value"] for t in old["top"]]
        expected = _shares([t["count"] for t in old["top"]] + [old["other"]])
        new_counts = {t["value"]: t["count"] for t in new["top"]}
        present = new["count"] - new["nulls"]
        counted = [new_counts.get(v, 0) for v in values]
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
