"""Drift tests: a window's sketch of one feature against the reference profile.

The test depends on the kind of the feature and the size of the window (``current``
rows), the way a statistician would pick it:

=============  ==============  ===============================  =========================
kind           window rows     test (``FeatureDrift.test``)     drifted when
=============  ==============  ===============================  =========================
numeric        < 1,000         ``ks`` (two-sample KS)           p-value < 0.01
numeric        >= 1,000        ``wasserstein`` (W1 / ref std)   score > 0.1
categorical    < 1,000         ``chi2`` (chi-squared)           p-value < 0.01
categorical    >= 1,000        ``jensen_shannon`` (distance)    score > 0.1
=============  ==============  ===============================  =========================

On large windows a p-value flags any difference, however small, so the size-aware
distances take over there. The p-value bound is 0.01, not the textbook 0.05: a check
compares every feature in every window, and at 0.05 a model with 20 unchanged features
would raise a false flag in most checks. Every result also carries the PSI on the reference bins
(``psi``; above 0.25 reads as a large shift). A constant reference column cannot be
normalized: its score is the share of values that differ from the constant
(``constant``, drifted above 0.1). A feature with no values in the window gets
``score=None`` and a note, never NaN.

``compare(..., test="ks")`` runs one named test whatever the window size (one of
:data:`TESTS`; ``psi`` is drifted above 0.25), for rules that want a fixed statistic
and for measuring each test's detection rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cairn.errors import InvalidInput
from cairn.monitoring.sketch import OTHER, FeatureSketch
from cairn.monitoring.types import FeatureDrift

LARGE = 1_000
#: Below this p-value KS and chi-squared read drift (see the module docstring).
P_VALUE = 0.01
WASSERSTEIN = 0.1
JENSEN_SHANNON = 0.1
CONSTANT = 0.1
PSI = 0.25
PSI_FLOOR = 1e-4
#: Wasserstein holds the quantile functions beyond these tail probabilities.
TAIL = 0.01
#: Every test by name, with its threshold and the kinds it applies to.
TESTS: dict[str, tuple[float, tuple[str, ...]]] = {
    "ks": (P_VALUE, ("numeric",)),
    "wasserstein": (WASSERSTEIN, ("numeric",)),
    "chi2": (P_VALUE, ("categorical",)),
    "jensen_shannon": (JENSEN_SHANNON, ("categorical",)),
    "psi": (PSI, ("numeric", "categorical")),
}


def compare(
    name: str, reference: Mapping[str, Any], sketch: FeatureSketch, test: str | None = None
) -> FeatureDrift:
    """The drift of one feature; never a NaN, whatever the data.

    ``test`` forces one of :data:`TESTS` instead of the size-based pick.
    """
    kind = "numeric" if sketch.kind == "numeric" else "categorical"
    if test is not None and kind not in TESTS.get(test, (0.0, ()))[1]:
        usable = ", ".join(t for t, (_, kinds) in TESTS.items() if kind in kinds)
        raise InvalidInput(
            f"drift test {test!r} does not apply to {kind} feature {name!r}; use one of {usable}"
        )
    ref_rows = int(reference.get("count", 0) or 0) - int(reference.get("nulls", 0) or 0)
    base: dict[str, Any] = {
        "feature": name,
        "kind": kind,
        "reference_rows": max(ref_rows, 0),
        "current_rows": sketch.count,
    }
    ref_counts = _reference_counts(reference, kind)
    if kind == "numeric":
        edges = (reference.get("histogram") or {}).get("edges", ())
        base["edges"] = tuple(float(e) for e in edges)
    else:
        values = [str(t["value"]) for t in reference.get("top") or []]
        base["categories"] = (*values, OTHER)
    base["reference_counts"] = tuple(ref_counts)
    base["current_counts"] = tuple(sketch.bins)
    test, threshold = (test, TESTS[test][0]) if test else _pick(kind, sketch.count)
    if sketch.count == 0:
        note = "no values in the window (all missing or null)"
        return FeatureDrift(test=test, score=None, threshold=threshold, drifted=False,
                            note=note, **base)  # fmt: skip
    if ref_rows <= 0 or not ref_counts or sum(ref_counts) == 0:
        note = "the reference has no values for this feature"
        return FeatureDrift(test=test, score=None, threshold=threshold, drifted=False,
                            note=note, **base)  # fmt: skip
    psi = _psi(ref_counts, sketch.bins)
    base["psi"] = psi
    if kind == "numeric" and (reference.get("min") == reference.get("max")):
        share = (sketch.below + sketch.above) / sketch.count
        note = "the reference is constant: share of other values"
        return FeatureDrift(test="constant", score=share, threshold=CONSTANT,
                            drifted=share > CONSTANT, note=note, **base)  # fmt: skip
    if test == "psi":
        return _result(base, test, psi, threshold, None)
    if test == "wasserstein":
        score = _wasserstein(reference, sketch)
        return _result(base, test, score, threshold, None)
    if test == "ks":
        stat, p = _ks(reference, sketch)
        return _result(base, test, stat, threshold, p)
    if test == "jensen_shannon":
        return _result(base, test, _jensen_shannon(ref_counts, sketch.bins), threshold, None)
    stat, p = _chi2(ref_counts, sketch.bins)
    return _result(base, test, stat, threshold, p)


def _pick(kind: str, rows: int) -> tuple[str, float]:
    if kind == "numeric":
        return ("ks", P_VALUE) if rows < LARGE else ("wasserstein", WASSERSTEIN)
    return ("chi2", P_VALUE) if rows < LARGE else ("jensen_shannon", JENSEN_SHANNON)


def _result(
    base: dict[str, Any], test: str, score: float | None, threshold: float, p: float | None
) -> FeatureDrift:
    score = _finite(score)
    p = _finite(p)
    drifted = p < threshold if p is not None else (score is not None and score > threshold)
    note = "" if score is not None else "the statistic is undefined for these values"
    return FeatureDrift(test=test, score=score, threshold=threshold, drifted=drifted,
                        p_value=p, note=note, **base)  # fmt: skip


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _reference_counts(reference: Mapping[str, Any], kind: str) -> list[int]:
    if kind == "numeric":
        return [int(c) for c in (reference.get("histogram") or {}).get("counts", [])]
    top = reference.get("top") or []
    return [int(t["count"]) for t in top] + [int(reference.get("other", 0) or 0)]


def _shares(counts: Sequence[int]) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return arr / total if total > 0 else arr


def _psi(expected: Sequence[int], actual: Sequence[int]) -> float | None:
    if len(expected) != len(actual) or sum(actual) == 0:
        return None
    p = np.maximum(_shares(expected), PSI_FLOOR)
    q = np.maximum(_shares(actual), PSI_FLOOR)
    return float(((q - p) * np.log(q / p)).sum())


def _jensen_shannon(expected: Sequence[int], actual: Sequence[int]) -> float | None:
    if len(expected) != len(actual):
        return None
    p, q = _shares(expected), _shares(actual)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / b[mask])).sum())

    return math.sqrt(max((kl(p, m) + kl(q, m)) / 2, 0.0))


def _chi2(expected: Sequence[int], actual: Sequence[int]) -> tuple[float | None, float | None]:
    from scipy.stats import chi2_contingency

    table = np.array([expected, actual], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]  # categories neither side has say nothing
    if table.shape[1] < 2:
        return 0.0, 1.0
    stat, p, _, _ = chi2_contingency(table)
    return float(stat), float(p)


def _reference_cdf(reference: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    quantiles = reference.get("quantiles") or {}
    values, probs = quantiles.get("values"), quantiles.get("probs")
    if not values or any(v is None for v in values):
        return None
    return np.asarray(values, dtype=np.float64), np.asarray(probs, dtype=np.float64)


def _ks(reference: Mapping[str, Any], sketch: FeatureSketch) -> tuple[float | None, float | None]:
    """KS distance between the reference's CDF and the window's KLL CDF, and its
    asymptotic p-value with the effective sample size ``n*m/(n+m)``.

    Both CDFs are read as ``P(X <= x)`` at the reference's quantile values, where the
    reference's is known: at a value several quantiles share (integers, repeated
    values) it is the highest of their probabilities. Interpolating between quantiles,
    or comparing ``P(X <= x)`` with ``P(X < x)``, would make discrete columns look
    drifted when they are not.
    """
    from scipy.stats import kstwobign

    ref = _reference_cdf(reference)
    if ref is None:
        return None, None
    values, probs = ref
    points = np.unique(values)
    ref_cdf = probs[np.searchsorted(values, points, side="right") - 1]
    cur_cdf = np.asarray(sketch.sketch.get_cdf(list(points), True))[:-1]
    d = float(np.max(np.abs(ref_cdf - cur_cdf)))
    n = int(reference.get("count", 0)) - int(reference.get("nulls", 0))
    m = sketch.count
    effective = n * m / (n + m)
    return d, float(kstwobign.sf(d * math.sqrt(effective)))


def _wasserstein(reference: Mapping[str, Any], sketch: FeatureSketch) -> float | None:
    """W1 between the two quantile functions, divided by the reference's standard
    deviation (so 0.1 means a tenth of a standard deviation).

    The quantile functions are compared from the 1st to the 99th percentile and held
    at those beyond (a winsorized W1): the 0th and 100th are a sample's minimum and
    maximum, which on a heavy tail differ between two samples of the same data by many
    standard deviations and, weighted by the trapezoid, read as drift that is not there.
    """
    ref = _reference_cdf(reference)
    std = reference.get("std")
    if ref is None or not std:
        return None
    values, probs = ref
    inner = (probs >= TAIL - 1e-12) & (probs <= 1 - TAIL + 1e-12)
    if inner.sum() < 2:
        inner = np.ones_like(probs, dtype=bool)
    values, probs = values[inner], probs[inner]
    current = np.asarray(sketch.sketch.get_quantiles(list(probs)), dtype=np.float64)
    gap = np.abs(values - current)
    tails = probs[0] * gap[0] + (1 - probs[-1]) * gap[-1]
    return float((np.trapezoid(gap, probs) + tails) / float(std))
