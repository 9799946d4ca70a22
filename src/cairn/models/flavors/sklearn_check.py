"""Check the tree structures inside a loaded scikit-learn model before anything uses them.

skops rebuilds a model without running code from the file, but scikit-learn's compiled
tree code trusts the arrays it is given: a child index past the end of the node array
reads (or writes) outside it and kills the process, a child that points back at an
ancestor loops forever. A file that is damaged or crafted must therefore be refused
before any predict, with the model file and the bad field named.

:func:`check_model` walks every object reachable from the estimator (attributes,
lists, tuples, dicts, object arrays: ``estimators_`` of forests and boosting,
``steps`` of Pipelines, ``_predictors`` of HistGradientBoosting) and checks:

``sklearn.tree._tree.Tree`` (decision trees, random forests, extra trees, gradient
boosting, isolation forests, bagging of trees):

- ``node_count`` equals the length of the node array (``capacity``) and is at least 1;
- ``n_outputs`` >= 1, ``n_classes`` has ``n_outputs`` entries, each in
  [1, ``max_n_classes``], and ``max_n_classes`` is their maximum;
- ``values`` has the shape (node_count, n_outputs, max_n_classes);
- ``left_child``/``right_child`` are both -1 (a leaf) or both in
  (parent index, node_count): scikit-learn numbers children after their parent, which
  also rules out cycles; and every node but the root has exactly one parent;
- ``feature`` of a split node is in [0, n_features), and ``n_features`` equals the
  number of columns the owning estimator (or ensemble) feeds the tree;
- ``threshold`` of a split node is not NaN and not -inf (+inf is what scikit-learn
  writes for a split that separates only missing values);
- ``max_depth`` is at least the depth of the deepest node (``decision_path`` sizes its
  buffer with it).

``TreePredictor`` (HistGradientBoosting):

- ``nodes`` is a non-empty 1-D array of scikit-learn's predictor record type;
- ``left``/``right`` of a split node are in (node index, number of nodes), and every
  node but the root has exactly one parent;
- ``feature_idx`` of a split node is in [0, n_features_in_);
- ``num_threshold`` of a numeric split node is not NaN and not -inf;
- a categorical split node uses a categorical feature and a ``bitset_idx`` within the
  rows of ``raw_left_cat_bitsets`` (whose rows are 8 ``uint32`` words, like
  ``binned_left_cat_bitsets``), and known categories are in [0, 255].

Ensembles: every tree member of ``estimators_`` takes the ensemble's
``n_features_in_`` columns (or, with ``estimators_features_``, its own subset, whose
indices must be in range); gradient boosting's ``estimators_`` is a 2-D array with
``n_trees_per_iteration_`` columns of single-output regression trees.

Everything here is vectorised with numpy: a forest of a few hundred trees of thousands
of nodes is checked in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from cairn.errors import InvalidInput

TREE_LEAF = -1
BITSET_WORDS = 8  # 8 x uint32 = 256 categories, scikit-learn's bitset width


class _Refused(Exception):
    """One bad field: ``where`` is the attribute path, ``problem`` what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def check_model(model: Any, file_name: str) -> None:
    """Raise ``InvalidInput`` naming ``file_name`` and the bad field if any tree
    structure reachable from ``model`` is inconsistent (see the module docstring)."""
    try:
        _walk(model, type(model).__name__)
    except _Refused as bad:
        raise InvalidInput(
            f"refusing to load {file_name}: {bad.where} {bad.problem}; the file is damaged "
            "or was crafted: save the model again from its training code"
        ) from None


def _walk(root: Any, root_path: str) -> None:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, root_path)]
    while stack:
        obj, path = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            check_tree(obj, path)
            continue
        if isinstance(obj, TreePredictor):
            check_predictor(obj, path, n_features=None, categorical=None)
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                for index, item in np.ndenumerate(obj):
                    stack.append((item, f"{path}[{', '.join(map(str, index))}]"))
            continue
        if isinstance(obj, dict):
            stack.extend((value, f"{path}[{key!r}]") for key, value in obj.items())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(obj))
            continue
        state = getattr(obj, "__dict__", None)
        if not isinstance(state, dict):
            continue
        _check_estimator(obj, path)
        stack.extend((value, f"{path}.{name}") for name, value in state.items())


def _check_estimator(est: Any, path: str) -> None:
    """The checks that need the estimator around a tree: how many columns it feeds it."""
    from sklearn.tree._tree import Tree

    width = getattr(est, "n_features_in_", None)
    tree = getattr(est, "tree_", None)
    if isinstance(tree, Tree) and isinstance(width, int):
        _expect_width(tree, width, f"{path}.tree_")
    members = getattr(est, "estimators_", None)
    if isinstance(width, int) and members is not None:
        _check_members(est, members, width, path)
    if isinstance(width, int) and hasattr(est, "_predictors"):
        _check_hist_boosting(est, width, path)


def _expect_width(tree: Any, width: int, where: str) -> None:
    if tree.n_features != width:
        raise _Refused(
            f"{where}.n_features",
            f"is {tree.n_features} but the estimator feeds it {width} columns",
        )


