"""``cairn.select_model``: search several model families, keep the best, log both.

    model, board = cairn.select_model(X, y, cv=5, metric="roc_auc", n_trials=20)

For each candidate family a :func:`~cairn.tuning.tune` search (a child run of the
selection's run, its trials grandchildren) scores parameter sets by cross-validation.
The best family's best parameters are refitted on all of ``X, y``; that model goes on
the selection run through :func:`cairn.models.log_model`, and the leaderboard (one row
per family) as ``leaderboard.csv``. Families whose library is not installed (XGBoost,
LightGBM) are listed on the leaderboard as skipped.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.errors import CairnError, InvalidInput
from cairn.tuning.space import Choice, Float, Int

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Family:
    """A model family: the library it needs, its search space, how to build one."""

    name: str
    requires: str  # import name that must be installed
    space: Mapping[str, Any]
    build: Callable[[Task, dict[str, Any], int], Any]


def _logreg(task: Task, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "regression":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0 / p["C"]))
    return make_pipeline(StandardScaler(), LogisticRegression(C=p["C"], max_iter=2000))


def _forest(task: Task, p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return cls(random_state=seed, n_jobs=1, **p)


def _boosting(task: Task, p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(random_state=seed, **p)


def _xgboost(task: Task, p: dict[str, Any], seed: int) -> Any:
    import xgboost

    cls = xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier
    return cls(random_state=seed, n_jobs=1, verbosity=0, **p)


def _lightgbm(task: Task, p: dict[str, Any], seed: int) -> Any:
    import lightgbm

    cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    return cls(random_state=seed, n_jobs=1, verbose=-1, **p)


_BOOST_RATE = Float(0.01, 0.3, log=True)

#: The families ``select_model`` knows, with their default search spaces.
FAMILIES: list[Family] = [
    Family("logreg", "sklearn", {"C": Float(1e-3, 1e2, log=True)}, _logreg),
    Family(
        "random_forest",
        "sklearn",
        {
            "n_estimators": Int(50, 300, step=50),
            "max_depth": Int(2, 16),
            "min_samples_leaf": Int(1, 10),
            "max_features": Choice(["sqrt", "log2", None]),
        },
        _forest,
    ),
    Family(
        "gradient_boosting",
        "sklearn",
        {
            "learning_rate": _BOOST_RATE,
            "max_leaf_nodes": Int(8, 64, log=True),
            "l2_regularization": Float(1e-6, 1.0, log=True),
            "max_iter": Int(50, 300, step=50),
        },
        _boosting,
    ),
    Family(
        "xgboost",
        "xgboost",
        {
            "n_estimators": Int(50, 300, step=50),
            "max_depth": Int(2, 8),
            "learning_rate": _BOOST_RATE,
            "subsample": Float(0.6, 1.0),
            "colsample_bytree": Float(0.6, 1.0),
        },
        _xgboost,
    ),
    Family(
        "lightgbm",
        "lightgbm",
        {
            "n_estimators": Int(50, 300, step=50),
            "num_leaves": Int(8, 64, log=True),
            "learning_rate": _BOOST_RATE,
            "min_child_samples": Int(5, 50),
        },
        _lightgbm,
    ),
]
DEFAULT_CANDIDATES = tuple(f.name for f in FAMILIES)


@dataclass
class Selection:
    """What :func:`select_model` returns; unpacks as ``model, leaderboard``."""

    model: Any
    leaderboard: pd.DataFrame
    family: str
    params: dict[str, Any]
    score: float
    run_id: str

    def __iter__(self) -> Any:
        return iter((self.model, self.leaderboard))


@dataclass
class _CvObjective:
    """Cross-validated score of one family at the trial's params (picklable, so trials
    can run in worker processes)."""

    family: str
    task: Task
    X: Any
    y: Any
    cv: int
    scoring: str
    seed: int

    def __call__(self, trial: Any) -> dict[str, float]:
        from sklearn.model_selection import cross_val_score

        estimator = _family(self.family).build(self.task, dict(trial.params), self.seed)
        scores = cross_val_score(estimator, self.X, self.y, cv=self.cv, scoring=self.scoring)
        return {self.scoring: float(scores.mean()), f"{self.scoring}_std": float(scores.std())}


def _family(name: str) -> Family:
    for family in FAMILIES:
        if family.name == name:
            return family
    known = ", ".join(DEFAULT_CANDIDATES)
    raise InvalidInput(f"unknown model family {name!r}; known families: {known}")


def _task(y: Any, metric: str, task: str) -> Task:
    import numpy as np

    if task in ("classification", "regression"):
        return task  # type: ignore[return-value]
    if task != "auto":
        raise InvalidInput(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    values = np.asarray(y)
    if values.dtype.kind in "fc" and len(np.unique(values)) > 20:
        return "regression"
    return "classification"


def _check_data(X: Any, y: Any, cv: int) -> None:
    rows = getattr(X, "shape", (len(X),))[0] if X is not None else 0
    if rows == 0:
        raise InvalidInput("X has no rows: select_model needs training data")
    if len(y) != rows:
        raise InvalidInput(f"X has {rows} rows but y has {len(y)} values: pass matching X and y")
    if isinstance(cv, bool) or not isinstance(cv, int) or not 2 <= cv <= rows:
        raise InvalidInput(f"cv must be a number of folds between 2 and {rows}, got {cv!r}")


def select_model(
    X: Any,
    y: Any,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    cv: int = 5,
    metric: str = "roc_auc",
    n_trials: int = 10,
    time_budget: float | None = None,
    *,
    task: str = "auto",
    spaces: Mapping[str, Mapping[str, Any]] | None = None,
    executor: str | None = None,
    n_jobs: int | None = None,
    seed: int = 0,
    experiment: str | None = None,
    name: str = "select_model",
) -> Selection:
    """Search model families for the best cross-validated ``metric``; refit the winner.

    Args:
        X, y: Training data (DataFrame or array, and labels/targets).
        candidates: Family names from :data:`FAMILIES`; families whose library is not
            installed are skipped (and listed as such on the leaderboard).
        cv: Cross-validation folds.
        metric: A scikit-learn scorer name (``roc_auc``, ``accuracy``, ``f1``,
            ``neg_log_loss``, ``r2``, ``neg_root_mean_squared_error``, ...); higher wins.
        n_trials: Trials per family.
        time_budget: Seconds for the whole search, shared evenly by the families; a
            family's search starts no new trial after its share.
        task: ``auto`` (regression when ``y`` is float with many values), or say which.
        spaces: Search spaces replacing a family's default, by family name.
        executor, n_jobs: Where trials run (see :func:`~cairn.tuning.tune`).

    Returns:
        A :class:`Selection`: ``model, leaderboard = select_model(...)`` also works.

    Raises:
        InvalidInput: empty or mismatched data, an unknown family or metric, bad ``cv``.
    """
    from sklearn.metrics import get_scorer, get_scorer_names

    from cairn.tracking import fluent
    from cairn.tuning.search import tune

    _check_data(X, y, cv)
    try:
        get_scorer(metric)
    except (ValueError, TypeError):
        names = ", ".join(n for n in get_scorer_names() if not n.startswith(("neg_mean_p", "p")))
        raise InvalidInput(
            f"unknown metric {metric!r}; use a scikit-learn scorer: {names}"
        ) from None
    if isinstance(candidates, str):
        candidates = [candidates]
    families = [_family(c) for c in candidates]
    for unknown in sorted(set(spaces or {}) - set(DEFAULT_CANDIDATES)):
        raise InvalidInput(
            f"spaces names {unknown!r}, not a model family; known: {', '.join(DEFAULT_CANDIDATES)}"
        )
    if not families:
        raise InvalidInput(
            f"no candidate families given; choose from {', '.join(DEFAULT_CANDIDATES)}"
        )
    kind = _task(y, metric, task)
    available = [f for f in families if importlib.util.find_spec(f.requires) is not None]
    share = None if time_budget is None else time_budget / max(len(available), 1)
    rows: list[dict[str, Any]] = []
    nested = fluent.active_run() is not None
    with fluent.start_run(
        experiment, name=name, nested=nested, tags={"cairn.tuning.metric": metric}
    ) as parent:
        best: tuple[float, Family, dict[str, Any]] | None = None
        for family in families:
            if family not in available:
                rows.append(
                    {"family": family.name, "status": f"skipped: {family.requires} not installed"}
                )
                continue
            started = time.monotonic()
            objective = _CvObjective(family.name, kind, X, y, cv, metric, seed)
            try:
                result = tune(
                    objective,
                    (spaces or {}).get(family.name, family.space),
                    n_trials=n_trials,
                    metric=metric,
                    direction="maximize",
                    executor=executor,
                    n_jobs=n_jobs,
                    seed=seed,
                    timeout=share,
                    name=family.name,
                )
            except CairnError as exc:
                rows.append({"family": family.name, "status": f"failed: {exc}"})
                continue
            score = float(result.best.value or float("nan"))
            rows.append(
                {
                    "family": family.name,
                    "status": "ok",
                    metric: score,
                    f"{metric}_std": result.best.metrics.get(f"{metric}_std"),
                    "trials": len(result.trials),
                    "seconds": round(time.monotonic() - started, 3),
                    "params": dict(result.best.params),
                    "run_id": result.run_id,
                }
            )
            if best is None or score > best[0]:
                best = (score, family, dict(result.best.params))
        board = _leaderboard(rows, metric)
        _log_leaderboard(parent, board)
        if best is None:
            raise CairnError(
                f"no model family could be scored with {metric!r}; see the leaderboard on run "
                f"{parent.id} (`cairn artifacts ls {parent.id[:12]}`)"
            )
        score, family, params = best
        model = family.build(kind, params, seed).fit(X, y)
        from cairn.models import log_model

        parent.log_params({"family": family.name, **{k: str(v) for k, v in params.items()}})
        parent.log_metric(metric, score)
        log_model(model, input_example=_head(X))
    return Selection(model, board, family.name, params, score, parent.id)


def _leaderboard(rows: list[dict[str, Any]], metric: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)
    if metric not in frame:
        frame[metric] = float("nan")
    frame = frame.sort_values(metric, ascending=False, na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def _log_leaderboard(parent: Any, board: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-leaderboard-") as tmp:
        path = Path(tmp) / "leaderboard.csv"
        board.to_csv(path, index=False)
        parent.log_artifact(path)


def _head(X: Any) -> Any:
    try:
        return X[:5] if not hasattr(X, "iloc") else X.iloc[:5]
    except Exception:  # an input type without slicing: no example, the model still logs
        return None
