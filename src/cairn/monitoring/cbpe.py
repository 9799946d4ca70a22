"""Confidence-based performance estimation (CBPE): performance before labels arrive.

On the reference data, where labels are known, an isotonic regression (scikit-learn)
maps the model's confidence (its highest class probability) to the observed chance
that its answer is right. In production, each logged row's confidence goes through that
map; the mean is the expected accuracy. For two classes a second map takes the positive
class's probability to the chance the label is positive, which gives the expected true
positives, false positives and false negatives, hence the expected F1.

The estimate holds under covariate shift (the inputs move, the relation between inputs
and label does not) when the calibrated probabilities stay right for the new inputs; it
cannot see concept drift (the same input now has another label). Sums are all it needs,
so every hourly sketch carries them and windows merge them (see
:mod:`cairn.monitoring.sketch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Fewer labelled reference rows than this give no calibration (too noisy to trust).
MIN_CALIBRATION_ROWS = 100


def fit_calibration(
    probs: np.ndarray, labels: list[str], classes: list[Any]
) -> dict[str, Any] | None:
    """The isotonic maps as ``{"confidence": {"x": [...], "y": [...]}, "positive": ...}``."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    from cairn.monitoring.reference import norm_label

    if probs.ndim != 2 or probs.shape[0] < MIN_CALIBRATION_ROWS or probs.shape[1] != len(classes):
        return None
    names = [norm_label(c) for c in classes]
    truth = np.array(labels, dtype=object)
    known = truth != ""
    probs, truth = probs[known], truth[known]
    if probs.shape[0] < MIN_CALIBRATION_ROWS:
        return None
    picked = np.array(names, dtype=object)[probs.argmax(axis=1)]
    out: dict[str, Any] = {
        "confidence": _fit(IsotonicRegression, probs.max(axis=1), (picked == truth).astype(float)),
        "positive": None,
        "rows": int(probs.shape[0]),
    }
    if len(names) == 2:
        out["positive"] = _fit(IsotonicRegression, probs[:, 1], (truth == names[1]).astype(float))
    return out


def _fit(cls: Any, x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    model = cls(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return {
        "x": [float(v) for v in model.X_thresholds_],
        "y": [float(v) for v in model.y_thresholds_],
    }


def apply(curve: Mapping[str, list[float]], x: np.ndarray) -> np.ndarray:
    """The calibrated values of ``x`` (linear between the isotonic thresholds, clipped,
    as scikit-learn's ``predict`` does)."""
    import numpy as np

    out: np.ndarray = np.interp(x, curve["x"], curve["y"])
    return out


def sums(calibration: Mapping[str, Any], probs: np.ndarray) -> dict[str, float]:
    """The additive pieces of the estimate for the rows ``probs`` (one row per row)."""

    out = {"rows": float(probs.shape[0])}
    if probs.shape[0] == 0:
        return out
    out["correct"] = float(apply(calibration["confidence"], probs.max(axis=1)).sum())
    if calibration.get("positive") is not None and probs.shape[1] == 2:
        p = apply(calibration["positive"], probs[:, 1])
        said_yes = probs[:, 1] > probs[:, 0]
        out["tp"] = float(p[said_yes].sum())
        out["fp"] = float((1 - p[said_yes]).sum())
        out["fn"] = float(p[~said_yes].sum())
    return out


def estimate(total: Mapping[str, float]) -> dict[str, float]:
    """Expected metrics from merged :func:`sums`; empty when there is nothing to say."""
    rows = total.get("rows", 0.0)
    if rows <= 0 or "correct" not in total:
        return {}
    out = {"accuracy": total["correct"] / rows}
    if "tp" in total:
        denominator = 2 * total["tp"] + total["fp"] + total["fn"]
        if denominator > 0:
            out["f1"] = 2 * total["tp"] / denominator
    return out
