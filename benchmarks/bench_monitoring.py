"""Drift monitoring: Cairn against Evidently, whylogs and NannyML, same machine, one run.

- Drift on 1,000,000 rows x 20 numeric + 5 categorical columns (reference and current,
  a shift planted on four columns): Cairn's computation as ``cairn monitor check`` does
  it (profile the reference, sketch the current rows, test every column) against
  Evidently's ``Report([DataDriftPreset()]).run(current, reference)``: wall time, extra
  memory (peak RSS minus the RSS after loading the frames, each in its own process) and
  the columns each flagged.
- Profiling rows/s of the same frame: Cairn's profile against ``whylogs.log``.
- Detection quality of every test on synthetic shifts of known size, and its
  false-positive rate on unshifted columns, at the default thresholds.
- Performance estimation: the MAE of the estimated accuracy against the realized one
  over windows of a growing covariate shift, Cairn's CBPE next to NannyML's.
- A day of prediction log: merging 24 cached hourly sketches against one pass over the
  day's rows (time and agreement).
- The prediction log writer's CPU per request for the class probabilities it logs.

Run alone with ``python benchmarks/bench_monitoring.py [--quick]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BENCH_DIR,
    WORKERS,
    BenchmarkError,
    Result,
    Section,
    attempt,
    cairn_python,
    compare,
    log,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

EVIDENTLY = ["evidently==0.7.23", "pandas<3"]
WHYLOGS = ["whylogs==1.6.4", "pandas<3", "pyarrow"]
NANNYML = ["nannyml==0.13.1", "statsmodels", "pyarrow"]
WORK = BENCH_DIR / ".work" / "monitoring"
#: Columns the current frame shifts, and how (what both tools should flag).
PLANTED = {
    "num_00": "mean +0.5 std",
    "num_01": "mean +0.3 std",
    "num_02": "std x1.6",
    "cat_2": "share of 'a' 0.32 -> 0.18",
}


@dataclass(frozen=True)
class Sizes:
    rows: int  # rows of the reference and of the current frame
    drift_repeats: int  # processes per tool (each loads the frames once)
    profile_repeats: int
    detect_repeats: int
    merge_rows: int  # rows per hour of the logged day


FULL = Sizes(1_000_000, 3, 3, 100, 50_000)
QUICK = Sizes(100_000, 1, 1, 10, 5_000)


def _cairn() -> Path:
    return cairn_python()


# --- data -----------------------------------------------------------------------------


def _frame(n: int, seed: int, shifted: bool) -> Any:
    """20 numeric columns (normal, lognormal, integer shapes) and 5 categorical ones."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for k in range(20):
        mean, std = k * 1.5, 1.0 + k % 4
        if k % 5 == 4:
            x = rng.lognormal(0.0, 0.7, n) * std
        elif k % 5 == 3:
            x = rng.integers(0, 100, n).astype(np.float64)
        else:
            x = rng.normal(mean, std, n)
        cols[f"num_{k:02d}"] = x
    cats = np.array(["a", "b", "c", "d", "e", "f", "g", "h"])
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.06, 0.05, 0.04])
    for k in range(5):
        cols[f"cat_{k}"] = rng.choice(cats[: 4 + k], n, p=p[: 4 + k] / p[: 4 + k].sum())
    if shifted:
        cols["num_00"] = cols["num_00"] + 0.5 * 1.0  # num_00 has std 1
        cols["num_01"] = cols["num_01"] + 0.3 * 2.0  # num_01 has std 2
        cols["num_02"] = (cols["num_02"] - 3.0) * 1.6 + 3.0
        q = np.array([0.15, 0.2, 0.15, 0.1, 0.1, 0.06])
        cols["cat_2"] = rng.choice(cats[:6], n, p=q / q.sum())
    return pa.table(cols)


def _frames(rows: int) -> tuple[Path, Path]:
    """The reference and current Parquet files (made once per size, then reused)."""
    import pyarrow.parquet as pq

    WORK.mkdir(parents=True, exist_ok=True)
    ref, cur = WORK / f"reference-{rows}.parquet", WORK / f"current-{rows}.parquet"
    if not (ref.exists() and cur.exists()):
        log(f"monitoring: writing {rows:,}-row frames")
        pq.write_table(_frame(rows, 1, False), ref)
        pq.write_table(_frame(rows, 2, True), cur)
    return ref, cur


# --- drift against Evidently -----------------------------------------------------------


