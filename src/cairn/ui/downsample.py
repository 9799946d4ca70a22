"""Metric series thinned on the server so a chart gets a few thousand points, not 100,000.

Each of ``buckets`` equal step ranges keeps its lowest and highest point (in step order),
so every spike and dip a full-resolution chart would show survives at any zoom: the line
drawn through the kept points has the same envelope as the line through all of them.
Zooming in asks again for the narrower step range, which then comes back at full
resolution once it holds fewer points than the budget.

Example:
    >>> s = downsample([0, 1, 2, 3, 4, 5], [5.0, 1.0, 9.0, 2.0, 2.0, 3.0], buckets=2)
    >>> s.steps, s.values
    ([1, 2, 3, 5], [1.0, 9.0, 2.0, 3.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Largest bucket count a request may ask for (each bucket keeps up to two points).
MAX_BUCKETS = 5000
DEFAULT_BUCKETS = 1000


@dataclass(frozen=True, slots=True)
class Series:
    """Points of one metric ready for a chart: ``steps`` ascending, ``values`` beside them
    (``None`` for NaN or infinite, which JSON cannot carry), and ``total``: how many points
    the step range held before thinning."""

    steps: list[int]
    values: list[float | None]
    total: int

    @property
    def thinned(self) -> bool:
        return len(self.steps) < self.total


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def downsample(steps: Sequence[int], values: Sequence[float], buckets: int) -> Series:
    """Keep at most ``2 * buckets`` points of a series sorted by step: per bucket of equal
    step width, its minimum and maximum. Non-finite values are kept as gaps (None)."""
    total = len(steps)
    if total <= 2 * buckets:
        return Series(list(steps), [_finite(v) for v in values], total)
    lo, hi = steps[0], steps[-1]
    width = (hi - lo) / buckets or 1.0
    out_steps: list[int] = []
    out_values: list[float | None] = []
    i = 0
    while i < total:
        bucket = min(int((steps[i] - lo) / width), buckets - 1)
        j = i
        low = high = -1
        gap = -1
        while j < total and min(int((steps[j] - lo) / width), buckets - 1) == bucket:
            v = values[j]
            if not math.isfinite(v):
                gap = j if gap < 0 else gap
            else:
                if low < 0 or v < values[low]:
                    low = j
                if high < 0 or v > values[high]:
                    high = j
            j += 1
        kept = sorted({k for k in (low, high, gap) if k >= 0})
        for k in kept:
            out_steps.append(steps[k])
            out_values.append(_finite(values[k]))
        i = j
    return Series(out_steps, out_values, total)
