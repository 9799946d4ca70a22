"""The records of a pipeline run on an embedded workspace (written with ``sqlite3``, see
:mod:`cairn.store.sql.embedded_pipelines`): the same rows as through the full stores,
committed before any step runs, and all-or-nothing for a fully cached run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import load

import cairn.workspace
from cairn.pipelines import PipelineFailed, run_pipeline
from cairn.store.sql import migrations
from cairn.store.sql.embedded_pipelines import EmbeddedPipelineRecords

FLOW = """
@cairn.step
def ingest(n: int, tags: list) -> list:
    return list(range(n)) + tags

@cairn.step
def half(rows: list, part: int) -> list:
    return rows[part::2]

@cairn.step
def total(parts: list) -> dict:
    return {"total": sum(len(p) for p in parts)}

@cairn.step
def explode(rows: list) -> int:
    raise ValueError("no rows today")

@cairn.step
def after(value: int) -> int:
    return value

@cairn.step(cache=False)
def stamp(summary: dict, label: str = "x") -> dict:
    return {**summary, "label": label}

@cairn.pipeline
def flow(n: int = 4, tags: list = [1, 2]):
    rows = ingest(n, tags)
    stamp(total([half(rows, 0), half(rows, 1)]))
    after(explode(rows))
"""

#: Columns whose values differ between any two runs (times, durations).
VOLATILE = {"start_time", "end_time", "created_at", "updated_at", "duration_ms"}


def _dump(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a pipeline run writes, with run ids replaced by their
    order of creation, the workspace folder by ``<root>``, and times left out."""
    conn = sqlite3.connect(root / ".cairn" / "cairn.db")
    try:
        ids = {
            run_id: f"run{i}"
            for i, (run_id,) in enumerate(conn.execute("SELECT id FROM runs ORDER BY rowid"))
        }
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for table in (
            "experiments",
            "runs",
            "params",
            "tags",
            "run_io",
            "pipeline_runs",
            "pipeline_steps",
            "pipeline_cache",
        ):
            cursor = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cursor.description]
            rows = []
            for row in cursor.fetchall():
                values = dict(zip(names, row, strict=True))
                if table == "tags" and values["key"] == "cairn.step.duration_ms":
                    values["value"] = "<ms>"
                rows.append(
                    tuple(
                        ids.get(v, v.replace(str(root), "<root>")) if isinstance(v, str) else v
                        for k, v in values.items()
                        if k not in VOLATILE
                    )
                )
            tables[table] = sorted(rows, key=repr)
        return tables
    finally:
        conn.close()


def _run_twice(root: Path) -> tuple[list[dict[str, str]], dict[str, list[tuple[Any, ...]]]]:
    """A new workspace at ``root``, the pipeline run twice in it: the step states of each
    run and the rows written. The same folder each time: the code digests name it."""
    import shutil

    from cairn.pipelines import codehash

    shutil.rmtree(root, ignore_errors=True)
    for name in [n for n in sys.modules if n.startswith("_cairn_pipeline_")]:
        del sys.modules[name]
    codehash._code_digest.cache_clear()
    ws = cairn.workspace.Workspace.init(root)
    (root / "flow.py").write_text("import cairn\n" + textwrap.dedent(FLOW), encoding="utf-8")
    pipe = load(root / "flow.py")
    states = []
    for params in ({"n": 5}, {"n": 5}):
        with pytest.raises(PipelineFailed) as failed:
            run_pipeline(pipe, params, workspace=ws)
        outcome = failed.value.outcome
        assert outcome is not None
        states.append({k: r.state for k, r in outcome.steps.items()})
    ws.close()
    return states, _dump(root)


def test_the_embedded_path_writes_the_same_records_as_the_full_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    real_open = EmbeddedPipelineRecords.open

    def spy(uri: str) -> EmbeddedPipelineRecords | None:
        found = real_open(uri)
        opened.append(found)
        return found

    monkeypatch.setattr(EmbeddedPipelineRecords, "open", staticmethod(spy))
    fast, fast_rows = _run_twice(tmp_path / "ws")
    assert opened and all(isinstance(o, EmbeddedPipelineRecords) for o in opened)

    monkeypatch.setattr(EmbeddedPipelineRecords, "open", staticmethod(lambda uri: None))
    slow, slow_rows = _run_twice(tmp_path / "ws")

    assert fast == slow
    assert fast[1]["ingest"] == "cached" and fast[1]["stamp"] == "ran"
    assert fast[1]["explode"] == "failed" and fast[1]["after"] == "skipped"
    for table in fast_rows:
        assert fast_rows[table] == slow_rows[table], table
    # Not vacuous: both runs, every executed step's child run, their edges and params.
    assert len(fast_rows["pipeline_runs"]) == 2
    assert len(fast_rows["runs"]) == 2 + 6 + 2  # first run: 6 steps ran; re-run: 2
    assert any(row[1] == "tags" and row[2] == "[1, 2]" for row in fast_rows["params"])


UPSTREAM_READER = """
from cairn.tracking.client import TrackingClient

@cairn.step
def make(n: int) -> list:
    return list(range(n))

@cairn.step
def inspect_upstream(rows: list) -> dict:
    # Another connection to the same workspace, as any step code would open.
    client = TrackingClient(cairn.workspace.current())
    source = cairn.pipelines.current().sources["rows"]
    upstream = client.get_run(source.split("/")[1])
    side = client.create_run("side-effects", name="written-by-a-step")
    client.end_run(side.id)
    return {
        "status": str(upstream.status),
        "outputs": sorted(io.name for io in upstream.io if io.direction == "output"),
    }

@cairn.pipeline
def flow():
    inspect_upstream(make(3))
"""