def _drift(sizes: Sizes, section: Section) -> None:
    ref, cur = _frames(sizes.rows)
    evidently = peer_python("evidently", EVIDENTLY)
    section.versions["Evidently"] = package_version(evidently, "evidently")
    ours, theirs = [], []
    for i in range(sizes.drift_repeats):
        log(f"monitoring: drift {i + 1}/{sizes.drift_repeats}, Cairn")
        ours.append(run_worker(_cairn(), WORKERS / "monitoring_cairn.py", ["drift", ref, cur], 900))
        log(f"monitoring: drift {i + 1}/{sizes.drift_repeats}, Evidently")
        theirs.append(run_worker(evidently, WORKERS / "monitoring_evidently.py", [ref, cur], 1800))
    ours_s = median([o["seconds"] for o in ours])
    theirs_s = median([t["seconds"] for t in theirs])
    ours_mb = median([o["peak_mb"] - o["loaded_mb"] for o in ours])
    theirs_mb = median([t["peak_mb"] - t["loaded_mb"] for t in theirs])
    ours_cpu = median([o["cpu_seconds"] for o in ours])
    theirs_cpu = median([t["cpu_seconds"] for t in theirs])
    label = f"drift vs Evidently, {sizes.rows:,} rows x 25 columns"
    section.results.append(
        compare(
            label,
            "wall time",
            ours_s,
            theirs_s,
            "s",
            higher_is_better=False,
            target=">= 20x faster",
            check=lambda _c, r: r >= 20,
        )
    )
    section.results.append(
        compare(label, "CPU time", ours_cpu, theirs_cpu, "s", higher_is_better=False)
    )
    section.results.append(
        compare(
            label,
            "extra memory",
            ours_mb,
            theirs_mb,
            "MiB",
            higher_is_better=False,
            target="<= 1/5 of Evidently's",
            check=lambda _c, r: r >= 5,
        )
    )
    flagged_ours, flagged_theirs = ours[0]["drifted"], theirs[0]["drifted"]
    same = flagged_ours == flagged_theirs
    section.results.append(
        Result(
            label,
            "columns flagged",
            float(len(flagged_ours)),
            float(len(flagged_theirs)),
            "columns",
            None,
            f"same columns as Evidently ({len(PLANTED)} planted)",
            same and sorted(PLANTED) == flagged_ours,
        )
    )
    planted = ", ".join(f"{c} ({how})" for c, how in PLANTED.items())
    section.notes.append(
        f"Drift: planted shifts {planted}. Cairn flagged {', '.join(flagged_ours) or 'none'} "
        f"({', '.join(ours[0]['tests'])}); Evidently flagged "
        f"{', '.join(flagged_theirs) or 'none'} ({', '.join(theirs[0]['tests'])}). "
        f"Largest unshifted score: Cairn {_largest_other(ours[0]):.3f}, Evidently "
        f"{_largest_other(theirs[0]):.3f} (threshold 0.1 for both)."
    )
    section.notes.append(
        "Drift timing: each tool in its own process per repeat, after a 2,000-row warm-up "
        "run; Cairn reads the Parquet files as Arrow tables, Evidently as pandas frames "
        "(numeric and categorical columns declared). Extra memory is the peak RSS of the "
        "computation (kernel high-water mark, reset after loading) minus the RSS after "
        f"loading. Wall {_spread(ours, 'seconds')} s (Cairn) and "
        f"{_spread(theirs, 'seconds')} s (Evidently); loaded frames "
        f"{median([o['loaded_mb'] for o in ours]):,.0f} MiB (Cairn) and "
        f"{median([t['loaded_mb'] for t in theirs]):,.0f} MiB (Evidently)."
    )


def _largest_other(data: dict[str, Any]) -> float:
    scores = [v for k, v in data["scores"].items() if k not in PLANTED and v is not None]
    return max(scores) if scores else 0.0


def _spread(runs: list[dict[str, Any]], key: str) -> str:
    values = sorted(r[key] for r in runs)
    return f"{values[0]:.1f}-{values[-1]:.1f}" if len(values) > 1 else f"{values[0]:.1f}"


# --- profiling against whylogs ---------------------------------------------------------


