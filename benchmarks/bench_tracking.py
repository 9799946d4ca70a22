"""Experiment tracking, Cairn against MLflow, both on an embedded SQLite store.

Each tool in its own process, every repeat in a fresh temporary workspace: single
``log_metric`` calls (the flush at run end included) against MLflow's synchronous and
asynchronous logging, runs created with 5 params and 5 metrics, a metric-filtered search
over 10,000 runs (populated by copying rows in SQL, and logged run by run through the
public API), and the wall time of ``--help``. Run alone with
``python benchmarks/bench_tracking.py [--quick]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from common import (
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
    wall_times,
)

MLFLOW = ["mlflow==3.17.2"]


@dataclass(frozen=True)
class Sizes:
    """How much work each side does (MLflow is given less: it is orders slower)."""

    metric_calls: tuple[int, int]  # (Cairn, MLflow) log_metric calls per repeat
    runs: tuple[int, int]  # runs created per repeat
    repeats: tuple[int, int]  # repeats of the two write benchmarks
    search_runs: int  # runs in the searched store
    search_api_runs: int  # runs in the store populated through the public API
    search_repeats: tuple[int, int]
    help_repeats: tuple[int, int]


FULL = Sizes((50_000, 500), (300, 50), (5, 3), 10_000, 10_000, (20, 5), (10, 5))
QUICK = Sizes((10_000, 200), (100, 20), (3, 3), 10_000, 2_000, (5, 3), (5, 3))


def _spread(seconds: list[float], n: int, unit: str) -> str:
    rates = sorted(n / s for s in seconds)
    return f"{rates[0]:,.0f}-{rates[-1]:,.0f} {unit} over {len(seconds)} repeats"


def _write_rate(
    mode: str,
    label: str,
    unit: str,
    sizes: Sizes,
    target: float,
    notes: list[str],
) -> Result:
    ns = sizes.metric_calls if mode == "log_metric" else sizes.runs
    cairn_n, peer_n = ns
    script_cairn = WORKERS / "tracking_cairn.py"
    script_peer = WORKERS / "tracking_mlflow.py"
    log(f"tracking: {mode}, Cairn x{cairn_n}")
    ours = run_worker(
        cairn_python(), script_cairn, [mode, str(cairn_n), str(sizes.repeats[0])], 600
    )
    log(f"tracking: {mode}, MLflow x{peer_n}")
    theirs = run_worker(
        peer_python("mlflow", MLFLOW), script_peer, [mode, str(peer_n), str(sizes.repeats[1])], 600
    )
    for side, data, n in (("Cairn", ours, cairn_n), ("MLflow", theirs, peer_n)):
        if any(stored != n for stored in data["stored"]):
            raise BenchmarkError(f"{side} stored {data['stored']} of {n} per repeat")
    cairn_rate = cairn_n / median(ours["seconds"])
    peer_rate = peer_n / median(theirs["seconds"])
    notes.append(
        f"{label}: Cairn {cairn_n:,} per repeat ({_spread(ours['seconds'], cairn_n, unit)}); "
        f"MLflow {peer_n:,} per repeat ({_spread(theirs['seconds'], peer_n, unit)})."
    )
    return compare(
        label,
        "throughput",
        cairn_rate,
        peer_rate,
        unit,
        higher_is_better=True,
        target=f">= {target:g}x MLflow",
        check=lambda _c, ratio: ratio >= target,
    )


def _log_metric_async(sizes: Sizes, notes: list[str]) -> Result:
    """Cairn's ``log_metric`` against MLflow's ``synchronous=False``, the same call count.

    Both tools make exactly the MLflow row's number of calls (MLflow's asynchronous
    logging measured no faster per call than its synchronous one here, so Cairn's larger
    count would take it tens of minutes), so a run's fixed costs weigh the same on both.
    """
    n = sizes.metric_calls[1]
    log(f"tracking: log_metric, Cairn x{n}")
    ours = run_worker(
        cairn_python(),
        WORKERS / "tracking_cairn.py",
        ["log_metric", str(n), str(sizes.repeats[0])],
        600,
    )
    log(f"tracking: log_metric, MLflow synchronous=False x{n}")
    theirs = run_worker(
        peer_python("mlflow", MLFLOW),
        WORKERS / "tracking_mlflow.py",
        ["log_metric_async", str(n), str(sizes.repeats[1])],
        900,
    )
    for side, data in (("Cairn", ours), ("MLflow (async)", theirs)):
        if any(stored != n for stored in data["stored"]):
            raise BenchmarkError(f"{side} stored {data['stored']} of {n} per repeat")
    notes.append(
        f"log_metric against MLflow's asynchronous logging: both tools {n:,} calls per "
        f"repeat, timed until the run has ended and every point is written (MLflow: "
        f"`synchronous=False`, `end_run` waits for its queue). Cairn "
        f"{_spread(ours['seconds'], n, 'calls/s')}; MLflow "
        f"{_spread(theirs['seconds'], n, 'calls/s')}."
    )
    return compare(
        f"log_metric single calls ({n:,} each) vs MLflow `synchronous=False`",
        "throughput",
        n / median(ours["seconds"]),
        n / median(theirs["seconds"]),
        "calls/s",
        higher_is_better=True,
    )  # no target was set for this pairing: the figure is reported, not judged


def _search(sizes: Sizes, notes: list[str], api: bool = False) -> Result:
    runs = sizes.search_api_runs if api else sizes.search_runs
    n, mode = str(runs), "search_api" if api else "search"
    how = "logged through the API" if api else "copied in SQL"
    log(f"tracking: search over {runs:,} runs {how}, Cairn")
    ours = run_worker(
        cairn_python(),
        WORKERS / "tracking_cairn.py",
        [mode, n, str(sizes.search_repeats[0])],
        1800,
    )
    log(f"tracking: search over {runs:,} runs {how}, MLflow (population takes minutes)")
    theirs = run_worker(
        peer_python("mlflow", MLFLOW),
        WORKERS / "tracking_mlflow.py",
        [mode, n, str(sizes.search_repeats[1])],
        3600,
    )
    for side, data in (("Cairn", ours), ("MLflow", theirs)):
        if not data["full_runs"]:
            raise BenchmarkError(f"{side}'s search results lacked params or metrics")
    population = (
        "each run is logged through the tool's public API (Cairn: `start_run` with params "
        "and `log_metrics`; MLflow: `create_run`, `log_batch`, `set_terminated`)"
        if api
        else "one run is logged through each tool's API and its rows are copied in SQL"
    )
    ours_ms = sorted(s * 1000 for s in ours["seconds"])
    notes.append(
        f"search ({how}): {ours['total_runs']:,} runs in the Cairn store, "
        f"{ours['matched']:,} returned; {theirs['total_runs']:,} in MLflow's, "
        f"{theirs['matched']:,} returned. Warm repeats: Cairn {len(ours['seconds'])} "
        f"({ours_ms[0]:.1f}-{ours_ms[-1]:.1f} ms), MLflow {len(theirs['seconds'])}. "
        f"Population is not timed: {population}."
    )
    return compare(
        f"search_runs, {runs:,} runs {how}, `metrics.acc > 0.9`",
        "latency",
        median(ours["seconds"]) * 1000,
        median(theirs["seconds"]) * 1000,
        "ms",
        higher_is_better=False,
        target="<= 25 ms and >= 20x",
        check=lambda ms, ratio: ms <= 25 and ratio >= 20,
    )


def _help(sizes: Sizes, notes: list[str]) -> Result:
    cairn_cmd = [str(cairn_python().parent / "cairn"), "--help"]
    peer_cmd = [str(peer_python("mlflow", MLFLOW).parent / "mlflow"), "--help"]
    log("tracking: --help wall time")
    # One untimed run each, so both are measured with warm file caches.
    wall_times(cairn_cmd, 1)
    wall_times(peer_cmd, 1)
    ours = wall_times(cairn_cmd, sizes.help_repeats[0])
    theirs = wall_times(peer_cmd, sizes.help_repeats[1])
    notes.append(
        f"--help: {len(ours)} timed subprocess runs of Cairn (fastest {min(ours):.3f} s), "
        f"{len(theirs)} of MLflow (fastest {min(theirs):.2f} s), after one warm-up each."
    )
    return compare(
        "`cairn --help` vs `mlflow --help`",
        "wall time",
        median(ours),
        median(theirs),
        "s",
        higher_is_better=False,
        target="Cairn <= 0.3 s",
        check=lambda seconds, _r: seconds <= 0.3,
    )


def run(quick: bool) -> Section:
    """Measure the four tracking figures; ``quick`` shrinks the write sizes."""
    sizes = QUICK if quick else FULL
    mlflow_python = peer_python("mlflow", MLFLOW)
    section = Section(
        title="Tracking: Cairn vs MLflow (embedded SQLite)",
        peer="MLflow",
        versions={"MLflow": package_version(mlflow_python, "mlflow")},
    )
    notes = section.notes
    attempt(
        section,
        "log_metric",
        lambda: _write_rate("log_metric", "log_metric single calls", "calls/s", sizes, 100, notes),
    )
    attempt(section, "log_metric async", lambda: _log_metric_async(sizes, notes))
    attempt(
        section,
        "runs",
        lambda: _write_rate("runs", "runs with 5 params + 5 metrics", "runs/s", sizes, 20, notes),
    )
    attempt(section, "search", lambda: _search(sizes, notes))
    attempt(section, "search, API-logged", lambda: _search(sizes, notes, api=True))
    attempt(section, "--help", lambda: _help(sizes, notes))
    notes.append(
        "Each tool runs in its own process; every write repeat starts from a fresh "
        "workspace whose schema is created before the clock starts, after one small "
        "untimed round per process (first-call costs such as lazy imports). Every repeat "
        "checks that all points or runs were stored. Figures are medians."
    )
    return section


if __name__ == "__main__":
    main(run)
