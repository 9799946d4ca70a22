"""Fast test data for the UI: many runs copied in SQL, long metric series, model versions.

Copying rows of one run logged through Cairn's API (as benchmarks/workers/tracking_cairn.py
does) makes 100,000 runs in seconds, each exactly what Cairn itself writes.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

import cairn
from cairn.store.registry import NewModelVersion
from cairn.types import Metric
from cairn.workspace import Workspace


def log_template(ws: Workspace, experiment: str = "bench") -> str:
    """One finished run with params p0..p4 and metrics acc, loss: the row template."""
    tracking = ws.tracking
    exp = tracking.create_experiment(experiment)
    run = tracking.create_run(exp.id, name="template", params={f"p{i}": str(i) for i in range(5)})
    tracking.end_run(
        run.id,
        cairn.RunStatus.FINISHED,
        metrics=[Metric("acc", 0.5, 0, 1), Metric("loss", 0.5, 0, 1)],
    )
    return run.id


def copy_runs(db: Path, template: str, n: int, seed: int = 7) -> None:
    """``n`` copies of run ``template`` with new ids, names, start times and ``acc``
    (run ``i`` has ``acc = i / n`` shuffled, so a filter's match count is known)."""
    rng = random.Random(seed)
    accs = [i / n for i in range(n)]
    rng.shuffle(accs)
    copies = [
        (uuid.uuid4().hex, f"run-{i:06d}", 1_700_000_000_000 + i * 1000, accs[i]) for i in range(n)
    ]
    con = sqlite3.connect(db)
    # Each copy of the run row gets a new id and a new run_key from the database; the
    # rows recorded on the template (keyed by its run_key) are copied to that key.
    cols = [c[1] for c in con.execute("PRAGMA table_info('runs')")]
    (template_key,) = con.execute("SELECT run_key FROM runs WHERE id = ?", (template,)).fetchone()
    copied = [c for c in cols if c not in ("run_key", "id", "name", "start_time", "end_time")]
    names = ", ".join(f'"{c}"' for c in copied)
    keys = []
    for new_id, name, start, _ in copies:
        cursor = con.execute(
            f"INSERT INTO runs (id, name, start_time, end_time, {names}) "
            f"SELECT ?, ?, ?, ?, {names} FROM runs WHERE run_key = ?",
            (new_id, name, start, start + 500, template_key),
        )
        keys.append(cursor.lastrowid)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    children = [
        t
        for t in tables
        if t != "runs" and "run_key" in [c[1] for c in con.execute(f"PRAGMA table_info('{t}')")]
    ]
    for table in children:
        info = list(con.execute(f"PRAGMA table_info('{table}')"))
        tcols = [c[1] for c in info]
        pk = [c for c in info if c[5]]
        rowid = {pk[0][1]} if len(pk) == 1 and pk[0][2].upper() == "INTEGER" else set()
        rows = con.execute(f"SELECT * FROM {table} WHERE run_key = ?", (template_key,)).fetchall()
        out = []
        for key, (_, _, _, acc) in zip(keys, copies, strict=True):
            for row in rows:
                rec = dict(zip(tcols, row, strict=True))
                rec.update({c: None for c in rowid}, run_key=key)
                if table in ("metrics", "latest_metrics") and rec.get("key") == "acc":
                    rec["value"] = acc
                out.append(tuple(rec[c] for c in tcols))
        con.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(tcols))})", out)
    con.execute("DELETE FROM runs WHERE run_key = ?", (template_key,))  # children cascade
    for table in children:
        con.execute(f"DELETE FROM {table} WHERE run_key = ?", (template_key,))
    con.commit()
    con.close()


def many_runs(ws: Workspace, n: int, experiment: str = "bench") -> None:
    """``n`` runs in ``experiment`` of the SQLite workspace ``ws``."""
    template = log_template(ws, experiment)
    assert ws.root is not None
    copy_runs(ws.root / ".cairn" / "cairn.db", template, n)


def long_run(ws: Workspace, metrics: int, steps: int, experiment: str = "curves") -> str:
    """A run with ``metrics`` series of ``steps`` points each (a dip at 70% of each)."""
    tracking = ws.tracking
    exp = tracking.create_experiment(experiment)
    run = tracking.create_run(exp.id, name="long", params={"lr": "0.01"})
    for m in range(metrics):
        points = [
            Metric(f"m{m}", (-5.0 if s == int(steps * 0.7) else 1.0 / (1 + s) + m), s, s)
            for s in range(steps)
        ]
        for i in range(0, steps, 50_000):
            tracking.log_batch(run.id, points[i : i + 50_000])
    tracking.end_run(run.id, cairn.RunStatus.FINISHED)
    return run.id


def model_versions(ws: Workspace, name: str, run_id: str | None, count: int) -> None:
    """``count`` versions of model ``name`` (records only: the UI never loads them)."""
    store = ws.registry
    store.create_model(name)
    for i in range(count):
        store.create_version(
            NewModelVersion(name=name, digest=f"{i:064x}", flavor="sklearn", run_id=run_id)
        )


def trials(ws: Workspace, n: int, steps: int, experiment: str = "trials") -> list[str]:
    """``n`` tuning trials logged through the API: params ``lr`` (varies), ``depth``
    (3 values) and ``seed`` (the same everywhere); ``acc`` and ``loss`` over ``steps``
    steps; trial ``i`` ends at ``acc = i / n``. Returns the run ids in creation order."""
    tracking = ws.tracking
    exp = tracking.create_experiment(experiment)
    ids = []
    for i in range(n):
        params = {"lr": f"{0.001 * (i + 1):.4f}", "depth": str(3 + i % 3), "seed": "42"}
        run = tracking.create_run(exp.id, name=f"trial-{i:03d}", params=params)
        final = i / n
        points = [
            m
            for s in range(steps)
            for m in (
                Metric("acc", final * (s + 1) / steps, s, s),
                Metric("loss", 1.0 - final * (s + 1) / steps, s, s),
            )
        ]
        tracking.log_batch(run.id, points)
        tracking.end_run(run.id, cairn.RunStatus.FINISHED)
        ids.append(run.id)
    return ids
