"""cairn.select_model: families searched by cross-validation, the winner refitted and
logged with the leaderboard, and bad data refused before anything runs."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import cairn
from cairn.errors import InvalidInput
from cairn.tuning import Int
from cairn.types import RunStatus
from cairn.workspace import Workspace

#: Small spaces keep the test quick; the default spaces are exercised by the families' use.
SMALL = {
    "random_forest": {"n_estimators": Int(10, 20), "max_depth": Int(2, 4)},
    "gradient_boosting": {"max_iter": Int(10, 20)},
    "xgboost": {"n_estimators": Int(10, 20)},
    "lightgbm": {"n_estimators": Int(10, 20)},
}


@pytest.fixture
def churn() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=150, n_features=5, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), pd.Series(y, name="churned")


def test_select_model_returns_the_best_fitted_model_and_logs_it_with_the_leaderboard(
    workspace: Workspace, churn: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = churn
    candidates = ["logreg", "random_forest", "gradient_boosting", "xgboost", "lightgbm"]
    selection = cairn.select_model(
        X, y, candidates=candidates, cv=3, metric="roc_auc", n_trials=2, spaces=SMALL
    )
    model, board = selection
    assert board["family"].iloc[0] == selection.family
    assert set(board["family"]) == set(candidates)
    scored = board[board["status"] == "ok"]
    assert board["roc_auc"].iloc[0] == scored["roc_auc"].max() == selection.score
    assert model.predict(X).shape == (150,)

    parent = cairn.get_run(selection.run_id)
    assert parent.status is RunStatus.FINISHED
    assert parent.params["family"] == selection.family
    assert parent.metrics["roc_auc"].value == selection.score
    names = {io.name for io in parent.outputs}
    assert {"model", "leaderboard.csv"} <= names
    loaded = cairn.models.load(f"runs:/{selection.run_id}/model")
    assert list(loaded.predict(X.iloc[:3])) == list(model.predict(X.iloc[:3]))
    # Each family is a search under the selection run, its trials under it.
    families = [r for r in cairn.search_runs() if r.parent_id == selection.run_id]
    assert sorted(r.name for r in families) == sorted(scored["family"])
    for family_run in families:
        trials = [r for r in cairn.search_runs() if r.parent_id == family_run.id]
        assert len(trials) == 2 and all("roc_auc" in t.metrics for t in trials)


def test_a_time_budget_stops_each_family_early_but_after_one_trial(
    workspace: Workspace, churn: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = churn
    _, board = cairn.select_model(
        X, y, candidates=["logreg", "random_forest"], cv=3, n_trials=50, time_budget=1e-6,
        spaces=SMALL,
    )  # fmt: skip
    assert dict(zip(board["family"], board["trials"], strict=True)) == {
        "logreg": 1,
        "random_forest": 1,
    }


def test_families_whose_library_is_missing_are_listed_as_skipped(
    workspace: Workspace, churn: tuple[pd.DataFrame, pd.Series], monkeypatch: Any
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "xgboost" else real(name, *a)
    )
    X, y = churn
    _, board = cairn.select_model(X, y, candidates=["logreg", "xgboost"], cv=3, n_trials=1)
    statuses = dict(zip(board["family"], board["status"], strict=True))
    assert statuses == {"logreg": "ok", "xgboost": "skipped: xgboost not installed"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"candidates": ["svm"]}, "unknown model family 'svm'; known families: logreg"),
        ({"metric": "auc"}, "unknown metric 'auc'; use a scikit-learn scorer"),
        ({"cv": 1}, "cv must be a number of folds between 2 and 150"),
        ({"spaces": {"forest": {}}}, "spaces names 'forest', not a model family"),
        ({"y": [0, 1]}, "X has 150 rows but y has 2 values"),
        ({"X": pd.DataFrame()}, "X has no rows"),
    ],
    ids=["family", "metric", "cv", "spaces", "mismatch", "empty"],
)
def test_bad_input_is_refused_before_any_run(
    workspace: Workspace,
    churn: tuple[pd.DataFrame, pd.Series],
    change: dict[str, Any],
    message: str,
) -> None:
    X, y = churn
    kwargs: dict[str, Any] = {"X": X, "y": y, "candidates": ["logreg"], "cv": 3, **change}
    with pytest.raises(InvalidInput, match=message):
        cairn.select_model(**kwargs)
    assert cairn.search_runs() == []
