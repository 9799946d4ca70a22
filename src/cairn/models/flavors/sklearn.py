"""scikit-learn estimators and Pipelines, saved with skops: loading runs no pickle code.

skops rebuilds objects from a schema and refuses types it does not know to be safe.
Some scikit-learn internals (the tree structures of forests and boosting, the KD-tree
of nearest neighbours) are not on skops' default list; :data:`SAFE_TYPES` adds those,
which are scikit-learn's own array-backed structures. Any other unknown type, such as a
custom transformer class, is refused with its name unless the caller passes
``trust=True``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.models.manifest import model_file

NAME = "sklearn"
PACKAGES = ("scikit-learn", "skops", "numpy", "scipy", "pandas")
FILE = "model.skops"

#: scikit-learn internals that skops does not trust by default, reviewed as plain data.
SAFE_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance32",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
    }
)


def matches(model: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def save(model: Any, directory: Path) -> dict[str, Any]:
    import skops.io

    skops.io.dump(model, directory / FILE)
    return {"file": FILE, "estimator": f"{type(model).__module__}.{type(model).__qualname__}"}


def untrusted_types(path: Path) -> list[str]:
    """Types in a skops file that are neither trusted by skops nor in SAFE_TYPES."""
    import skops.io

    return sorted(t for t in skops.io.get_untrusted_types(file=path) if t not in SAFE_TYPES)


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    import skops.io

    path = model_file(directory, options.get("file", FILE))
    unknown = untrusted_types(path)
    if unknown and not trust:
        raise InvalidInput(
            f"refusing to load {path.name}: it contains types not known to be safe: "
            f"{', '.join(unknown)}; load with trust=True (--trust) only if you trust its source"
        )
    trusted = sorted(SAFE_TYPES | set(unknown))
    return skops.io.load(path, trusted=trusted)
