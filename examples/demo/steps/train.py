"""Train three scikit-learn models on the breast-cancer data set, each as a tracked run.

The data is the dataset version the data step added (``ctx.results["dataset"]``), split
with ``cairn.data.split`` (deterministic, recorded on each run). Every run records the
dataset version as its input, its parameters, its test metrics, a validation-AUC curve
per boosting stage or per tree, and the fitted model through ``cairn.log_model`` (skops,
not pickle; signature inferred from the input example). The held-out rows become a
dataset version of their own, which the registry step gates on. Then the runs are
compared through the Python API and through the ``cairn`` command.
"""

from __future__ import annotations

import time
from typing import Any

from steps import Context, StepFailed, heading

EXPERIMENT = "breast-cancer"

#: (run name, model kind, hyper-parameters)
CANDIDATES: list[tuple[str, str, dict[str, Any]]] = [
    ("logreg-C1", "logreg", {"C": 1.0, "max_iter": 2000}),
    ("rf-200", "rf", {"n_estimators": 200, "max_depth": 6, "random_state": 0}),
    (
        "gb-150",
        "gb",
        {"n_estimators": 150, "learning_rate": 0.1, "max_depth": 2, "random_state": 0},
    ),
]


def _model(kind: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(**params))
    if kind == "rf":
        return RandomForestClassifier(**params)
    if kind == "gb":
        return GradientBoostingClassifier(**params)
    raise StepFailed(f"unknown model kind {kind!r}")


def _curve(model: Any, x_test: Any, y_test: Any) -> list[float]:
    """Test AUC as the ensemble grows (per boosting stage, or per 10 trees)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if hasattr(model, "staged_predict_proba"):
        return [float(roc_auc_score(y_test, p[:, 1])) for p in model.staged_predict_proba(x_test)]
    if hasattr(model, "estimators_") and isinstance(model.estimators_, list):
        trees = model.estimators_
        # The forest's trees are fitted on its validated array, without column names.
        rows = np.asarray(x_test, dtype=np.float32)
        votes = np.cumsum([t.predict_proba(rows)[:, 1] for t in trees], axis=0)
        return [
            float(roc_auc_score(y_test, votes[k - 1] / k)) for k in range(10, len(trees) + 1, 10)
        ]
    return []


def train_one(name: str, kind: str, params: dict[str, Any], source: Any, target: str) -> str:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    import cairn
    import cairn.data

    dataset, frame = source
    with cairn.start_run(
        experiment=EXPERIMENT, name=name, params={"model": kind, **params}, tags={"team": "demo"}
    ) as run:
        if dataset is not None:
            run.log_input(dataset, role="training-data")
        train, test = cairn.data.split(frame, 0.3, stratify=target, seed=42)
        x_train, y_train = train.drop(columns=[target]), train[target]
        x_test, y_test = test.drop(columns=[target]), test[target]
        started = time.perf_counter()
        model = _model(kind, params).fit(x_train, y_train)
        cairn.log_metric("train_seconds", time.perf_counter() - started)
        for step, auc in enumerate(_curve(model, x_test, y_test)):
            cairn.log_metric("curve_auc", auc, step=step)
        proba = model.predict_proba(x_test)[:, 1]
        predicted = (proba >= 0.5).astype(int)
        cairn.log_metrics(
            {
                "auc": float(roc_auc_score(y_test, proba)),
                "accuracy": float(accuracy_score(y_test, predicted)),
                "f1": float(f1_score(y_test, predicted)),
            }
        )
        cairn.log_model(model, input_example=x_train.head(5))
    return run.id


def _source(ctx: Context) -> tuple[tuple[Any, Any], str]:
    """(dataset handle or None, DataFrame) and the label column."""
    import cairn.data

    if "dataset" in ctx.results:
        dataset = cairn.data.get(str(ctx.results["dataset"]))
        return (dataset, dataset.load()), str(ctx.results.get("target", "target"))
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return (None, frame), "target"


def _save_holdout(ctx: Context, frame: Any, target: str) -> str:
    """The held-out rows as a dataset version: the gates evaluate every model on it."""
    import cairn.data

    _, test = cairn.data.split(frame, 0.3, stratify=target, seed=42)
    path = ctx.workspace / "holdout.csv"
    test.to_csv(path, index=False)
    return cairn.data.add(path, name="breast-cancer-holdout", message="demo test split").ref


def run(ctx: Context) -> None:
    import cairn

    source, target = _source(ctx)
    run_ids = []
    for name, kind, params in CANDIDATES:
        run_id = train_one(name, kind, params, source, target)
        print(f"trained {name:<10} run {run_id}")
        run_ids.append(run_id)
    holdout = _save_holdout(ctx, source[1], target)
    print(f"held-out split stored as {holdout}")

    heading("ranked through the Python API: cairn.search_runs")
    ranked = cairn.search_runs(EXPERIMENT, order_by="metrics.auc DESC")
    if len(ranked) != len(CANDIDATES):
        raise StepFailed(f"expected {len(CANDIDATES)} runs, search found {len(ranked)}")
    for r in ranked:
        m = r.metrics
        print(
            f"{r.name:<10} auc={m['auc'].value:.4f} accuracy={m['accuracy'].value:.4f} "
            f"f1={m['f1'].value:.4f} ({m['train_seconds'].value:.2f}s)"
        )
    best = ranked[0]
    ctx.results.update(
        train_run_ids=run_ids,
        best_run_id=best.id,
        experiment=EXPERIMENT,
        holdout=holdout,
        target=target,
    )

    heading("the same through the cairn command")
    ctx.cairn("runs", "ls", "--experiment", EXPERIMENT, "--sort", "metrics.auc desc")
    ctx.cairn(
        "runs",
        "ls",
        "--filter",
        "(metrics.auc > 0.99 or params.model in ('rf', 'gb')) and tags.team != 'x'",
    )
    ctx.cairn("runs", "compare", *run_ids)
    ctx.cairn("artifacts", "ls", best.id[:8])
    if "dataset" in ctx.results:
        ctx.cairn("data", "log", str(ctx.results["dataset"]).split("@")[0])
    ctx.cairn("verify")
    print(f"\nbest model: {best.name} (run {best.id}, auc {best.metrics['auc'].value:.4f})")
