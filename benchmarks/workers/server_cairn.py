"""Cairn side of the server benchmark; runs under the project's interpreter.

Usage: ``python server_cairn.py main STORE_URI SIZES_JSON`` starts ``cairn server`` over
STORE_URI (SQLite or PostgreSQL) and measures, through the public API over HTTP:
``log_metric`` calls/s from one client, runs created per second, a search over 10,000
runs, the throughput of 8 client processes, and the server's memory at idle and under
load. With ``"big"`` in the sizes, it also searches a store of that many runs, embedded
and over HTTP. Populations are copied in SQL from one template run written through the
API (not timed). ``python server_cairn.py client RUNS`` is one of the 8 clients. Prints
one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from server_common import PeakRss, clients, free_port, tree_rss_mib, wait_go, wait_http

import cairn
import cairn.workspace

PARAMS = {f"p{i}": str(i) for i in range(5)}
QUERY = {"filter": "metrics.acc > 0.9", "max_results": 1000}


def use(tracking: str, artifacts: str | None = None) -> None:
    os.environ["CAIRN_TRACKING_URI"] = tracking
    if artifacts is None:
        os.environ.pop("CAIRN_ARTIFACT_URI", None)
    else:
        os.environ["CAIRN_ARTIFACT_URI"] = artifacts
    cairn.workspace.reset()


def one_run(i: int, experiment: str = "bench") -> None:
    with cairn.start_run(experiment=experiment, params=PARAMS):
        cairn.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})


def populate(store: str, n: int, artifacts: str) -> None:
    """``n`` finished runs in experiment ``search``: one through the API, the others
    copies of its rows made by the database itself (INSERT ... SELECT), each with its own
    id and run key and a uniform random ``acc``."""
    from cairn.store.sql import tables as t
    from cairn.store.sql.database import normalize_url

    use(store, artifacts)
    with cairn.start_run(experiment="search", params=PARAMS) as run:
        cairn.log_metrics({"acc": 0.5, "loss": 0.5})
    template = run.id
    cairn.workspace.reset()
    engine = sa.create_engine(normalize_url(store))
    pg = engine.dialect.name == "postgresql"
    new_id = "lpad(to_hex(seq.i), 32, '0')" if pg else "printf('%032x', seq.i)"
    rand = "random()" if pg else "((abs(random()) % 1000000) / 1000000.0)"
    series = (
        f"generate_series(1, {n - 1}) AS seq(i)"
        if pg
        else f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1})"
        " SELECT i FROM s) AS seq"
    )
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        tkey, exp = conn.execute(
            sa.text("SELECT run_key, experiment_id FROM runs WHERE id = :id"), {"id": template}
        ).one()
        copied = [quote(c.name) for c in t.runs.c if c.name not in ("run_key", "id")]
        conn.execute(
            sa.text(
                f"INSERT INTO runs (id, {', '.join(copied)}) SELECT {new_id}, "
                f"{', '.join('src.' + c for c in copied)} FROM runs AS src, {series} "
                "WHERE src.id = :template"
            ),
            {"template": template},
        )
        # Every other table recorded on the template, keyed by its run key or its id,
        # is copied once per new run (metrics before latest_metrics, which repeats acc).
        for table in sorted(t.metadata.sorted_tables, key=lambda x: x.name != "metrics"):
            if table.name == "runs":
                continue
            if "run_key" in table.c:
                key, src_value = "run_key", ":tkey"
            elif "run_id" in table.c and table.c.run_id.foreign_keys:
                key, src_value = "run_id", ":template"
            else:
                continue
            cols, exprs = [], []
            for col in table.c:
                if col.primary_key and col.autoincrement is True:
                    continue  # a fresh id from the database
                cols.append(quote(col.name))
                if col.name == key:
                    exprs.append("r.run_key" if key == "run_key" else "r.id")
                elif col.name == "value" and table.name == "metrics":
                    exprs.append(f"CASE WHEN src.key = 'acc' THEN {rand} ELSE src.value END")
                elif col.name == "value" and table.name == "latest_metrics":
                    exprs.append(
                        "CASE WHEN src.key = 'acc' THEN (SELECT m.value FROM metrics AS m "
                        "WHERE m.run_key = r.run_key AND m.key = 'acc') ELSE src.value END"
                    )
                else:
                    exprs.append(f"src.{cols[-1]}")
            conn.execute(
                sa.text(
                    f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
                    f"FROM {table.name} AS src, runs AS r WHERE src.{key} = {src_value} "
                    "AND r.experiment_id = :exp AND r.run_key <> :tkey"
                ),
                {"template": template, "tkey": tkey, "exp": exp},
            )
    engine.dispose()


def timed_search(repeats: int) -> dict[str, Any]:
    found = cairn.search_runs(experiment="search", **QUERY)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = cairn.search_runs(experiment="search", **QUERY)
        seconds.append(time.perf_counter() - start)
    items = list(getattr(found, "items", found))
    return {"seconds": seconds, "matched": len(items), "full": bool(items[0].params)}


def start_server(
    store: str, artifacts: str, log: Path, auth: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    extra = [] if auth else ["--insecure-no-auth"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn",
            "server",
            "--store",
            store,
            "--artifacts",
            artifacts,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(store: str, sizes: dict[str, int]) -> dict[str, Any]:
    from cairn.store import open_metadata

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    artifacts = str(tmp / "artifacts")
    from cairn.access.admin import create_admin

    db = open_metadata(store, create=True)
    db.ensure_schema()
    auth = bool(sizes.get("auth", 1))
    if auth:  # every request carries an admin's API token, as a team's clients would
        os.environ["CAIRN_TRACKING_TOKEN"] = create_admin(db.access, "bench")[1].secret
    db.close()
    populate(store, sizes["search"], artifacts)
    out: dict[str, Any] = {}
    proc, url = start_server(store, artifacts, tmp / "server.log", auth)
    try:
        time.sleep(1.0)  # let start-up allocations settle before the idle reading
        out["rss_idle_mib"] = tree_rss_mib(proc.pid)
        use(url)
        one_run(0)  # warm: imports, connection, experiment lookup
        seconds = []
        for _ in range(sizes["repeats"]):
            start = time.perf_counter()
            with cairn.start_run(experiment="bench") as run:
                for step in range(sizes["metric_calls"]):
                    cairn.log_metric("loss", 1.0 / (step + 1), step=step)
            seconds.append(time.perf_counter() - start)
            stored = len(cairn.get_metric_history(run.id, "loss"))
            assert stored == sizes["metric_calls"], stored
        out["log_metric"] = {"n": sizes["metric_calls"], "seconds": seconds}
        seconds = []
        for _ in range(sizes["repeats"]):
            start = time.perf_counter()
            for i in range(sizes["runs"]):
                one_run(i)
            seconds.append(time.perf_counter() - start)
        out["runs"] = {"n": sizes["runs"], "seconds": seconds}
        out["search"] = timed_search(sizes["repeats"])
        env = {"CAIRN_TRACKING_URI": url, "BENCH_GO_FILE": str(tmp / "go")}
        with PeakRss(proc.pid) as peak:
            wall = clients(__file__, env, 8, sizes["client_runs"])
        out["clients"] = {"runs": 8 * sizes["client_runs"], "seconds": wall}
        out["rss_load_mib"] = peak.peak
    finally:
        stop(proc)
    big = sizes.get("big")
    if big:
        big_store = f"sqlite:///{tmp / 'big.db'}"
        open_metadata(big_store, create=True).ensure_schema()
        start = time.perf_counter()
        populate(big_store, big, artifacts)
        out["big_populate_seconds"] = time.perf_counter() - start
        if auth:
            db = open_metadata(big_store)
            os.environ["CAIRN_TRACKING_TOKEN"] = create_admin(db.access, "bench")[1].secret
            db.close()
        use(big_store, artifacts)
        out["big_embedded"] = timed_search(sizes["repeats"])
        use(store, artifacts)
        out["search_embedded"] = timed_search(sizes["repeats"])
        proc, url = start_server(big_store, artifacts, tmp / "server.log", auth)
        try:
            use(url)
            out["big_http"] = timed_search(sizes["repeats"])
        finally:
            stop(proc)
        out["big"] = big
    return out


def client(runs: int) -> None:
    cairn.search_runs(experiment="bench", max_results=1)  # connect before the clock
    wait_go(os.environ["BENCH_GO_FILE"])
    for i in range(runs):
        one_run(i)
    print(json.dumps({"runs": runs}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(int(sys.argv[2]))
    else:
        result = main(sys.argv[2], json.loads(sys.argv[3]))
        sys.stdout.write(json.dumps(result) + "\n")
