"""Cairn side of the monitoring benchmark; runs in the project venv.

Usage: ``python monitoring_cairn.py MODE ARGS...``; prints one JSON object last.

- ``drift REF CUR``: the drift computation ``cairn monitor check`` does, on two Parquet
  files loaded as Arrow tables: profile the reference (:func:`cairn.data.profile.
  compute_profile`), sketch the current rows against it (``FeatureSketch`` per column,
  as an hour of the prediction log is sketched) and test every column
  (:func:`cairn.monitoring.drift.compare`). Reports wall time, the RSS after loading,
  the peak RSS of the computation, and the drifted columns.
- ``profile PATH REPEATS``: rows/s of the reference profile and of the sketch alone.
- ``detect SEED REPEATS``: detection and false-positive counts per test and shift size
  on synthetic columns (see :func:`detect`).
- ``cbpe DIR``: estimated accuracy per window from the calibration fitted on the
  reference (``reference.parquet``, ``windows.parquet`` written by the benchmark).
- ``predlog REQUESTS ROWS``: CPU of the prediction log's writer per request with the
  classifier's probabilities, without them, and of one ``predict_proba`` per request.
- ``merge DIR HOURS ROWS``: a day of prediction-log files in hourly partitions; times
  the window sketch from 24 cached hourly sketches against one sketch over all the
  day's rows, and how far their drift scores and quantiles differ.

A small warm-up run before the timed one keeps one-time imports out of the figures.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _rss import peak_mb, reset_peak, rss_mb

BATCH = 65_536


def _reader(table: pa.Table) -> Any:
    def read(columns: Any) -> Any:
        part = table.select(list(columns)) if columns else table
        return iter(part.to_batches(max_chunksize=BATCH))

    return read


def drift_columns(reference: pa.Table, current: pa.Table) -> dict[str, Any]:
    """Profile, sketch, test: the drift of every column of ``current``."""
    from cairn.data.profile import compute_profile
    from cairn.monitoring.drift import compare
    from cairn.monitoring.sketch import FeatureSketch

    profile = compute_profile(reference.schema, _reader(reference))["columns"]
    sketches = {name: FeatureSketch.empty(profile[name]) for name in current.column_names}
    for batch in current.to_batches(max_chunksize=BATCH):
        for name, sketch in sketches.items():
            sketch.update(profile[name], batch.column(name))
    return {name: compare(name, profile[name], s) for name, s in sketches.items()}


def drift(ref_path: str, cur_path: str) -> dict[str, Any]:
    small = pq.read_table(ref_path).slice(0, 2_000)
    drift_columns(small, small)  # imports and first-call costs stay out of the figures
    reference = pq.read_table(ref_path)
    current = pq.read_table(cur_path)
    loaded = rss_mb()
    reset_peak()
    start = time.perf_counter()
    cpu = time.process_time()
    results = drift_columns(reference, current)
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "loaded_mb": loaded,
        "peak_mb": peak_mb(),
        "drifted": sorted(n for n, r in results.items() if r.drifted),
        "scores": {n: r.score for n, r in results.items()},
        "tests": sorted({r.test for r in results.values()}),
    }


def profile(path: str, repeats: int) -> dict[str, Any]:
    from cairn.data.profile import compute_profile
    from cairn.monitoring.sketch import FeatureSketch

    table = pq.read_table(path)
    compute_profile(table.schema, _reader(table.slice(0, 2_000)))
    profile_s, sketch_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        columns = compute_profile(table.schema, _reader(table))["columns"]
        profile_s.append(time.perf_counter() - start)
        sketches = {n: FeatureSketch.empty(columns[n]) for n in table.column_names}
        start = time.perf_counter()
        for batch in table.to_batches(max_chunksize=BATCH):
            for name, sketch in sketches.items():
                sketch.update(columns[name], batch.column(name))
        sketch_s.append(time.perf_counter() - start)
    return {"rows": table.num_rows, "profile_seconds": profile_s, "sketch_seconds": sketch_s}


# --- detection quality --------------------------------------------------------------

MEAN_SHIFTS = (0.0, 0.05, 0.1, 0.2, 0.5)  # in reference standard deviations
SHARE_SHIFTS = (0.0, 0.02, 0.05, 0.1, 0.2)  # share of rows moved between two categories
CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"])
CATEGORY_P = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
#: (test, current window rows): each test at the window size where it is the default.
TESTS = (
    ("ks", 500),
    ("wasserstein", 10_000),
    ("psi", 10_000),
    ("chi2", 500),
    ("jensen_shannon", 10_000),
    ("psi", 500),
)
REFERENCE_ROWS = 10_000


def _numeric(rng: np.random.Generator, n: int, shift: float, kind: int) -> np.ndarray:
    if kind == 0:
        return rng.normal(shift, 1.0, n)
    if kind == 1:  # skewed: a lognormal, shifted by a share of its own std
        std = float(np.sqrt((np.e - 1) * np.e))
        return rng.lognormal(0.0, 1.0, n) + shift * std
    return rng.integers(0, 50, n) + shift * 50 / np.sqrt(12)  # integer-valued, wide


def _categorical(rng: np.random.Generator, n: int, moved: float) -> np.ndarray:
    p = CATEGORY_P.copy()
    p[0] -= moved / 2  # half the moved share leaves the commonest, half a rare one
    p[4] -= moved / 2
    p[5] += moved
    return rng.choice(CATEGORIES, n, p=np.clip(p, 0, None) / np.clip(p, 0, None).sum())


def detect(seed: int, repeats: int) -> dict[str, Any]:
    """Per (test, shift): how many of the compared columns were flagged, out of how many.

    Each repeat draws a fresh reference (10,000 rows) and fresh windows; numeric
    columns are three shapes (normal, lognormal, integers), categorical ones six
    categories. Shift 0 is the false-positive rate.
    """
    from cairn.data.profile import compute_profile
    from cairn.monitoring.drift import compare
    from cairn.monitoring.sketch import FeatureSketch

    counts: dict[str, dict[str, list[int]]] = {}
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        ref_cols: dict[str, Any] = {
            f"n{k}": _numeric(rng, REFERENCE_ROWS, 0.0, k) for k in range(3)
        }
        ref_cols["c"] = _categorical(rng, REFERENCE_ROWS, 0.0)
        ref = pa.table(ref_cols)
        prof = compute_profile(ref.schema, _reader(ref))["columns"]
        for test, rows in TESTS:
            numeric = test in ("ks", "wasserstein") or (test == "psi")
            categorical = test in ("chi2", "jensen_shannon") or (test == "psi")
            shifts = []
            if numeric:
                shifts += [("mean", s, f"n{k}") for s in MEAN_SHIFTS for k in range(3)]
            if categorical:
                shifts += [("share", s, "c") for s in SHARE_SHIFTS]
            for what, size, name in shifts:
                if name == "c":
                    values = pa.array(_categorical(rng, rows, size))
                else:
                    values = pa.array(_numeric(rng, rows, size, int(name[1])))
                sketch = FeatureSketch.empty(prof[name])
                sketch.update(prof[name], values)
                result = compare(name, prof[name], sketch, test=test)
                key = f"{test}@{rows}"
                cell = counts.setdefault(key, {}).setdefault(f"{what}:{size:g}", [0, 0])
                cell[0] += int(result.drifted)
                cell[1] += 1
    return {"counts": counts, "repeats": repeats}


# --- performance estimation -----------------------------------------------------------


def cbpe(folder: str) -> dict[str, Any]:
    from cairn.monitoring.cbpe import estimate, fit_calibration, sums

    ref = pq.read_table(Path(folder) / "reference.parquet").to_pandas()
    windows = pq.read_table(Path(folder) / "windows.parquet").to_pandas()
    classes = [0, 1]
    labels = [str(v) for v in ref["y_true"]]
    probs = np.column_stack([1 - ref["proba"].to_numpy(), ref["proba"].to_numpy()])
    calibration = fit_calibration(probs, labels, classes)
    if calibration is None:
        raise SystemExit("no calibration fitted")
    out = []
    for window, part in windows.groupby("window", sort=True):
        p = part["proba"].to_numpy()
        est = estimate(sums(calibration, np.column_stack([1 - p, p])))
        out.append({"window": int(window), "estimated": est["accuracy"]})
    return {"windows": out}


# --- merging hourly sketches ----------------------------------------------------------


def merge(folder: str, n_hours: int, rows: int) -> dict[str, Any]:
    from cairn.data.profile import compute_profile
    from cairn.monitoring.drift import compare
    from cairn.monitoring.sketch import WindowSketch
    from cairn.monitoring.window import HOUR_MS, SKETCH_DIR, Span, _batches, hours, window_sketches
    from cairn.store.tables import PartitionedFiles

    root = Path(folder) / "log"
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(7)
    start_hour = 480_000  # 2024-10-04, a settled day
    features = {f"f{k}": rng.normal(0, 1, rows * 2) for k in range(10)}
    features["plan"] = rng.choice(CATEGORIES, rows * 2, p=CATEGORY_P)
    ref = pa.table({k: v[:rows] for k, v in features.items()})
    reference = {"features": compute_profile(ref.schema, _reader(ref))["columns"]}
    files = PartitionedFiles(str(root), {})
    for h in range(n_hours):
        n = rows
        table = pa.table(
            {
                "time": pa.array(
                    (start_hour + h) * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, n)),
                    pa.timestamp("ms", "UTC"),
                ),
                "row": pa.array(np.zeros(n, dtype=np.int32)),
                "status": pa.array(np.full(n, 200, dtype=np.int16)),
                "latency_ms": pa.array(rng.gamma(2.0, 2.0, n).astype(np.float32)),
                **{
                    k: pa.array(_numeric(rng, n, 0.02 * h / n_hours, 0))
                    for k in features
                    if k != "plan"
                },
                "plan": pa.array(_categorical(rng, n, 0.004 * h)),
            }
        )
        import datetime as dt

        t0 = dt.datetime.fromtimestamp((start_hour + h) * 3600, tz=dt.UTC)
        part = f"m/model_version=1/date={t0:%Y-%m-%d}/hour={t0:%H}"
        files.write(part, f"part-{h}.parquet", lambda fh, t=table: pq.write_table(t, fh))
    where = Span(start_hour * HOUR_MS, (start_hour + n_hours) * HOUR_MS)
    now = (start_hour + n_hours + 1) * HOUR_MS
    # Cold: every hour is read and sketched, and its sketch cached.
    window_sketches(files, "m", "1", "ref", reference, where, now)
    merged_s, full_s = [], []
    for _ in range(5):
        start = time.perf_counter()
        merged, _ = window_sketches(files, "m", "1", "ref", reference, where, now)
        merged_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        whole = WindowSketch.empty("ref", reference)
        paths = [p for ps in hours(files, "m", "1").values() for p in ps]
        for batch in _batches(files, paths, None, None):
            whole.update(reference, batch)
        full_s.append(time.perf_counter() - start)
    cached = len(list((root / SKETCH_DIR).rglob("sketch-*.json")))
    score_diff, flags_same, quantile_diff = 0.0, True, 0.0
    probs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    for name, info in reference["features"].items():
        a = compare(name, info, merged.features[name])
        b = compare(name, info, whole.features[name])
        score_diff = max(score_diff, abs((a.score or 0.0) - (b.score or 0.0)))
        flags_same = flags_same and a.drifted == b.drifted and a.current_counts == b.current_counts
        if info["kind"] == "numeric":  # the merged quantiles' ranks in the one-pass sketch
            qa = merged.features[name].sketch.get_quantiles(probs)
            ranks = np.asarray(whole.features[name].sketch.get_cdf(qa, True))[:-1]
            quantile_diff = max(quantile_diff, float(np.max(np.abs(ranks - np.asarray(probs)))))
    return {
        "merged_seconds": merged_s,
        "full_seconds": full_s,
        "rows": merged.rows,
        "rows_full": whole.rows,
        "cached_sketches": cached,
        "max_score_diff": score_diff,
        "same_flags_and_bins": flags_same,
        "max_rank_diff": quantile_diff,
    }


# --- prediction log: the cost of class probabilities ---------------------------------


def predlog(requests: int, rows: int) -> dict[str, Any]:
    """CPU of the log writer turning ``requests`` records of ``rows`` rows into a table,
    with the classifier's probabilities and without (the difference is their cost)."""
    import tempfile

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import cairn
    from cairn.models import load
    from cairn.serving.codec import table_batch
    from cairn.serving.predictor import make_predictor
    from cairn.serving.predlog import LogRecord, _to_table

    rng = np.random.default_rng(3)
    n = 2_000
    frame = pd.DataFrame({f"x{k}": rng.normal(0, 1, n) for k in range(4)})
    frame["plan"] = rng.choice(np.array(["a", "b", "c"]), n)
    label = (frame["x0"] + rng.normal(0, 1, n) > 0).astype(int)
    model = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, label)
    with tempfile.TemporaryDirectory() as tmp:
        ws = cairn.init(tmp)
        with cairn.start_run(experiment="bench", workspace=ws):
            cairn.log_model(model, input_example=frame.head(3), registered_name="m")
        predictor = make_predictor(load("models:/m/1", workspace=ws), "m", "1")
    records = []
    for i in range(requests):
        part = frame.iloc[(i * rows) % (n - rows) :][:rows]
        batch = table_batch(predictor.spec, {c: part[c].to_numpy() for c in part.columns})
        preds = predictor.predict(batch)[0]
        records.append(
            LogRecord(
                i,
                f"r{i}",
                "m",
                "1",
                "primary",
                True,
                batch,
                preds,
                200,
                1.0,
                predictor.predict_proba,
            )
        )
    plain = [dataclasses.replace(r, proba=None) for r in records]
    with_proba, without, one_by_one = [], [], []
    for _ in range(5):
        start = time.process_time()  # what the writer did before: one call per request
        for r in records:
            np.asarray(predictor.predict_proba(r.batch)[0], dtype=np.float64)
        one_by_one.append(time.process_time() - start)
        start = time.process_time()
        table = _to_table(records)
        with_proba.append(time.process_time() - start)
        start = time.process_time()
        _to_table(plain)
        without.append(time.process_time() - start)
    if table.column("proba").null_count:
        raise SystemExit("probabilities missing from the log")
    return {
        "requests": requests,
        "rows": rows,
        "with_proba": with_proba,
        "without": without,
        "one_by_one": one_by_one,
    }


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "drift":
        out = drift(args[0], args[1])
    elif mode == "profile":
        out = profile(args[0], int(args[1]))
    elif mode == "detect":
        out = detect(int(args[0]), int(args[1]))
    elif mode == "cbpe":
        out = cbpe(args[0])
    elif mode == "predlog":
        out = predlog(int(args[0]), int(args[1]))
    elif mode == "merge":
        out = merge(args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
