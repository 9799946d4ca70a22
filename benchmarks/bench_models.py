"""Models: load time and 1-row predict latency, Cairn vs the raw estimator and MLflow.

The model is a scikit-learn Pipeline (StandardScaler + LogisticRegression) fitted on the
breast-cancer DataFrame (30 float columns). Cairn loads it by registry URI
(``models:/bc/1``: alias lookup, verified checkout, manifest re-hash, skops load) and
validates every input against the signature; MLflow loads ``runs:/<id>/model`` with
``mlflow.pyfunc.load_model`` and enforces its own schema.
"""

from __future__ import annotations

from common import (
    WORKERS,
    Section,
    attempt,
    cairn_python,
    compare,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2"]


def _figures(quick: bool) -> tuple[dict, dict]:  # type: ignore[type-arg]
    loads, calls = (3, 200) if quick else (10, 2000)
    ours = run_worker(cairn_python(), WORKERS / "models_cairn.py", [loads, calls], 600)
    theirs = run_worker(
        peer_python("mlflow", MLFLOW), WORKERS / "models_mlflow.py", [loads, calls], 900
    )
    return ours, theirs


def run(quick: bool) -> Section:
    section = Section(
        title="Models: load and predict, Cairn vs raw estimator and MLflow",
        peer="peer",
        versions={"MLflow": package_version(peer_python("mlflow", MLFLOW), "mlflow")},
    )
    cache: dict[str, tuple[dict, dict]] = {}  # type: ignore[type-arg]

    def figures() -> tuple[dict, dict]:  # type: ignore[type-arg]
        if "f" not in cache:
            cache["f"] = _figures(quick)
        return cache["f"]

    attempt(
        section,
        "predict overhead",
        lambda: compare(
            "1-row predict vs raw estimator",
            "latency",
            figures()[0]["cairn_predict_us"],
            figures()[0]["raw_predict_us"],
            "µs",
            higher_is_better=False,
            target="overhead <= 20%",
            check=lambda _c, ratio: ratio >= 1 / 1.2,
        ),
    )
    attempt(
        section,
        "predict vs MLflow",
        lambda: compare(
            "1-row predict vs mlflow.pyfunc",
            "latency",
            figures()[0]["cairn_predict_us"],
            figures()[1]["predict_us"],
            "µs",
            higher_is_better=False,
        ),
    )
    attempt(
        section,
        "load vs MLflow",
        lambda: compare(
            "load model vs mlflow.pyfunc.load_model",
            "wall time",
            median(figures()[0]["load_s"]),
            median(figures()[1]["load_s"]),
            "s",
            higher_is_better=False,
        ),
    )
    loads, calls = (3, 200) if quick else (10, 2000)
    section.notes.append(
        "StandardScaler + LogisticRegression Pipeline, breast-cancer DataFrame (30 columns). "
        f"Predict: median of 3 interleaved rounds of 5 batches of {calls:,} calls on one row. "
        f"Load: median of {loads} loads in one process (Cairn by models:/ URI with verified "
        "checkout; MLflow by runs:/ URI). The first row's peer is the raw estimator."
    )
    return section


if __name__ == "__main__":
    main(run)
