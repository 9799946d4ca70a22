"""Cairn side of the tracking benchmark; runs in the project venv, imports only Cairn.

Usage: ``python tracking_cairn.py MODE N REPEATS`` with MODE one of ``log_metric``,
``runs``, ``search`` (population copied in SQL), ``search_api`` (population logged
through the API). Every repeat uses a fresh temporary workspace (embedded SQLite)
created before the clock starts. Prints one JSON object: ``{"seconds": [...], ...}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cairn


@contextlib.contextmanager
def fresh_workspace() -> Iterator[Path]:
    """A new workspace in a temporary directory, current for the duration (untimed)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        cairn.init(root)  # the workspace the fluent API uses from now on
        try:
            yield root
        finally:
            close_current()  # the database closes before its folder goes
            os.chdir("/")


def close_current() -> None:
    """Close the database of the workspace the fluent API uses."""
    from cairn.tracking.fluent import current_client

    current_client().workspace.close()


def bench_log_metric(n: int) -> tuple[float, int]:
    """Seconds for start_run + ``n`` single log_metric calls + the flush at run end.

    Also returns how many points the store holds afterwards (checked by the caller).
    """
    with fresh_workspace():
        start = time.perf_counter()
        with cairn.start_run(experiment="bench") as run:
            for step in range(n):
                cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        seconds = time.perf_counter() - start
        return seconds, len(cairn.get_metric_history(run.id, "loss"))


def bench_runs(n: int) -> tuple[float, int]:
    """Seconds to create ``n`` runs, each with 5 params and 5 metrics; runs stored."""
    params = {f"p{i}": str(i) for i in range(5)}
    with fresh_workspace():
        start = time.perf_counter()
        for i in range(n):
            with cairn.start_run(experiment="bench", params=params):
                cairn.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
        seconds = time.perf_counter() - start
        return seconds, len(cairn.search_runs(filter="metrics.m4 >= 4", max_results=n + 1))


def populate(db: Path, n: int, seed: int = 7) -> None:
    """Create ``n`` finished runs with a uniform ``acc`` metric, fast.

    One template run goes through Cairn's own API; its run row and its rows in every
    table keyed by run key are then copied ``n - 1`` times with new ids and new ``acc``
    values, so the copies are exactly what Cairn itself writes (population is not timed).
    The peer's worker populates its store the same way.
    """
    rng = random.Random(seed)
    with cairn.start_run(experiment="bench", params={f"p{i}": str(i) for i in range(5)}) as run:
        cairn.log_metrics({"acc": rng.random(), "loss": 0.5})
    template = run.id
    accs = [rng.random() for _ in range(n - 1)]
    close_current()  # release the database while it is written behind Cairn's back
    con = sqlite3.connect(db)
    # The run row is copied with a new id; the database assigns each copy a new run_key,
    # and the rows recorded on the template (keyed by its run_key) are copied to it.
    cols = [col[1] for col in con.execute("PRAGMA table_info('runs')")]
    (template_key,) = con.execute("SELECT run_key FROM runs WHERE id = ?", (template,)).fetchone()
    copied = [c for c in cols if c not in ("run_key", "id")]
    names = ", ".join(f'"{c}"' for c in copied)
    keys = []
    for _ in accs:
        cursor = con.execute(
            f"INSERT INTO runs (id, {names}) SELECT ?, {names} FROM runs WHERE run_key = ?",
            (uuid.uuid4().hex, template_key),
        )
        keys.append(cursor.lastrowid)
    children = [
        name
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if name != "runs"
        and "run_key" in [col[1] for col in con.execute(f"PRAGMA table_info('{name}')")]
    ]
    for table in children:
        info = list(con.execute(f"PRAGMA table_info('{table}')"))
        cols = [col[1] for col in info]
        # An INTEGER PRIMARY KEY (a rowid alias) gets a fresh value from SQLite.
        rowid = {col[1] for col in info if col[5] and col[2].upper() == "INTEGER"}
        rowid = rowid if sum(1 for col in info if col[5]) == 1 else set()
        rows = con.execute(f"SELECT * FROM {table} WHERE run_key = ?", (template_key,)).fetchall()
        new_rows = []
        for key, acc in zip(keys, accs, strict=True):
            for row in rows:
                record = dict(zip(cols, row, strict=True))
                record.update({c: None for c in rowid}, run_key=key)
                if table in ("metrics", "latest_metrics") and record.get("key") == "acc":
                    record["value"] = acc
                new_rows.append(tuple(record[c] for c in cols))
        marks = ",".join("?" * len(cols))
        con.executemany(f"INSERT INTO {table} VALUES ({marks})", new_rows)
    con.commit()
    con.close()
    cairn.init(db.parent.parent)  # reopen: the fluent API reads the populated store


def populate_api(n: int, seed: int = 7) -> None:
    """Create ``n`` finished runs through Cairn's public API, one run at a time.

    Each run gets the same 5 params and ``acc``/``loss`` metrics as :func:`populate`, and
    the ``acc`` values follow the same sequence as the MLflow worker's (population is not
    timed). Runs written one by one land in the tables in the order real use writes them,
    which the SQL copies of :func:`populate` do not reproduce.
    """
    rng = random.Random(seed)
    params = {f"p{i}": str(i) for i in range(5)}
    for _ in range(n):
        with cairn.start_run(experiment="bench", params=params):
            cairn.log_metrics({"acc": rng.random(), "loss": 0.5})


def bench_search(n_runs: int, repeats: int, api: bool = False) -> dict[str, object]:
    """Populate ``n_runs`` runs once (copied in SQL, or through the API with ``api``),
    then time ``repeats`` warm searches."""
    with fresh_workspace() as root:
        db = root / ".cairn" / "cairn.db"
        if api:
            populate_api(n_runs)
        else:
            populate(db, n_runs)
        os.sync()  # write the population out now, not during the timed searches
        with sqlite3.connect(db) as con:
            (total,) = con.execute("SELECT count(*) FROM runs").fetchone()
        found = cairn.search_runs(filter="metrics.acc > 0.9", max_results=1000)  # warm-up
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            found = cairn.search_runs(filter="metrics.acc > 0.9", max_results=1000)
            seconds.append(time.perf_counter() - start)
        items = list(getattr(found, "items", found))
        sample = items[0]
        return {
            "seconds": seconds,
            "total_runs": total,
            "matched": len(items),
            "full_runs": bool(sample.params) and "acc" in sample.metrics,
        }


def main() -> None:
    mode, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode in ("search", "search_api"):
        result: dict[str, object] = bench_search(n, repeats, api=mode == "search_api")
    else:
        bench = {"log_metric": bench_log_metric, "runs": bench_runs}[mode]
        bench(10)  # untimed: first-call costs (lazy imports, caches) stay out of the figures
        seconds, stored = zip(*(bench(n) for _ in range(repeats)), strict=True)
        result = {"seconds": list(seconds), "stored": list(stored)}
    result["n"] = n
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