def _members(members: Any) -> Iterator[tuple[int, str, Any]]:
    """(position, label, member) for a list or an object array of members."""
    if isinstance(members, np.ndarray) and members.dtype == object:
        for position, (index, item) in enumerate(np.ndenumerate(members)):
            yield position, ", ".join(map(str, index)), item
    elif isinstance(members, (list, tuple)):
        for i, item in enumerate(members):
            yield i, str(i), item


def _check_members(est: Any, members: Any, width: int, path: str) -> None:
    from sklearn.tree._tree import Tree

    subsets = getattr(est, "estimators_features_", None)
    if hasattr(est, "n_trees_per_iteration_") and isinstance(members, np.ndarray):
        # Gradient boosting writes stage k's prediction into column k of its output.
        k = est.n_trees_per_iteration_
        if members.ndim != 2 or members.shape[1] != k:
            raise _Refused(
                f"{path}.estimators_",
                f"has shape {members.shape}; expected (n_stages, {k}) for "
                f"n_trees_per_iteration_={k}",
            )
        for _, label, member in _members(members):
            tree = getattr(member, "tree_", None)
            if isinstance(tree, Tree) and (tree.n_outputs != 1 or tree.max_n_classes != 1):
                raise _Refused(
                    f"{path}.estimators_[{label}].tree_",
                    "is not a single-output regression tree, which gradient boosting needs",
                )
    for position, label, member in _members(members):
        tree = getattr(member, "tree_", None)
        if not isinstance(tree, Tree):
            continue
        expected = width
        if subsets is not None:
            expected = _subset_width(subsets, position, width, path)
        where = f"{path}.estimators_[{label}]"
        own = getattr(member, "n_features_in_", None)
        if own is not None and own != expected:
            raise _Refused(
                f"{where}.n_features_in_", f"is {own} but the ensemble feeds it {expected} columns"
            )
        _expect_width(tree, expected, f"{where}.tree_")


def _subset_width(subsets: Any, index: int, width: int, path: str) -> int:
    where = f"{path}.estimators_features_[{index}]"
    try:
        subset = np.asarray(subsets[index])
    except (IndexError, TypeError):
        raise _Refused(where, "is missing") from None
    if subset.dtype.kind not in "iu" or subset.ndim != 1:
        raise _Refused(where, f"is not a 1-D integer array (dtype {subset.dtype})")
    if subset.size and (subset.min() < 0 or subset.max() >= width):
        raise _Refused(where, f"has a column index outside [0, {width})")
    return int(subset.size)


def check_tree(tree: Any, where: str) -> None:
    """Check one ``sklearn.tree._tree.Tree`` on its own (see the module docstring)."""
    count = int(tree.node_count)
    # node_count sizes every array view of the tree: check it before reading any.
    if count < 1 or count != int(tree.capacity):
        raise _Refused(
            f"{where}.node_count", f"is {count} but the node array holds {tree.capacity} nodes"
        )
    n_outputs = int(tree.n_outputs)
    n_classes = np.asarray(tree.n_classes)
    if n_outputs < 1 or n_classes.shape != (n_outputs,):
        raise _Refused(
            f"{where}.n_classes", f"has {n_classes.size} entries for {n_outputs} outputs"
        )
    if n_classes.min() < 1 or int(n_classes.max()) != int(tree.max_n_classes):
        raise _Refused(f"{where}.n_classes", f"{n_classes.tolist()} is out of range")
    values = tree.value
    expected = (count, n_outputs, int(tree.max_n_classes))
    if values.shape != expected:
        raise _Refused(f"{where}.values", f"has shape {values.shape}, expected {expected}")
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    split = _check_children(
        left,
        right,
        left == TREE_LEAF,
        right == TREE_LEAF,
        f"{where}.",
        ("left_child", "right_child"),
    )
    feature = np.asarray(tree.feature, dtype=np.int64)[split]
    bad = (feature < 0) | (feature >= tree.n_features)
    if bad.any():
        node = int(np.flatnonzero(split)[bad.argmax()])
        raise _Refused(
            f"{where}.feature",
            f"of node {node} is {feature[bad.argmax()]}, outside [0, {tree.n_features})",
        )
    _check_thresholds(np.asarray(tree.threshold)[split], split, f"{where}.threshold")
    depth = _depth(left, right, split)
    if depth > int(tree.max_depth):
        raise _Refused(
            f"{where}.max_depth", f"is {tree.max_depth} but the tree is {depth} levels deep"
        )