def _profile(sizes: Sizes, section: Section) -> Result:
    ref, _ = _frames(sizes.rows)
    ours = run_worker(
        _cairn(), WORKERS / "monitoring_cairn.py", ["profile", ref, sizes.profile_repeats], 900
    )
    rows = ours["rows"]
    sketch_rate = rows / median(ours["sketch_seconds"])
    try:
        whylogs = peer_python("whylogs", WHYLOGS)
        section.versions["whylogs"] = package_version(whylogs, "whylogs")
        theirs = run_worker(
            whylogs, WORKERS / "monitoring_whylogs.py", [ref, sizes.profile_repeats], 1800
        )
    except BenchmarkError as exc:
        section.notes.append(f"whylogs profiling: not measured ({exc}).")
        raise
    section.notes.append(
        f"Profiling: {rows:,} rows x 25 columns, median of {sizes.profile_repeats}. Cairn's "
        "profile is two passes (moments, quantile sample, distinct count, top values, then "
        "exact bin counts); sketching a window against it (what each hour of the "
        f"prediction log costs) runs at {sketch_rate:,.0f} rows/s."
    )
    return compare(
        "profile vs whylogs, same frame",
        "throughput",
        rows / median(ours["profile_seconds"]),
        rows / median(theirs["seconds"]),
        "rows/s",
        higher_is_better=True,
    )


# --- detection quality -------------------------------------------------------------------


def _detection(sizes: Sizes, section: Section) -> None:
    data = run_worker(
        _cairn(), WORKERS / "monitoring_cairn.py", ["detect", 11, sizes.detect_repeats], 1800
    )
    rows = ["| test @ window rows | shift | flagged | rate |", "|---|---|---:|---:|"]
    worst_fp = 0.0
    for key, cells in data["counts"].items():
        for shift, (hits, total) in cells.items():
            rate = hits / total if total else 0.0
            if shift.endswith(":0"):
                worst_fp = max(worst_fp, rate)
            what, size = shift.split(":")
            label = (
                "none"
                if size == "0"
                else (f"mean +{size} std" if what == "mean" else f"{float(size):.0%} of rows moved")
            )
            rows.append(f"| {key} | {label} | {hits}/{total} | {rate:.0%} |")
    section.results.append(
        Result(
            "detection, unshifted columns",
            "worst false-positive rate",
            worst_fp,
            None,
            "share",
            None,
            "<= 5% at the default thresholds",
            worst_fp <= 0.05,
        )
    )
    section.notes.append(
        f"Detection quality ({data['repeats']} repeats, each a fresh 10,000-row reference "
        "and fresh windows; numeric shapes normal, lognormal and integers; the categorical "
        "column has six categories and the shift moves rows from the commonest and a rare "
        "one to the rarest). Each test at the window size where it is the default "
        "(p-value tests below 1,000 rows); psi at 0.25:\n\n" + "\n".join(rows) + "\n"
    )


# --- performance estimation -------------------------------------------------------------

