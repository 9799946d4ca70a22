"""cairn.autolog() on real scikit-learn estimators and datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cairn
from cairn.tracking.autolog import AUTOLOG_TAG, ESTIMATOR_TAG
from cairn.types import RunStatus
from cairn.workspace import Workspace


def _runs() -> list[cairn.Run]:
    return cairn.search_runs()


def _load_model(run_id: str, dest: Path) -> Any:
    """Load the logged model back, whichever way autolog stored it."""
    client = cairn.tracking.current_client()
    folder = client.download_artifact(run_id, "model", dest / "model")
    try:
        from cairn.models import load
    except ImportError:
        import skops.io

        path = folder / "model.skops"
        return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    return load(str(folder))


def test_classifier_fit_logs_params_metrics_and_model(workspace: Workspace, tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    cairn.autolog()
    model = LogisticRegression(C=0.5, max_iter=500).fit(X, y)

    (run,) = _runs()
    assert run.status is RunStatus.FINISHED
    assert run.name == "LogisticRegression"
    assert run.tags[AUTOLOG_TAG] == "sklearn"
    assert run.tags[ESTIMATOR_TAG].endswith("LogisticRegression")
    assert run.params["C"] == "0.5"
    assert run.params["max_iter"] == "500"
    metrics = {k: m.value for k, m in run.metrics.items()}
    assert metrics["training_score"] == pytest.approx(model.score(X, y))
    assert metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert 0 < metrics["training_f1"] <= 1
    assert metrics["fit_time_s"] > 0
    assert "model" in {o.name for o in run.outputs}

    loaded = _load_model(run.id, tmp_path)
    assert np.array_equal(loaded.predict(X[:20]), model.predict(X[:20]))


def test_regressor_logs_r2_and_errors(workspace: Workspace) -> None:
    X, y = load_diabetes(return_X_y=True)
    cairn.autolog(log_models=False)
    model = Ridge(alpha=0.3).fit(X, y)

    (run,) = _runs()
    metrics = {k: m.value for k, m in run.metrics.items()}
    assert metrics["training_r2"] == pytest.approx(model.score(X, y))
    assert metrics["training_mae"] > 0 and metrics["training_rmse"] >= metrics["training_mae"]
    assert run.outputs == ()


def test_pipeline_fit_is_one_run_not_one_per_step(workspace: Workspace) -> None:
    X, y = load_iris(return_X_y=True)
    cairn.autolog(log_models=False)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))])
    pipe.fit(X, y)

    (run,) = _runs()
    assert run.name == "Pipeline"
    assert "steps" in run.params
    assert run.metrics["training_accuracy"].value == pytest.approx(pipe.score(X, y))


def test_grid_search_is_one_run_with_the_best_result(workspace: Workspace) -> None:
    X, y = load_iris(return_X_y=True)
    cairn.autolog(log_models=False)
    search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]}, cv=3)
    search.fit(X, y)

    (run,) = _runs()
    assert run.params["best.max_depth"] == str(search.best_params_["max_depth"])
    assert run.metrics["best_cv_score"].value == pytest.approx(search.best_score_)


def test_fit_inside_an_active_run_logs_to_it_with_increasing_steps(workspace: Workspace) -> None:
    X, y = load_diabetes(return_X_y=True)
    cairn.autolog(log_models=False)
    with cairn.start_run(experiment="manual") as active:
        LinearRegression().fit(X, y)
        LinearRegression().fit(X[:200], y[:200])
        assert cairn.active_run() is active

    (run,) = _runs()
    assert run.id == active.id
    assert [m.step for m in cairn.get_metric_history(run.id, "training_r2")] == [0, 1]


def test_fit_inside_the_users_run_gets_the_same_tags_as_a_run_autolog_starts(
    workspace: Workspace,
) -> None:
    X, y = load_iris(return_X_y=True)
    cairn.autolog(log_models=False)
    DecisionTreeClassifier(max_depth=2).fit(X, y)  # autolog starts this run
    with cairn.start_run(experiment="mine", tags={"team": "ml"}) as mine:
        DecisionTreeClassifier(max_depth=2).fit(X, y)

    runs = {r.id: r for r in _runs()}
    own = runs.pop(mine.id)
    (started,) = runs.values()
    keys = (AUTOLOG_TAG, ESTIMATOR_TAG)
    assert {k: own.tags[k] for k in keys} == {k: started.tags[k] for k in keys}
    assert own.tags[AUTOLOG_TAG] == "sklearn"
    assert own.tags["team"] == "ml"  # the user's own tags stay
    found = cairn.search_runs(filter="tags.`cairn.autolog` = 'sklearn'")
    assert {r.id for r in found} == {own.id, started.id}


def test_autolog_experiment_names_the_experiment_of_the_runs_it_starts(
    workspace: Workspace,
) -> None:
    X, y = load_iris(return_X_y=True)
    cairn.autolog(log_models=False, experiment="iris-auto")
    DecisionTreeClassifier(max_depth=2).fit(X, y)
    with cairn.start_run(experiment="manual") as mine:  # a user's run keeps its experiment
        DecisionTreeClassifier(max_depth=2).fit(X, y)

    (auto,) = cairn.search_runs("iris-auto")
    assert auto.id != mine.id
    assert auto.tags[AUTOLOG_TAG] == "sklearn"
    assert [r.id for r in cairn.search_runs("manual")] == [mine.id]


@pytest.mark.parametrize("bad", ["", "  ", 3], ids=["empty", "blank", "number"])
def test_autolog_refuses_an_experiment_that_is_not_a_name(workspace: Workspace, bad: Any) -> None:
    with pytest.raises(cairn.CairnError, match="give an experiment name"):
        cairn.autolog(experiment=bad)
    assert _runs() == []


def test_estimator_class_defined_after_autolog_is_logged(workspace: Workspace) -> None:
    cairn.autolog(log_models=False)

    class Majority(ClassifierMixin, BaseEstimator):
        def __init__(self, fallback: int = 0) -> None:
            self.fallback = fallback

        def fit(self, X: Any, y: Any) -> Majority:
            values, counts = np.unique(y, return_counts=True)
            self.label_ = values[np.argmax(counts)]
            self.classes_ = values
            return self

        def predict(self, X: Any) -> Any:
            return np.full(len(X), self.label_)

    X, y = load_iris(return_X_y=True)
    Majority(fallback=2).fit(X, y)

    (run,) = _runs()
    assert run.params == {"fallback": "2"}
    assert run.metrics["training_accuracy"].value == pytest.approx(1 / 3)


def test_failing_fit_ends_its_run_failed_and_raises(workspace: Workspace) -> None:
    cairn.autolog(log_models=False)
    with pytest.raises(ValueError):
        LogisticRegression().fit([[1.0], [float("nan")]], [0, 1])

    (run,) = _runs()
    assert run.status is RunStatus.FAILED
    assert run.tags["cairn.error.type"] == "ValueError"
    assert cairn.active_run() is None


def test_autolog_twice_patches_once_and_disable_restores_fit(workspace: Workspace) -> None:
    original = LogisticRegression.fit
    cairn.autolog(log_models=False)
    patched = LogisticRegression.fit
    cairn.autolog(log_models=False)
    assert LogisticRegression.fit is patched is not original

    cairn.autolog(disable=True)
    assert LogisticRegression.fit is original
    X, y = load_iris(return_X_y=True)
    LogisticRegression(max_iter=300).fit(X, y)
    assert _runs() == []
