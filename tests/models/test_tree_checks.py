"""Crafted skops files whose tree arrays would crash or hang scikit-learn's compiled code
are refused at load, naming the file and the field, before anything predicts with them;
every real fitted tree model still loads and predicts as before."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skops_craft import Archive, craft, fresh_id

from cairn.errors import InvalidInput
from cairn.models import load, save_model

REPO = Path(__file__).resolve().parents[2]


def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def _fit(kind: str) -> Any:
    from sklearn import ensemble, tree

    X, y = _iris()
    models: dict[str, Callable[[], Any]] = {
        "tree-classifier": lambda: tree.DecisionTreeClassifier(max_depth=3),
        "tree-regressor": lambda: tree.DecisionTreeRegressor(max_depth=3),
        "random-forest": lambda: ensemble.RandomForestClassifier(n_estimators=3, max_depth=3),
        "extra-trees": lambda: ensemble.ExtraTreesRegressor(n_estimators=3, max_depth=3),
        "gradient-boosting": lambda: ensemble.GradientBoostingClassifier(n_estimators=3),
        "hist-gradient-boosting": lambda: ensemble.HistGradientBoostingClassifier(max_iter=3),
    }
    return models[kind]().fit(X, y)


def _saved(tmp_path: Path, kind: str) -> Path:
    X, _ = _iris()
    directory = tmp_path / kind
    save_model(_fit(kind), directory, input_example=X[:5])
    return directory


# -- attacks on sklearn.tree._tree.Tree (every tree of trees, forests, boosting) ---------


def _first_split(nodes: np.ndarray) -> int:
    return int(np.flatnonzero(nodes["left_child"] != -1)[0])


def _child_out_of_range(a: Archive) -> None:
    tree = a.nodes_of("Tree")[-1]
    nodes = a.array(tree, "nodes")
    nodes["left_child"][_first_split(nodes)] = 10_000_000


def _child_cycle(a: Archive) -> None:  # a child pointing back at the root: infinite loop
    tree = a.nodes_of("Tree")[-1]
    nodes = a.array(tree, "nodes")
    split = np.flatnonzero(nodes["left_child"] != -1)
    nodes["right_child"][split[-1]] = 0


def _feature_out_of_range(a: Archive) -> None:
    tree = a.nodes_of("Tree")[-1]
    nodes = a.array(tree, "nodes")
    nodes["feature"][_first_split(nodes)] = 5000


def _nan_threshold(a: Archive) -> None:
    tree = a.nodes_of("Tree")[-1]
    nodes = a.array(tree, "nodes")
    nodes["threshold"][_first_split(nodes)] = np.nan


def _node_count_mismatch(a: Archive) -> None:
    # scikit-learn clamps a node_count above the node array's length, not one below it.
    tree = a.nodes_of("Tree")[-1]
    a.set_json(tree, "node_count", 1)


def _half_leaf(a: Archive) -> None:
    tree = a.nodes_of("Tree")[-1]
    nodes = a.array(tree, "nodes")
    nodes["left_child"][_first_split(nodes)] = -1


def _max_depth_too_small(a: Archive) -> None:  # decision_path sizes a buffer with it
    tree = a.nodes_of("Tree")[-1]
    a.set_json(tree, "max_depth", 0)


def _wider_tree(a: Archive) -> None:
    """n_features raised to match an out-of-range feature: the tree alone looks fine."""
    tree = a.nodes_of("Tree")[-1]
    n_features = tree["__reduce__"]["args"]["content"][0]
    n_features.update(content="5001", __id__=fresh_id())
    nodes = a.array(tree, "nodes")
    nodes["feature"][_first_split(nodes)] = 5000


TREE_ATTACKS = {
    "child-out-of-range": (_child_out_of_range, r"left_child of node \d+ is 10000000"),
    "child-cycle": (_child_cycle, r"right_child of node \d+ is 0; a child must come after"),
    "feature-out-of-range": (_feature_out_of_range, r"\.feature of node \d+ is 5000"),
    "nan-threshold": (_nan_threshold, r"\.threshold of split node \d+ is nan"),
    "node-count": (_node_count_mismatch, r"\.node_count is 1 but the node array holds"),
    "half-leaf": (_half_leaf, r"one is a leaf, one is not"),
    "max-depth": (_max_depth_too_small, r"\.max_depth is 0 but the tree is \d+ levels deep"),
    "wider-tree": (_wider_tree, r"\.n_features is 5001 but the estimator feeds it 4 columns"),
}
TREE_MODELS = ["tree-classifier", "tree-regressor", "random-forest", "extra-trees"]


@pytest.mark.parametrize("attack", sorted(TREE_ATTACKS))
@pytest.mark.parametrize("kind", [*TREE_MODELS, "gradient-boosting"])
def test_crafted_tree_arrays_are_refused_naming_file_and_field(
    tmp_path: Path, kind: str, attack: str
) -> None:
    edit, field = TREE_ATTACKS[attack]
    directory = _saved(tmp_path, kind)
    craft(directory, edit)
    with pytest.raises(InvalidInput, match=r"refusing to load model\.skops: ") as caught:
        load(str(directory))
    message = str(caught.value)
    assert "tree_" in message, message  # the attribute path names the tree
    assert re.search(field, message), message


def test_wrong_value_shape_is_refused_naming_the_file(tmp_path: Path) -> None:
    directory = _saved(tmp_path, "random-forest")

    def edit(a: Archive) -> None:
        tree = a.nodes_of("Tree")[0]
        values = a.array(tree, "values")
        a.set_array(tree, "values", np.ascontiguousarray(values[:, :, :2]))

    craft(directory, edit)
    with pytest.raises(InvalidInput, match=r"refusing to load model\.skops: .*value array"):
        load(str(directory))


def test_gradient_boosting_stage_columns_must_match_the_classes(tmp_path: Path) -> None:
    """Each column of estimators_ writes into one output column: an extra one writes
    past the end of the output buffer."""
    directory = _saved(tmp_path, "gradient-boosting")

    def edit(a: Archive) -> None:
        count = a.schema["content"]["content"]["n_trees_per_iteration_"]
        count.update(content="1", __id__=fresh_id())

    craft(directory, edit)
    with pytest.raises(
        InvalidInput, match=r"estimators_ has shape \(3, 3\); expected \(n_stages, 1\)"
    ):
        load(str(directory))


# -- attacks on HistGradientBoosting's TreePredictor ------------------------------------


def _hgb_nodes(a: Archive) -> tuple[np.ndarray, int]:
    predictor = a.nodes_of("TreePredictor")[-1]
    nodes = a.array(predictor, "nodes")
    return nodes, int(np.flatnonzero(nodes["is_leaf"] == 0)[0])


def _hgb_child(a: Archive) -> None:
    nodes, split = _hgb_nodes(a)
    nodes["right"][split] = 4_000_000


def _hgb_cycle(a: Archive) -> None:
    nodes, _ = _hgb_nodes(a)
    split = np.flatnonzero(nodes["is_leaf"] == 0)
    nodes["left"][split[-1]] = split[0]


def _hgb_feature(a: Archive) -> None:
    nodes, split = _hgb_nodes(a)
    nodes["feature_idx"][split] = 100_000


def _hgb_threshold(a: Archive) -> None:
    nodes, split = _hgb_nodes(a)
    nodes["num_threshold"][split] = np.nan


def _hgb_bitset(a: Archive) -> None:
    nodes, split = _hgb_nodes(a)
    nodes["is_categorical"][split] = 1
    nodes["bitset_idx"][split] = 1_000_000


HGB_ATTACKS = {
    "child-out-of-range": (_hgb_child, r"nodes\.right of node \d+ is 4000000"),
    "child-cycle": (_hgb_cycle, r"nodes\.left of node \d+ is \d+; a child must come"),
    "feature-out-of-range": (_hgb_feature, r"feature_idx of node \d+ is 100000"),
    "nan-threshold": (_hgb_threshold, r"num_threshold of split node \d+ is nan"),
    "bitset-out-of-range": (_hgb_bitset, r"bitset_idx of node \d+ is 1000000"),
}


@pytest.mark.parametrize("attack", sorted(HGB_ATTACKS))
def test_crafted_hist_gradient_boosting_nodes_are_refused(tmp_path: Path, attack: str) -> None:
    edit, field = HGB_ATTACKS[attack]
    directory = _saved(tmp_path, "hist-gradient-boosting")
    craft(directory, edit)
    with pytest.raises(InvalidInput, match=r"refusing to load model\.skops: .*_predictors\[") as e:
        load(str(directory))
    assert re.search(field, str(e.value)), str(e.value)


# -- the crash is real, and the CLI turns it into one line --------------------------------

_RAW_PREDICT = textwrap.dedent(
    """
    import sys, skops.io
    from sklearn.datasets import load_iris
    from cairn.models.flavors.sklearn import SAFE_TYPES
    model = skops.io.load(sys.argv[1], trusted=sorted(SAFE_TYPES))
    model.predict(load_iris(return_X_y=True)[0])
    print("predicted")
    """
)


@pytest.mark.parametrize("kind", ["tree-classifier", "hist-gradient-boosting"])
def test_crafted_child_index_crashes_scikit_learn_and_cairn_refuses_it(
    tmp_path: Path, kind: str
) -> None:
    """The same file, loaded by skops alone, kills the process that predicts (what every
    command and server using it did before); ``cairn serve`` on it exits 1 with one line."""
    directory = _saved(tmp_path, kind)
    craft(directory, _child_out_of_range if kind != "hist-gradient-boosting" else _hgb_child)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    raw = subprocess.run(
        [sys.executable, "-c", _RAW_PREDICT, str(directory / "model.skops")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert raw.returncode < 0, (raw.returncode, raw.stdout, raw.stderr[-500:])

    served = subprocess.run(
        [sys.executable, "-m", "cairn", "serve", str(directory), "--port", "1", "--no-log"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert served.returncode == 1, (served.returncode, served.stderr[-800:])
    assert "Traceback" not in served.stderr, served.stderr
    error = served.stderr.strip().splitlines()[-1]
    assert error.startswith("error: cannot load "), served.stderr
    assert "refusing to load model.skops" in error, error
    assert re.search(r"\.(left_child|right) of node \d+ is (10000000|4000000)", error), error


# -- nothing real is refused ----------------------------------------------------------------


def _real_models() -> dict[str, Callable[[], tuple[Any, np.ndarray]]]:
    from sklearn import ensemble, tree
    from sklearn.datasets import load_diabetes
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _iris()
    Xr, yr = load_diabetes(return_X_y=True)
    Xnan = X.copy()
    Xnan[::5, 0] = np.nan
    cat = np.c_[Xr[:, :3], (Xr[:, 1] > 0).astype(float)]
    return {
        "tree-missing-values": lambda: (tree.DecisionTreeClassifier().fit(Xnan, y), Xnan),
        "tree-best-first": lambda: (
            tree.DecisionTreeRegressor(max_leaf_nodes=30).fit(Xr, yr),
            Xr,
        ),
        "tree-pruned": lambda: (tree.DecisionTreeRegressor(ccp_alpha=5.0).fit(Xr, yr), Xr),
        "forest-max-features": lambda: (
            ensemble.RandomForestClassifier(n_estimators=4, max_features=2).fit(X, y),
            X,
        ),
        "extra-trees": lambda: (ensemble.ExtraTreesClassifier(n_estimators=4).fit(X, y), X),
        "gradient-boosting-multiclass": lambda: (
            ensemble.GradientBoostingClassifier(n_estimators=4).fit(X, y),
            X,
        ),
        "gradient-boosting-regressor": lambda: (
            ensemble.GradientBoostingRegressor(n_estimators=4).fit(Xr, yr),
            Xr,
        ),
        "hist-gradient-boosting-missing": lambda: (
            ensemble.HistGradientBoostingClassifier(max_iter=4).fit(Xnan, y),
            Xnan,
        ),
        "hist-gradient-boosting-categorical": lambda: (
            ensemble.HistGradientBoostingRegressor(max_iter=4, categorical_features=[3]).fit(
                cat, yr
            ),
            cat,
        ),
        "isolation-forest": lambda: (
            ensemble.IsolationForest(n_estimators=4, max_features=2, random_state=0).fit(X),
            X,
        ),
        "bagging-subsets": lambda: (
            ensemble.BaggingClassifier(
                tree.DecisionTreeClassifier(), n_estimators=4, max_features=2
            ).fit(X, y),
            X,
        ),
        "pipeline-forest": lambda: (
            make_pipeline(StandardScaler(), ensemble.RandomForestClassifier(n_estimators=3)).fit(
                X, y
            ),
            X,
        ),
    }


@pytest.mark.parametrize("kind", sorted(_real_models()))
def test_real_fitted_tree_models_pass_the_checks(tmp_path: Path, kind: str) -> None:
    model, X = _real_models()[kind]()
    save_model(model, tmp_path / "m", input_example=X[:5])
    # HistGradientBoosting with categorical features stores a functools.partial: trust.
    loaded = load(str(tmp_path / "m"), trust=kind.endswith("categorical"))
    np.testing.assert_array_equal(loaded.raw.predict(X), model.predict(X))


# -- a pickle under the skops name -------------------------------------------------------


def test_pickle_named_model_skops_is_refused_naming_file_and_function_flavor(
    tmp_path: Path,
) -> None:
    import pickle

    directory = _saved(tmp_path, "tree-classifier")
    (directory / "model.skops").write_bytes(pickle.dumps(_fit("tree-classifier")))
    craft_manifest_only(directory)
    with pytest.raises(InvalidInput) as caught:
        load(str(directory))
    message = str(caught.value)
    assert "model.skops is not a skops file: it looks like a pickle" in message, message
    assert "`function` flavor" in message and "trust=True" in message, message
    assert "BadZipFile" not in message


def test_zip_without_a_skops_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    import zipfile

    directory = _saved(tmp_path, "tree-classifier")
    with zipfile.ZipFile(directory / "model.skops", "w") as zf:
        zf.writestr("readme.txt", "not a model")
    craft_manifest_only(directory)
    with pytest.raises(InvalidInput, match=r"model\.skops is not a skops file: its schema"):
        load(str(directory))


def craft_manifest_only(directory: Path) -> None:
    from dataclasses import replace

    from cairn.models.manifest import list_files, read_manifest

    replace(read_manifest(directory), files=list_files(directory)).write(directory)