def _check_children(
    left: np.ndarray,
    right: np.ndarray,
    left_leaf: np.ndarray,
    right_leaf: np.ndarray,
    prefix: str,
    names: tuple[str, str],
) -> np.ndarray:
    """The split-node mask, after checking the children links form a tree.

    ``prefix`` and ``names`` spell the fields in errors (``...tree_.left_child``).
    """
    count = left.size
    both = f"{prefix}{names[0]}/{names[1]}"
    half = left_leaf != right_leaf
    if half.any():
        node = int(half.argmax())
        raise _Refused(
            both,
            f"of node {node} are {left[node]} and {right[node]}: one is a leaf, one is not",
        )
    split = ~left_leaf
    index = np.arange(count)
    for name, child in zip(names, (left, right), strict=True):
        bad = split & ((child <= index) | (child >= count))
        if bad.any():
            node = int(bad.argmax())
            raise _Refused(
                f"{prefix}{name}",
                f"of node {node} is {child[node]}; a child must come after its parent and "
                f"be below the node count {count}",
            )
    parents = np.bincount(np.concatenate([left[split], right[split]]), minlength=count)
    parents[0] += 1  # the root has no parent; count it as having one
    if (parents != 1).any():
        node = int((parents != 1).argmax())
        raise _Refused(
            both,
            f"give node {node} {parents[node] - (node == 0)} parents; each node but the root "
            "has exactly one",
        )
    return split


def _check_thresholds(values: np.ndarray, split: np.ndarray, where: str) -> None:
    bad = np.isnan(values) | (values == -np.inf)
    if bad.any():
        node = int(np.flatnonzero(split)[bad.argmax()])
        raise _Refused(where, f"of split node {node} is {values[bad.argmax()]}")


def _depth(left: np.ndarray, right: np.ndarray, split: np.ndarray) -> int:
    """The depth of the deepest node, level by level (children are checked already)."""
    level = np.array([0])
    depth = 0
    while True:
        level = level[split[level]]
        if level.size == 0:
            return depth
        level = np.concatenate([left[level], right[level]])
        depth += 1


def check_predictor(
    predictor: Any, where: str, n_features: int | None, categorical: np.ndarray | None
) -> None:
    """Check one HistGradientBoosting ``TreePredictor`` (see the module docstring).

    ``n_features`` and ``categorical`` (which columns are categorical) come from the
    estimator that owns the predictor; None when it is met on its own.
    """
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise _Refused(f"{where}.nodes", "is not an array of scikit-learn predictor records")
    if nodes.ndim != 1 or nodes.size == 0:
        raise _Refused(f"{where}.nodes", f"has shape {nodes.shape}; expected a non-empty list")
    leaf = nodes["is_leaf"] != 0
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    split = _check_children(left, right, leaf, leaf, f"{where}.nodes.", ("left", "right"))
    feature = nodes["feature_idx"].astype(np.int64)[split]
    if n_features is not None:
        bad = (feature < 0) | (feature >= n_features)
        if bad.any():
            node = int(np.flatnonzero(split)[bad.argmax()])
            raise _Refused(
                f"{where}.nodes.feature_idx",
                f"of node {node} is {feature[bad.argmax()]}, outside [0, {n_features})",
            )
    is_cat = (nodes["is_categorical"] != 0) & split
    numeric = split & ~is_cat
    _check_thresholds(nodes["num_threshold"][numeric], numeric, f"{where}.nodes.num_threshold")
    rows = []
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        bits = getattr(predictor, name, None)
        if (
            not isinstance(bits, np.ndarray)
            or bits.dtype != np.uint32
            or bits.ndim != 2
            or bits.shape[1] != BITSET_WORDS
        ):
            raise _Refused(f"{where}.{name}", f"must be a uint32 array of {BITSET_WORDS} columns")
        rows.append(bits.shape[0])
    if not is_cat.any():
        return
    bitset = nodes["bitset_idx"].astype(np.int64)[is_cat]
    bad = bitset >= min(rows)
    if bad.any():
        node = int(np.flatnonzero(is_cat)[bad.argmax()])
        raise _Refused(
            f"{where}.nodes.bitset_idx",
            f"of node {node} is {bitset[bad.argmax()]}, past the {min(rows)} category bitsets",
        )
    if categorical is None:  # a predictor met outside its estimator: columns unknown here
        return
    cat_features = nodes["feature_idx"][is_cat]
    if not bool(np.all(categorical[cat_features])):
        raise _Refused(
            f"{where}.nodes.is_categorical", "marks a split on a feature that is not categorical"
        )


def _check_hist_boosting(est: Any, width: int, path: str) -> None:
    """HistGradientBoosting: predictors against the estimator's columns and categories."""
    mapper = getattr(est, "_bin_mapper", None)
    categorical = getattr(mapper, "is_categorical_", None)
    if categorical is None:
        categorical = np.zeros(width, dtype=bool)
    else:
        categorical = np.asarray(categorical).astype(bool)
        if categorical.shape != (width,):
            raise _Refused(
                f"{path}._bin_mapper.is_categorical_",
                f"has shape {categorical.shape}; expected ({width},)",
            )
        known = getattr(mapper, "bin_thresholds_", None)
        for f in np.flatnonzero(categorical):
            cats = np.asarray(known[f]) if known is not None and f < len(known) else None
            if cats is None or (cats.size and (cats.min() < 0 or cats.max() > 255)):
                raise _Refused(
                    f"{path}._bin_mapper.bin_thresholds_[{f}]",
                    "must list the known categories of a categorical feature, in [0, 255]",
                )
    for i, stage in enumerate(est._predictors):
        for k, predictor in enumerate(stage):
            check_predictor(predictor, f"{path}._predictors[{i}][{k}]", width, categorical)
