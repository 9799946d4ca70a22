"""``cairn data`` as a user runs it: exit codes, one-line errors, JSON, push and pull."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cairn.data
from cairn.store.artifacts import ArtifactStore
from cairn.workspace import Workspace

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cairn() -> Run:
    import os
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
            timeout=120,
        )

    return run


def test_add_show_ls_log_round_trip(
    workspace: Workspace, churn_csv: Callable[..., Path], run_cairn: Run
) -> None:
    path = churn_csv(80)
    added = run_cairn("data", "add", str(path), "--name", "churn", "-m", "first")
    assert added.returncode == 0, added.stderr
    assert "Added churn@v1" in added.stdout and "80 rows" in added.stdout
    again = run_cairn("data", "add", str(path), "--name", "churn")
    assert (
        again.returncode == 0 and "Unchanged" in again.stdout and "no new version" in again.stdout
    )
    shown = json.loads(run_cairn("data", "show", "churn@v1", "--json").stdout)
    assert shown["rows"] == 80 and shown["profile"]["columns"]["tenure"]["kind"] == "numeric"
    listed = json.loads(run_cairn("data", "ls", "--json").stdout)
    assert [(d["name"], d["versions"]) for d in listed] == [("churn", 1)]
    table = run_cairn("data", "show", "churn").stdout
    assert "tenure" in table and "DISTINCT" in table
    logged = json.loads(run_cairn("data", "log", "churn", "--json").stdout)
    assert [v["ref"] for v in logged] == ["churn@v1"] and logged[0]["runs"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "add", "missing.csv", "--name", "churn"], "missing.csv does not exist"),
        (["data", "add", "bad.parquet", "--name", "churn"], "cannot read"),
        (["data", "add", "ok.csv", "--name", "a/b"], "invalid dataset name 'a/b'"),
        (["data", "show", "churn@v99"], "has no version v99"),
        (["data", "checkout", "nope@v1"], "no dataset named 'nope'"),
        (["data", "validate", "churn", "--schema", "bad.yaml"], "bad.yaml:3: unknown check 'maxx'"),
    ],
    ids=[
        "missing-path",
        "corrupt-parquet",
        "bad-name",
        "unknown-version",
        "unknown-dataset",
        "unknown-check",
    ],
)
def test_user_mistakes_print_one_line_and_exit_1(
    workspace: Workspace,
    churn_csv: Callable[..., Path],
    run_cairn: Run,
    args: list[str],
    message: str,
) -> None:
    cairn.data.add(churn_csv(), "churn")
    Path("bad.parquet").write_bytes(b"PAR1garbagePAR1")
    Path("ok.csv").write_text("a\n1\n")
    Path("bad.yaml").write_text("columns:\n  tenure:\n    maxx: 3\n")
    done = run_cairn(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert [s.name for s in cairn.data.ls()] == ["churn"]
    assert len(cairn.data.list_versions("churn")) == 1


def test_validate_exits_1_and_lists_failures(
    workspace: Workspace, churn_csv: Callable[..., Path], run_cairn: Run
) -> None:
    cairn.data.add(churn_csv(100), "churn")
    Path("s.yaml").write_text("columns:\n  tenure: {max: 10}\n  plan: {allowed: [basic]}\n")
    done = run_cairn("data", "validate", "churn", "--schema", "s.yaml")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert any("'tenure' max 10:" in line and "failing rows" in line for line in lines)
    assert any("'plan' allowed:" in line for line in lines)
    inferred = run_cairn("data", "infer-schema", "churn@v1")
    Path("good.yaml").write_text(inferred.stdout)
    assert run_cairn("data", "validate", "churn", "--schema", "good.yaml").returncode == 0


def test_diff_and_checkout(
    workspace: Workspace, churn_csv: Callable[..., Path], run_cairn: Run
) -> None:
    original = churn_csv(100).read_bytes()
    cairn.data.add("churn.csv", "churn")
    churn_csv(150, seed=5)
    cairn.data.add("churn.csv", "churn")
    diffed = json.loads(run_cairn("data", "diff", "churn@v1", "churn@v2", "--json").stdout)
    assert diffed["rows"] == {"old": 100, "new": 150}
    assert {c["name"]: c["status"] for c in diffed["columns"]}["plan"] == "same"
    done = run_cairn("data", "checkout", "churn@v1", "-o", "old.csv")
    assert done.returncode == 0 and Path("old.csv").read_bytes() == original


def test_diff_of_the_same_rows_duplicated_shows_no_drift(
    workspace: Workspace, run_cairn: Run
) -> None:
    """Re-adding the wine data with every row twice: the distribution did not change."""
    import pandas as pd
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.to_csv("wine.csv", index=False)
    cairn.data.add("wine.csv", "wine")
    pd.concat([frame, frame.iloc[::-1]]).to_csv("wine.csv", index=False)
    cairn.data.add("wine.csv", "wine")
    diffed = json.loads(run_cairn("data", "diff", "wine@v1", "wine@v2", "--json").stdout)
    assert diffed["rows"] == {"old": 178, "new": 356}
    psi = {c["name"]: c["psi"] for c in diffed["columns"]}
    assert len(psi) == frame.shape[1]
    assert all(value is not None and value < 0.01 for value in psi.values()), psi


def _push_pull(workspace: Workspace, remote: str, run_cairn: Run) -> dict[str, Any]:
    first = json.loads(run_cairn("data", "push", "--remote", remote, "--json").stdout)
    second = json.loads(run_cairn("data", "push", "--remote", remote, "--json").stdout)
    return {"first": first, "second": second}


def test_push_and_pull_transfer_only_missing_objects(
    workspace: Workspace, churn_csv: Callable[..., Path], run_cairn: Run, tmp_path: Path
) -> None:
    v1 = cairn.data.add(churn_csv(100), "churn")
    remote = str(tmp_path / "remote")
    report = _push_pull(workspace, remote, run_cairn)
    assert set(report["first"]["copied"]) == {v1.digest, v1.version.profile_digest}
    assert report["second"]["copied"] == [] and report["second"]["skipped"] == 2
    v2 = cairn.data.add(churn_csv(120), "churn")
    third = json.loads(run_cairn("data", "push", "churn@v2", "--remote", remote, "--json").stdout)
    assert set(third["copied"]) == {v2.digest, v2.version.profile_digest}
    # A teammate sharing the metadata store but with an empty local store pulls v1 only.
    for digest in (v1.digest, v1.version.profile_digest):
        (Path(workspace.artifacts.uri) / "objects" / digest[:2] / digest[2:]).unlink()
    pulled = json.loads(run_cairn("data", "pull", "churn@v1", "--remote", remote, "--json").stdout)
    assert set(pulled["copied"]) == {v1.digest, v1.version.profile_digest}
    assert cairn.data.load("churn@v1").shape == (100, 5)


def test_push_without_a_remote_says_how_to_set_one(workspace: Workspace, run_cairn: Run) -> None:
    done = run_cairn("data", "push")
    assert done.returncode == 1 and done.stderr.startswith("error: ")
    assert "--remote" in done.stderr and "CAIRN_DATA_REMOTE" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.s3
def test_push_to_s3_and_pull_into_a_fresh_store(
    workspace: Workspace, churn_csv: Callable[..., Path], s3_bucket: str
) -> None:
    import pandas as pd

    folder = Path("parts")
    folder.mkdir()
    for i in range(3):
        pd.DataFrame({"x": range(i * 5, i * 5 + 5)}).to_parquet(folder / f"p{i}.parquet")
    ds = cairn.data.add(folder, "parts")
    remote = f"{s3_bucket}/cairn"
    pushed = cairn.data.push(remote=remote)
    assert ds.digest in pushed.copied and not pushed.missing
    assert cairn.data.push(remote=remote).copied == ()
    fresh = ArtifactStore(str(Path("fresh-store").resolve()))
    ArtifactStore(remote).copy_to(fresh, [ds.digest])
    fresh.checkout(ds.digest, Path("restored"))
    assert sorted(p.name for p in Path("restored").iterdir()) == [
        "p0.parquet",
        "p1.parquet",
        "p2.parquet",
    ]
