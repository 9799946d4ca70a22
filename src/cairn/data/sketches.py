"""Mergeable, memory-bounded summaries of a column, fed one batch at a time.

Each summary's memory is fixed by a constant, not by the number of rows:

- :class:`Moments`: count, mean and variance merged batch by batch with Chan et al.'s
  parallel form of Welford's update (numerically stable; exact up to float rounding).
- :class:`Reservoir`: a uniform random sample of at most ``size`` values (Algorithm R,
  vectorized per batch, seeded so the same data gives the same profile). Quantiles read
  from it are exact while the column has at most ``size`` values; beyond that a
  quantile's rank error has a standard deviation of at most ``0.5 / sqrt(size)``
  (0.2% of the rows for the default 65,536).
- :class:`DistinctCounter`: exact distinct count (a sorted set of 64-bit hashes) up to
  ``exact_cap`` values, then a HyperLogLog estimate with 2**14 registers (standard error
  1.04 / sqrt(16384) = 0.8%).
- :class:`TopCounter`: exact value frequencies up to ``capacity`` distinct values; past
  that a Misra-Gries summary that keeps the heavy hitters, each count an underestimate by
  at most ``error`` (reported).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RESERVOIR_SIZE = 65_536
DISTINCT_EXACT_CAP = 100_000
HLL_PRECISION = 14
TOP_CAPACITY = 10_000
TOP_KEEP = 1_000


class Moments:
    """Streaming count, mean, standard deviation, min and max of finite numbers."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(self, values: np.ndarray) -> None:
        n_b = int(values.size)
        if n_b == 0:
            return
        mean_b = float(values.mean())
        m2_b = float(((values - mean_b) ** 2).sum())
        total = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.n = total
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1), ``None`` below two values."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None


class Reservoir:
    """A seeded uniform sample of at most ``size`` float values."""

    def __init__(self, size: int = RESERVOIR_SIZE, seed: int = 0) -> None:
        self.size = size
        self.values = np.empty(size, dtype=np.float64)
        self.filled = 0
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        room = self.size - self.filled
        head = values[:room]
        self.values[self.filled : self.filled + head.size] = head
        self.filled += head.size
        self.seen += head.size
        rest = values[head.size :]
        if rest.size == 0:
            return
        # Algorithm R: the item with 1-based position t replaces slot j ~ U[0, t) if j < size.
        positions = np.arange(self.seen + 1, self.seen + rest.size + 1, dtype=np.float64)
        slots = (self._rng.random(rest.size) * positions).astype(np.int64)
        keep = slots < self.size
        slots, chosen = slots[keep], rest[keep]
        if slots.size:
            # Sequential semantics: of several items drawing one slot, the last one wins.
            _, last_rev = np.unique(slots[::-1], return_index=True)
            last = slots.size - 1 - last_rev
            self.values[slots[last]] = chosen[last]
        self.seen += rest.size

    def sample(self) -> np.ndarray:
        return self.values[: self.filled]

    @property
    def exact(self) -> bool:
        return self.seen <= self.size


class DistinctCounter:
    """Distinct values from 64-bit hashes: exact to ``exact_cap``, then HyperLogLog."""

    def __init__(self, exact_cap: int = DISTINCT_EXACT_CAP, precision: int = HLL_PRECISION) -> None:
        self.exact_cap = exact_cap
        self.p = precision
        self.registers = np.zeros(1 << precision, dtype=np.uint8)
        self._exact: np.ndarray | None = np.empty(0, dtype=np.uint64)

    def update(self, hashes: np.ndarray) -> None:
        hashes = np.asarray(hashes, dtype=np.uint64)
        if hashes.size == 0:
            return
        p = np.uint64(self.p)
        index = (hashes >> np.uint64(64 - self.p)).astype(np.intp)
        # The remaining 64 - p bits, left-aligned, with a guard bit so the rank is bounded.
        rest = (hashes << p) | (np.uint64(1) << (p - np.uint64(1)))
        _, exponent = np.frexp(rest.astype(np.float64))
        rank = np.clip(64 - exponent + 1, 1, 64 - self.p + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)
        if self._exact is not None:
            # Sort-based set union: numpy's hash-based unique is slow on random 64-bit keys.
            merged = np.concatenate([self._exact, hashes])
            merged.sort()
            merged = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
            self._exact = merged if merged.size <= self.exact_cap else None

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def count(self) -> int:
        if self._exact is not None:
            return int(self._exact.size)
        m = float(self.registers.size)
        alpha = 0.7213 / (1 + 1.079 / m)
        estimate = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)  # linear counting for small ranges
        return round(estimate)


class TopCounter:
    """Value frequencies: exact while few distinct values, Misra-Gries heavy hitters after."""

    def __init__(self, capacity: int = TOP_CAPACITY, keep: int = TOP_KEEP) -> None:
        self.capacity = capacity
        self.keep = keep
        self.counts: dict[Any, int] = {}
        self.error = 0  # each reported count may be low by at most this much

    def update(self, values: list[Any], counts: list[int]) -> None:
        table = self.counts
        for value, count in zip(values, counts, strict=True):
            table[value] = table.get(value, 0) + int(count)
        if len(table) > self.capacity:
            # Merge step of a Misra-Gries summary: subtract the (keep+1)-th largest count.
            ordered = sorted(table.values(), reverse=True)
            cut = ordered[self.keep]
            self.error += cut
            self.counts = {v: c - cut for v, c in table.items() if c > cut}

    @property
    def exact(self) -> bool:
        return self.error == 0

    def top(self, n: int) -> list[tuple[Any, int]]:
        return sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))[:n]
