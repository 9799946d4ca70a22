"""``cairn server`` against ``mlflow server``, same machine, SQLite and PostgreSQL.

Each tool's worker starts its own server over a fresh store and measures through its
public client over HTTP: ``log_metric`` calls per second from one client (Cairn buffers
and sends batches; MLflow's ``log_metric`` is one request per call), runs created per
second (5 params, 5 metrics each), a metric-filtered search over 10,000 runs, the run
throughput of 8 client processes, and the server's resident memory at idle and at the
peak of the 8-client load. Cairn also searches 1,000,000 runs, embedded and over HTTP
(populated by copying one template run's rows in SQL; MLflow gets only the 10,000).
Run alone with ``python benchmarks/bench_server.py [--quick]``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import (
    WORKERS,
    Result,
    Section,
    cairn_python,
    compare,
    log,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2", "psycopg[binary]==3.3.9"]


def _sizes(quick: bool, tool: str) -> dict[str, int]:
    if quick:
        ours = {"metric_calls": 20_000, "runs": 50, "client_runs": 20, "big": 100_000}
        theirs = {"metric_calls": 50, "runs": 10, "client_runs": 5}
        common = {"search": 10_000, "repeats": 3}
    else:
        # MLflow is given less work: one request per log_metric call.
        ours = {"metric_calls": 50_000, "runs": 200, "client_runs": 50, "big": 1_000_000}
        theirs = {"metric_calls": 100, "runs": 30, "client_runs": 10}
        common = {"search": 10_000, "repeats": 3}
    return {**common, **(ours if tool == "cairn" else theirs)}


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL server (Debian's initdb/pg_ctl); None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        yield None
        return
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = str(base / "data")
    subprocess.run(
        [*as_pg, str(bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(
        [
            *as_pg,
            str(bindir / "pg_ctl"),
            "-D",
            data,
            "-o",
            opts,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_pg, str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def _createdb(host: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{host}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _measure(tool: str, store: str, quick: bool, **extra: int) -> dict[str, Any]:
    python = cairn_python() if tool == "cairn" else peer_python("mlflow", MLFLOW)
    script = WORKERS / f"server_{tool}.py"
    sizes = json.dumps({**_sizes(quick, tool), **extra})
    return run_worker(python, script, ["main", store, sizes], 3600, cwd=WORKERS)


def _rows(backend: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[Result]:
    def rate(d: dict[str, Any]) -> float:
        return float(d["n"]) / median(d["seconds"])

    rows = [
        compare(
            f"log_metric over HTTP ({backend})",
            "calls/s",
            rate(ours["log_metric"]),
            rate(theirs["log_metric"]),
            "calls/s",
            higher_is_better=True,
            target=">= 50x",
            check=lambda c, r: r >= 50,
        ),
        compare(
            f"runs created over HTTP ({backend})",
            "runs/s",
            rate(ours["runs"]),
            rate(theirs["runs"]),
            "runs/s",
            higher_is_better=True,
            target=">= 20x",
            check=lambda c, r: r >= 20,
        ),
    ]
    if "search" in ours and "search" in theirs:
        rows.append(
            compare(
                f"search 10,000 runs over HTTP ({backend})",
                "first 1,000 matches",
                median(ours["search"]["seconds"]) * 1000,
                median(theirs["search"]["seconds"]) * 1000,
                "ms",
                higher_is_better=False,
                target=">= 20x",
                check=lambda c, r: r >= 20,
            )
        )
    c_ours, c_theirs = ours["clients"], theirs["clients"]
    rows += [
        compare(
            f"8 client processes ({backend})",
            "runs/s",
            c_ours["runs"] / c_ours["seconds"],
            c_theirs["runs"] / c_theirs["seconds"],
            "runs/s",
            higher_is_better=True,
        ),
        compare(
            f"server memory, idle ({backend})",
            "RSS",
            ours["rss_idle_mib"],
            theirs["rss_idle_mib"],
            "MiB",
            higher_is_better=False,
        ),
        compare(
            f"server memory, 8 clients ({backend})",
            "peak RSS",
            ours["rss_load_mib"],
            theirs["rss_load_mib"],
            "MiB",
            higher_is_better=False,
        ),
    ]
    return rows


def _big_rows(ours: dict[str, Any], notes: list[str]) -> list[Result]:
    small = median(ours["search_embedded"]["seconds"]) * 1000
    small_http = median(ours["search"]["seconds"]) * 1000
    big = ours["big"]
    notes.append(
        f"The {big:,}-run store was populated in {ours['big_populate_seconds']:.0f} s by "
        "copying one template run's rows with INSERT ... SELECT (not timed); the rows are "
        "those Cairn itself writes. The MLflow column of these rows is Cairn's own "
        "10,000-run time: the target is a first page within 10x of it."
    )
    rows = []
    for where, key, base in (
        ("embedded", "big_embedded", small),
        ("over HTTP", "big_http", small_http),
    ):
        ms = median(ours[key]["seconds"]) * 1000
        rows.append(
            Result(
                f"search {big:,} runs {where} (SQLite)",
                "first 1,000 matches",
                ms,
                base,
                "ms",
                base / ms if ms else None,
                "<= 10x the 10,000-run time",
                ms <= 10 * base,
            )
        )
    return rows


def run(quick: bool) -> Section:
    section = Section(
        title="Server: cairn server vs mlflow server",
        peer="MLflow",
        versions={"MLflow": package_version(peer_python("mlflow", MLFLOW), "mlflow")},
    )
    notes = section.notes
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in ("cairn", "mlflow"):
            log(f"server: {tool} on SQLite")
            try:
                results[f"{tool}-sqlite"] = _measure(tool, f"sqlite:///{tmp}/{tool}.db", quick)
            except Exception as exc:  # reported in the section, the rest still runs
                section.error = f"{section.error or ''}\n{tool} on SQLite: {exc}".strip()
        log("server: cairn on SQLite without tokens (--insecure-no-auth)")
        try:
            results["cairn-open"] = _measure(
                "cairn", f"sqlite:///{tmp}/open.db", quick, auth=0, big=0
            )
        except Exception as exc:
            section.error = f"{section.error or ''}\ncairn without tokens: {exc}".strip()
    if "cairn-sqlite" in results and "cairn-open" in results:
        notes.append(_auth_cost(results["cairn-sqlite"], results["cairn-open"]))
    if "cairn-sqlite" in results and "mlflow-sqlite" in results:
        attempt_rows(section, "SQLite", results["cairn-sqlite"], results["mlflow-sqlite"])
    if "cairn-sqlite" in results and "big" in results["cairn-sqlite"]:
        section.results += _big_rows(results["cairn-sqlite"], notes)
    with _postgres() as host:
        if host is None:
            notes.append("PostgreSQL rows missing: initdb/pg_ctl not installed.")
        else:
            for tool, scheme in (("cairn", "postgresql"), ("mlflow", "postgresql+psycopg")):
                log(f"server: {tool} on PostgreSQL")
                _createdb(host, f"bench_{tool}")
                try:
                    results[f"{tool}-pg"] = _measure(
                        tool, f"{scheme}://postgres@{host}/bench_{tool}", quick
                    )
                except Exception as exc:
                    section.error = f"{section.error or ''}\n{tool} on PostgreSQL: {exc}".strip()
    if "cairn-pg" in results and "mlflow-pg" in results:
        attempt_rows(section, "PostgreSQL", results["cairn-pg"], results["mlflow-pg"])
    matched = {
        name: results[name]["search"]["matched"]
        for name in ("cairn-sqlite", "mlflow-sqlite")
        if "search" in results.get(name, {})
    }
    if matched:
        notes.append(
            "The search returns the first 1,000 runs with `metrics.acc > 0.9` (random in "
            "[0, 1)) among 10,000: "
            + ", ".join(f"{name.split('-')[0]} found {n:,}" for name, n in matched.items())
            + "."
        )
    notes += [
        "One client process per figure except the 8-client row; every server runs one "
        "worker process on 127.0.0.1. Runs: start, 5 params, 5 metrics, end. MLflow's "
        "client sends 4 requests per run; Cairn's sends 1 (the run's start goes with its "
        "end: `tracking.record_run`), the first run of an experiment 2. Memory is the "
        "server's process tree.",
        "The search over PostgreSQL is not measured (its population copy is SQLite-only on "
        "the MLflow side).",
        "Figures are medians; every side checks that what it logged was stored.",
    ]
    return section


def _auth_cost(on: dict[str, Any], off: dict[str, Any]) -> str:
    """Tokens on against off, Cairn on SQLite: what authentication and the audit log
    cost per figure."""

    def rate(d: dict[str, Any]) -> float:
        return float(d["n"]) / median(d["seconds"])

    pairs = [
        ("log_metric", rate(on["log_metric"]), rate(off["log_metric"]), "calls/s"),
        ("runs", rate(on["runs"]), rate(off["runs"]), "runs/s"),
        (
            "search 10,000",
            median(on["search"]["seconds"]) * 1000,
            median(off["search"]["seconds"]) * 1000,
            "ms",
        ),
        (
            "8 clients",
            on["clients"]["runs"] / on["clients"]["seconds"],
            off["clients"]["runs"] / off["clients"]["seconds"],
            "runs/s",
        ),
    ]
    text = "; ".join(f"{name} {a:,.1f} vs {b:,.1f} {unit}" for name, a, b, unit in pairs)
    return (
        "Cost of authentication (API token checked and every write audited) against the "
        f"same server with `--insecure-no-auth`, SQLite, tokens on vs off: {text}. The "
        "Cairn figures in the table are with tokens on."
    )


def attempt_rows(
    section: Section, backend: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    """Add one backend's rows; a figure missing from a worker's output is an error line."""
    try:
        section.results += _rows(backend, ours, theirs)
    except (KeyError, TypeError, ValueError) as exc:
        section.error = f"{section.error or ''}\n{backend} rows: {exc!r}".strip()


if __name__ == "__main__":
    main(run)