WINDOW_ROWS = 5_000
SHIFTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def _cbpe_data(folder: Path) -> list[float]:
    """Reference and shifted windows scored by one classifier; the realized accuracies."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)

    def draw(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.column_stack([rng.normal(shift, 1.0, n), rng.normal(0, 1, n), rng.normal(0, 1, n)])
        # The label depends on x the same way everywhere (a covariate shift); the model is
        # linear, the truth is not quite, as in life.
        logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 0] * x[:, 2]
        return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)

    x_train, y_train = draw(20_000, 0.0)
    model = LogisticRegression().fit(x_train, y_train)
    x_ref, y_ref = draw(20_000, 0.0)
    proba = model.predict_proba(x_ref)[:, 1]
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"proba": proba, "y_pred": (proba > 0.5).astype(int), "y_true": y_ref}),
        folder / "reference.parquet",
    )
    parts, realized = [], []
    for w, shift in enumerate(SHIFTS):
        x, y = draw(WINDOW_ROWS, shift)
        p = model.predict_proba(x)[:, 1]
        pred = (p > 0.5).astype(int)
        realized.append(float((pred == y).mean()))
        parts.append(
            pa.table({"window": np.full(len(y), w), "proba": p, "y_pred": pred, "y_true": y})
        )
    pq.write_table(pa.concat_tables(parts), folder / "windows.parquet")
    return realized


def _cbpe(section: Section) -> Result:
    folder = WORK / "cbpe"
    realized = _cbpe_data(folder)
    ours = run_worker(_cairn(), WORKERS / "monitoring_cairn.py", ["cbpe", folder], 600)
    estimated = [w["estimated"] for w in ours["windows"]]
    ours_mae = float(np.mean(np.abs(np.array(estimated) - np.array(realized))))
    spread = f"{realized[0]:.3f} -> {realized[-1]:.3f}"
    try:
        nannyml = peer_python("nannyml", NANNYML)
        section.versions["NannyML"] = package_version(nannyml, "nannyml")
        theirs = run_worker(nannyml, WORKERS / "monitoring_nannyml.py", [folder], 900)
    except BenchmarkError as exc:
        section.notes.append(f"Performance estimation: NannyML not measured ({exc}).")
        return Result(
            "estimated accuracy", "MAE vs realized", ours_mae, None, "accuracy", None, "", None
        )
    theirs_mae = float(np.mean(np.abs(np.array(theirs["estimated"]) - np.array(realized))))
    section.notes.append(
        f"Performance estimation: a logistic model on 3 features, {len(SHIFTS)} windows of "
        f"{WINDOW_ROWS:,} rows with the first feature's mean shifted by "
        f"{SHIFTS[0]:g}..{SHIFTS[-1]:g} std (realized accuracy {spread}); both fitted on the "
        "same 20,000 labelled reference rows and the same probabilities. Cairn per window: "
        + ", ".join(f"{e:.3f}" for e in estimated)
        + "; NannyML: "
        + ", ".join(f"{e:.3f}" for e in theirs["estimated"])
        + "; realized: "
        + ", ".join(f"{r:.3f}" for r in realized)
        + "."
    )
    return compare(
        "estimated accuracy vs NannyML CBPE",
        "MAE vs realized",
        ours_mae,
        theirs_mae,
        "accuracy",
        higher_is_better=False,
    )


# --- merging hourly sketches ---------------------------------------------------------------


def _merge(sizes: Sizes, section: Section) -> Result:
    data = run_worker(
        _cairn(),
        WORKERS / "monitoring_cairn.py",
        ["merge", WORK / "day", 24, sizes.merge_rows],
        1800,
    )
    if data["rows"] != data["rows_full"] or data["cached_sketches"] != 24:
        raise BenchmarkError(f"merged and full sketches disagree on rows: {data}")
    section.notes.append(
        f"A day of log: 24 hours x {sizes.merge_rows:,} rows x 11 features. The merged "
        f"window and the one pass agree: same bin counts and flags "
        f"({data['same_flags_and_bins']}), drift scores within {data['max_score_diff']:.4f}, "
        f"the merged sketch's percentiles (1st..99th) sit within {data['max_rank_diff']:.2%} "
        "of their rank in the one-pass sketch (KLL bound: 1.33%)."
    )
    return compare(
        "day window: merge 24 hourly sketches (peer: one pass over the rows)",
        "wall time",
        median(data["merged_seconds"]),
        median(data["full_seconds"]),
        "s",
        higher_is_better=False,
    )


# --- the prediction log's probabilities ------------------------------------------------------


def _predlog(sizes: Sizes, section: Section) -> Result:
    requests = 200 if sizes is QUICK else 2_000
    data = run_worker(_cairn(), WORKERS / "monitoring_cairn.py", ["predlog", requests, 1], 900)
    extra = (median(data["with_proba"]) - median(data["without"])) / requests * 1e6
    alone = median(data["one_by_one"]) / requests * 1e6
    section.notes.append(
        f"Prediction log: {requests:,} one-row requests to a scikit-learn pipeline "
        "(one-hot encoder + logistic regression) turned into one log table; the writer "
        f"spends {median(data['without']) / requests * 1e6:,.0f} us per request without "
        f"probabilities and {extra:,.0f} us more with them (one joint predict_proba per "
        f"model and flush). One call per request, as the writer did before, costs "
        f"{alone:,.0f} us per request (CPU time, the writer thread holds the GIL)."
    )
    return compare(
        "prediction log: class probabilities (peer: one call per request)",
        "CPU per request",
        extra,
        alone,
        "us",
        higher_is_better=False,
    )


def run(quick: bool) -> Section:
    sizes = QUICK if quick else FULL
    section = Section(title="Monitoring: Cairn vs Evidently, whylogs, NannyML", peer="peer")
    attempt(section, "drift vs Evidently", lambda: _drift_rows(sizes, section))
    attempt(section, "profile vs whylogs", lambda: _profile(sizes, section))
    attempt(section, "detection quality", lambda: _detection_rows(sizes, section))
    attempt(section, "performance estimation", lambda: _cbpe(section))
    attempt(section, "merge hourly sketches", lambda: _merge(sizes, section))
    attempt(section, "prediction log probabilities", lambda: _predlog(sizes, section))
    return section


def _drift_rows(sizes: Sizes, section: Section) -> Result:
    """Adds the drift rows and returns the last (``attempt`` appends one result)."""
    _drift(sizes, section)
    return section.results.pop()


def _detection_rows(sizes: Sizes, section: Section) -> Result:
    _detection(sizes, section)
    return section.results.pop()


if __name__ == "__main__":
    main(run)
