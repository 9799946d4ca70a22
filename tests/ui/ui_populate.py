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
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        info = list(con.execute(f"PRAGMA table_info('{table}')"))
        cols = [c[1] for c in info]
        key = "id" if table == "runs" else "run_id"
        if key not in cols:
            continue
        pk = [c for c in info if c[5]]
        rowid = {pk[0][1]} if len(pk) == 1 and pk[0][2].upper() == "INTEGER" else set()
        rows = con.execute(f"SELECT * FROM {table} WHERE {key} = ?", (template,)).fetchall()
        out = []
        for new_id, name, start, acc in copies:
            for row in rows:
                rec = {
                    c: None if c in rowid else (new_id if v == template else v)
                    for c, v in zip(cols, row, strict=True)
                }
                if table == "runs":
                    rec["name"], rec["start_time"], rec["end_time"] = name, start, start + 500
                if table in ("metrics", "latest_metrics") and rec.get("key") == "acc":
                    rec["value"] = acc
                out.append(tuple(rec[c] for c in cols))
        con.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(cols))})", out)
    con.execute("DELETE FROM runs WHERE id = ?", (template,))
    for table in tables:
        if "run_id" in [c[1] for c in con.execute(f"PRAGMA table_info('{table}')")]:
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", (template,))
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
