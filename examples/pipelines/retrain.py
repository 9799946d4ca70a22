"""Retrain on the newest data: the pipeline a monitoring alert starts.

    cairn pipeline run examples/pipelines/retrain.py:retrain_pipeline --param data=breast-cancer

``newest`` looks up the latest version of the dataset every time (it is never cached:
new data is the reason this pipeline runs). ``retrain`` fits the model on the training
part of that version as a tracked run that records the version as its input, and
registers the fitted model as the next version of ``model``. Gating that version
against the one in production, and moving the alias, is the monitor's job
(``monitor.yaml``: a ``pipeline`` action with ``gates`` and ``auto_promote``), so the
same pipeline can also be run by hand to make a candidate without promoting it.

Run twice on the same dataset version, ``retrain`` is a cache hit and registers nothing
new: a monitor that fires again without new data does not pile up identical versions.
"""

from __future__ import annotations

from typing import Any

import cairn


@cairn.step(cache=False)
def newest(data: str) -> str:
    """The newest version of the dataset ``data``, as ``name@vN``."""
    return str(cairn.data.get(data).ref)


@cairn.step
def retrain(dataset: str, target: str, C: float, seed: int, model: str) -> dict[str, Any]:
    """Fit on the training part of ``dataset`` and register the next version of ``model``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = cairn.data.get(dataset)
    train, test = cairn.data.split(data.load(), 0.3, stratify=target, seed=seed)
    x_train, y_train = train.drop(columns=[target]), train[target]
    x_test, y_test = test.drop(columns=[target]), test[target]
    params = {"model": "logreg", "C": C, "max_iter": 2000, "data": dataset}
    experiment = f"{model}-retrain"
    with cairn.start_run(experiment=experiment, name=f"retrain-{dataset}", params=params) as run:
        # The input edge is the lineage of the new version, and the data monitoring
        # compares its production traffic with.
        run.log_input(data, role="training-data")
        fitted = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        fitted.fit(x_train, y_train)
        proba = fitted.predict_proba(x_test)[:, 1]
        metrics = {
            "auc": float(roc_auc_score(y_test, proba)),
            "accuracy": float(accuracy_score(y_test, (proba >= 0.5).astype(int))),
        }
        cairn.log_metrics(metrics)
        info = cairn.log_model(fitted, input_example=x_train.head(5), registered_name=model)
    return {"run_id": run.id, "model": model, "version": info.version, **metrics}


@cairn.pipeline
def retrain_pipeline(
    data: str = "breast-cancer",
    target: str = "target",
    C: float = 1.0,
    seed: int = 42,
    model: str = "breast-cancer",
) -> None:
    retrain(newest(data), target, C, seed, model)
