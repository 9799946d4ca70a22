"""scikit-learn estimators and Pipelines, saved with skops: loading runs no pickle code.

skops rebuilds objects from a schema and refuses types it does not know to be safe.
Some scikit-learn internals (the tree structures of forests and boosting, the KD-tree
of nearest neighbours) are not on skops' default list; :data:`SAFE_TYPES` adds those,
which are scikit-learn's own array-backed structures. Any other unknown type, such as a
custom transformer class, is refused with its name unless the caller passes
``trust=True``.

Those array-backed structures are read by compiled code that does not check indices, so
every tree in a loaded model is validated (:mod:`.sklearn_check`) before the model is
returned: a damaged or crafted file is refused with the bad field named instead of
crashing or hanging the process that predicts with it.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, InvalidInput
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

    _require_skops_archive(path)
    try:
        found = skops.io.get_untrusted_types(file=path)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise _not_skops(path, f"its schema cannot be read ({exc})") from None
    return sorted(t for t in found if t not in SAFE_TYPES)


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    import skops.io

    from cairn.models.flavors.sklearn_check import check_model

    path = model_file(directory, options.get("file", FILE))
    unknown = untrusted_types(path)
    if unknown and not trust:
        raise InvalidInput(
            f"refusing to load {path.name}: it contains types not known to be safe: "
            f"{', '.join(unknown)}; load with trust=True (--trust) only if you trust its source"
        )
    trusted = sorted(SAFE_TYPES | set(unknown))
    try:
        model = skops.io.load(path, trusted=trusted)
    except CairnError:
        raise
    except Exception as exc:  # scikit-learn's own state checks (shapes, dtypes) land here
        raise InvalidInput(
            f"refusing to load {path.name}: its content does not rebuild a valid model "
            f"({type(exc).__name__}: {exc}); save the model again from its training code"
        ) from None
    check_model(model, path.name)
    return model


def _require_skops_archive(path: Path) -> None:
    """A skops file is a zip archive; anything else (a pickle renamed, say) is named."""
    if not path.is_file():
        raise InvalidInput(f"model file {path.name} is missing from {path.parent}")
    if zipfile.is_zipfile(path):
        return
    with path.open("rb") as handle:
        head = handle.read(2)
    pickled = len(head) == 2 and head[0] == 0x80 and head[1] <= 5  # pickle protocol 2-5
    raise _not_skops(path, "it looks like a pickle" if pickled else "it is not a zip archive")


def _not_skops(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"{path.name} is not a skops file: {why}. A pickled model needs the `function` "
        "flavor (save_model(..., flavor='function')) and loading it with trust=True "
        "(--trust), only if you trust its source"
    )
