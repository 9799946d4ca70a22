"""Import of an MLflow store: ``cairn import mlflow`` of a SQLite store written by
MLflow's own client, in runs per second, beside MLflow's client reading the same runs
back with their metric histories (the reading an import cannot avoid).

The store has 2,000 runs, not 10,000: MLflow's client writes about 7 runs/s on this
machine (one log_batch per run), so 10,000 runs would take some 25 minutes to populate.
``CAIRN_BENCH_IMPORT_RUNS`` sets another size."""

from __future__ import annotations

import os

from common import (
    BENCH_DIR,
    WORKERS,
    Section,
    attempt,
    cairn_python,
    compare,
    log,
    main,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2"]


def run(quick: bool) -> Section:
    n = 500 if quick else int(os.environ.get("CAIRN_BENCH_IMPORT_RUNS", "2000"))
    mlflow = peer_python("mlflow", MLFLOW)
    section = Section(
        title=f"Import an MLflow store ({n:,} runs, 30 metric points each)",
        peer="MLflow",
        versions={"MLflow": package_version(mlflow, "mlflow")},
    )
    work = BENCH_DIR / ".work" / "import"
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"mlflow-{n}.db"
    if not db.exists():  # population is slow (minutes for 10,000 runs): kept between runs
        log(f"writing {n:,} runs with MLflow's client (one-time)")
        tmp = db.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        made = run_worker(mlflow, WORKERS / "import_mlflow.py", ["populate", tmp, n], 7200)
        tmp.rename(db)
        rate = made["runs"] / made["seconds"]
        section.notes.append(
            f"Population by MLflow's client (log_batch per run): {rate:,.0f} runs/s."
        )
    ours = run_worker(cairn_python(), WORKERS / "import_cairn.py", [db, work / "ws"], 7200)
    theirs = run_worker(mlflow, WORKERS / "import_mlflow.py", ["read", db], 7200)
    if ours["runs"] != n:
        section.error = f"imported {ours['runs']} runs of {n}"
        return section
    attempt(
        section,
        "import rate",
        lambda: compare(
            "import mlflow",
            "runs/s (Cairn: import; MLflow: read back)",
            ours["runs"] / ours["seconds"],
            theirs["runs"] / theirs["seconds"],
            "runs/s",
            higher_is_better=True,
        ),
    )
    section.notes.append(
        f"Cairn imported {ours['runs']:,} runs and {ours['points']:,} metric points in "
        f"{ours['seconds']:.1f} s; a second import (nothing new) took "
        f"{ours['rerun_seconds']:.1f} s and skipped {ours['rerun_skipped']:,} runs. "
        "The MLflow figure is its client reading every run with get_metric_history per key, "
        "not an import: it is the floor of what reading the history costs MLflow itself."
    )
    return section


if __name__ == "__main__":
    main(run)