def test_a_step_reads_its_upstream_records_and_writes_to_the_workspace_while_it_runs(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    """Records are committed before a step runs: its code sees the upstream step's
    finished run, and its own writes do not wait on the runner's transaction."""
    pipe = load(project("flow.py", UPSTREAM_READER))
    outcome = run_pipeline(pipe)
    assert outcome.output("inspect_upstream") == {"status": "FINISHED", "outputs": ["make"]}
    side = workspace.tracking.get_experiment("side-effects")
    assert [r.name for r in workspace.tracking.search_runs([side.id]).items] == [
        "written-by-a-step"
    ]


CRASHER = """
import os, sys
from pathlib import Path
import cairn.workspace
from cairn.config import load_settings
from cairn.pipelines import run_pipeline
from cairn.pipelines.loader import load_target

ws = cairn.workspace.Workspace(load_settings(Path(sys.argv[1])))
pipe, target = load_target(sys.argv[1] + "/flow.py:flow")
run_pipeline(pipe, workspace=ws)  # every step runs and is stored

def die(record, details):
    if record.state == "cached" and record.step == "s5":
        os._exit(9)  # no cleanup, no flush: as a kill -9 or a power cut

run_pipeline(pipe, workspace=ws, listener=die)
"""


def test_a_process_dying_half_way_through_a_cached_run_leaves_no_half_written_run(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path], tmp_path: Path
) -> None:
    step = "@cairn.step\ndef s{}(x: int) -> int:\n    return x + 1\n\n"
    chain = "".join(step.format(i) for i in range(8))
    body = "".join(f"    x = s{i}(x)\n" for i in range(8))
    project("flow.py", f"{chain}@cairn.pipeline\ndef flow():\n    x = 0\n{body}")
    script = tmp_path / "crash.py"
    script.write_text(CRASHER, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(workspace.root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    runs = workspace.metadata.pipelines.list_runs()
    assert [r.state for r in runs] == ["finished"]  # the first run only: nothing half-done
    tracking = workspace.tracking.search_runs(view="all").items
    assert sorted({r.status.value for r in tracking}) == ["FINISHED"]
    assert len(tracking) == 1 + 8


SLEEPER = """
import time
from pathlib import Path

@cairn.step
def first(n: int) -> int:
    return n

@cairn.step
def slow(n: int) -> int:
    Path("started").write_text("yes")
    time.sleep(120)
    return n

@cairn.pipeline
def flow():
    slow(first(1))
"""


def test_kill_9_while_a_step_runs_leaves_the_run_and_the_step_recorded_as_running(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    project("flow.py", SLEEPER)
    root = workspace.root
    assert root is not None
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "started").exists():
            assert proc.poll() is None, "the pipeline ended before its slow step started"
            assert time.monotonic() < deadline, "the slow step never started"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    [run] = workspace.metadata.pipelines.list_runs()
    assert run.state == "running"
    steps = {r.step: r for r in workspace.metadata.pipelines.list_steps(run.run_id)}
    assert (steps["first"].state, steps["slow"].state) == ("ran", "running")
    child = workspace.tracking.get_run(steps["slow"].step_run_id or "")
    assert child.status.value == "RUNNING" and child.parent_id == run.run_id
    # The output of the step that finished is recorded on its run.
    finished = workspace.tracking.get_run(steps["first"].step_run_id or "")
    assert [io.name for io in finished.io if io.direction == "output"] == ["first"]
    assert json.loads(steps["first"].outputs)[0]["serializer"] == "json"


def test_a_database_at_another_schema_revision_is_refused_and_left_untouched(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    project("flow.py", "@cairn.step\ndef one() -> int:\n    return 1\n\n"
                       "@cairn.pipeline\ndef flow():\n    one()\n")  # fmt: skip
    root = workspace.root
    assert root is not None
    db = root / ".cairn" / "cairn.db"
    older = migrations.revisions()[-2]
    tables = ("runs", "pipeline_runs", "pipeline_steps", "pipeline_cache", "experiments")

    def counts() -> list[int]:
        with sqlite3.connect(db) as conn:
            return [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]

    before = counts()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (older,))
    done = cli("pipeline", "run", "flow.py:flow")
    assert done.returncode == 1
    assert f"is at schema {older}, this Cairn needs {migrations.head()}" in done.stderr
    assert "cairn db upgrade" in done.stderr and "Traceback" not in done.stderr
    assert counts() == before


def test_the_embedded_path_redacts_secret_looking_params_and_tags_as_every_store(
    workspace: cairn.workspace.Workspace,
) -> None:
    from cairn.types import Environment

    workspace.metadata.ensure_schema()
    records = EmbeddedPipelineRecords.open(workspace.settings.tracking_uri)
    assert records is not None
    run_id = records.create_run(
        "flows",
        name="flow",
        params={"lr": "0.1", "api_token": "s3cr3t"},
        tags={"db_password": "hunter2"},
        environment=Environment(),
    )
    records.commit()
    records.close()
    stored = workspace.tracking.get_run(run_id)
    assert dict(stored.params) == {"lr": "0.1", "api_token": "***"}
    assert dict(stored.tags) == {"db_password": "***"}
