"""Import of an MLflow store: ``cairn import mlflow`` of a SQLite store written by
MLflow's own client, in runs per second, beside MLflow's client reading the same runs
back with their metric histories (the reading an import cannot avoid).

The store has 10,000 runs: 2,000 written by MLflow's client (one log_batch each; it
writes about 7 runs/s on this machine, so 10,000 would take some 25 minutes), brought
to 10,000 by copying their rows in SQL under new run ids. ``CAIRN_BENCH_IMPORT_RUNS``
sets another size."""

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
    n = 500 if quick else int(os.environ.get("CAIRN_BENCH_IMPORT_RUNS", "10000"))
    logged = min(n, 2000)  # runs MLflow's client writes; the rest are SQL copies of them
    mlflow = peer_python("mlflow", MLFLOW)
    section = Section(
        title=f"Import an MLflow store ({n:,} runs, 30 metric points each)",
        peer="MLflow",
        versions={"MLflow": package_version(mlflow, "mlflow")},
    )
    work = BENCH_DIR / ".work" / "import"
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"mlflow-{logged}.db"
    if not source.exists():  # population is slow (minutes): kept between runs
        log(f"writing {logged:,} runs with MLflow's client (one-time)")
        tmp = source.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        made = run_worker(mlflow, WORKERS / "import_mlflow.py", ["populate", tmp, logged], 7200)
        tmp.rename(source)
        rate = made["runs"] / made["seconds"]
        section.notes.append(
            f"Population by MLflow's client (log_batch per run): {rate:,.0f} runs/s."
        )
    db = source
    if n > logged:
        db = work / f"mlflow-{n}.db"
        db.unlink(missing_ok=True)
        run_worker(mlflow, WORKERS / "import_mlflow.py", ["multiply", source, db, n], 7200)
        section.notes.append(
            f"{logged:,} runs were written by MLflow's client (one log_batch each); the "
            f"store was brought to {n:,} runs by copying those runs' rows in SQL under new "
            "run ids, and MLflow's client reads the copies back like the originals."
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
