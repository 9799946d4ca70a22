"""Dataset versions: adding, unchanged content, lookup, checkout and bad input."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from statcache_helpers import wait_out_of_racy_window

import cairn.data
from cairn.errors import InvalidInput, NotFound
from cairn.workspace import Workspace


def _objects(ws: Workspace) -> set[str]:
    return set(ws.artifacts.iter_objects())


def test_add_records_digest_size_rows_schema_and_author(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    path = churn_csv(250)
    ds = cairn.data.add(path, "churn", "first export")
    assert (ds.ref, ds.created, ds.rows, ds.format) == ("churn@v1", True, 250, "csv")
    assert ds.size == path.stat().st_size
    assert ds.version.file_count == 1
    assert ds.schema == {
        "customer_id": "int64",
        "tenure": "int64",
        "plan": "string",
        "charges": "double",
        "churned": "int64",
    }
    assert ds.version.created_by == "tester"
    assert ds.version.message == "first export"
    assert workspace.artifacts.exists(ds.digest)
    assert ds.profile is not None and ds.profile["rows"] == 250


def test_adding_unchanged_content_makes_no_new_version(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    path = churn_csv()
    first = cairn.data.add(path, "churn")
    again = cairn.data.add(path, "churn")
    assert not again.created
    assert again.ref == first.ref == "churn@v1"
    churn_csv(rows=120)
    assert cairn.data.add(path, "churn").ref == "churn@v2"


def test_get_and_load_resolve_latest_and_numbered_refs(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    cairn.data.add(churn_csv(10), "churn")
    cairn.data.add(churn_csv(20), "churn")
    assert cairn.data.get("churn").ref == "churn@v2"
    assert cairn.data.get("churn@latest").ref == "churn@v2"
    frame = cairn.data.load("churn@v1")
    assert len(frame) == 10
    assert frame.attrs["cairn.dataset"]["ref"] == "churn@v1"
    assert list(cairn.data.load("churn", columns=["plan"]).columns) == ["plan"]


def test_parquet_directory_is_one_tabular_version(workspace: Workspace) -> None:
    import pandas as pd

    folder = Path("parts")
    folder.mkdir()
    for i in range(3):
        pd.DataFrame({"x": range(i * 10, i * 10 + 10), "y": ["a"] * 10}).to_parquet(
            folder / f"p{i}.parquet"
        )
    (folder / "_SUCCESS").write_bytes(b"")
    ds = cairn.data.add(folder, "parts")
    assert (ds.version.kind, ds.format, ds.rows, ds.version.file_count) == (
        "tree",
        "parquet",
        30,
        4,
    )
    assert sorted(cairn.data.load("parts")["x"]) == list(range(30))


def test_directory_of_mixed_files_is_stored_as_bytes_with_a_note(workspace: Workspace) -> None:
    folder = Path("mixed")
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "readme.txt").write_text("hello")
    ds = cairn.data.add(folder, "mixed")
    assert ds.format == "bytes" and ds.rows is None and ds.profile is None
    assert "stored as bytes" in ds.note
    with pytest.raises(InvalidInput, match="not tabular"):
        cairn.data.load("mixed")


def test_checkout_restores_the_exact_bytes(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    path = churn_csv(50)
    original = path.read_bytes()
    cairn.data.add(path, "churn")
    churn_csv(60)
    restored = cairn.data.checkout("churn@v1", "restored.csv")
    assert restored.read_bytes() == original
    with pytest.raises(InvalidInput, match="already exists"):
        cairn.data.checkout("churn@v1", "restored.csv")


def test_same_size_edit_with_the_mtime_put_back_is_a_new_version(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    # The stat cache fingerprints ctime too, which no tool can set back: restoring size
    # and mtime does not hide an edit. (That unchanged files are not read at all is
    # tested in test_status.py.)
    path = churn_csv(100)
    old = time.time_ns() - 10_000_000_000
    os.utime(path, ns=(old, old))
    wait_out_of_racy_window(path)  # the write's ctime leaves the racy window: add caches
    cairn.data.add(path, "churn")
    assert not cairn.data.add(path, "churn").created
    data = bytearray(path.read_bytes())
    data[-2:-1] = b"9" if data[-2:-1] != b"9" else b"8"
    with open(path, "r+b") as f:  # same inode, same size
        f.write(bytes(data))
    os.utime(path, ns=(old, old))
    assert cairn.data.add(path, "churn").ref == "churn@v2"


def test_recently_modified_files_are_not_trusted_to_the_stat_cache(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    path = churn_csv(100)  # written just now: racily clean, so never cached
    cairn.data.add(path, "churn")
    data = bytearray(path.read_bytes())
    data[-2:-1] = b"9" if data[-2:-1] != b"9" else b"8"
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cairn.data.add(path, "churn").ref == "churn@v2"


@pytest.mark.parametrize(
    ("setup", "name", "error", "match"),
    [
        (lambda: Path("missing.csv"), "churn", InvalidInput, "does not exist"),
        (
            lambda: _write("bad.parquet", b"PAR1 this is not parquet"),
            "churn",
            InvalidInput,
            "cannot read",
        ),
        (lambda: _write("bad.csv", b"a,b\n1,2\n3\n"), "churn", InvalidInput, "cannot read"),
        (lambda: _write("ok.csv", b"a\n1\n"), "a/b", InvalidInput, "invalid dataset name"),
        (lambda: _write("ok.csv", b"a\n1\n"), "..", InvalidInput, "invalid dataset name"),
        (lambda: _mkdir("empty"), "churn", InvalidInput, "empty folder"),
    ],
    ids=[
        "missing-path",
        "corrupt-parquet",
        "corrupt-csv",
        "slash-in-name",
        "dotdot-name",
        "empty-dir",
    ],
)
def test_bad_input_fails_and_writes_nothing(
    workspace: Workspace, setup: Callable[[], Path], name: str, error: type[Exception], match: str
) -> None:
    path = setup()
    before = _objects(workspace)
    with pytest.raises(error, match=match):
        cairn.data.add(path, name)
    assert cairn.data.ls() == []
    assert _objects(workspace) == before


def test_unknown_version_is_not_found_naming_what_exists(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    cairn.data.add(churn_csv(), "churn")
    with pytest.raises(NotFound, match=r"churn.*v99.*v1"):
        cairn.data.get("churn@v99")
    with pytest.raises(InvalidInput, match="invalid dataset version"):
        cairn.data.get("churn@vx")


def test_gc_keeps_dataset_objects(workspace: Workspace, churn_csv: Callable[..., Path]) -> None:
    ds = cairn.data.add(churn_csv(), "churn")
    report = workspace.artifacts.gc(workspace.referenced_digests(), dry_run=True)
    assert ds.digest not in report.removed
    assert ds.version.profile_digest not in report.removed


def test_runs_that_used_a_version_are_listed_by_log(
    workspace: Workspace, churn_csv: Callable[..., Path]
) -> None:
    v1 = cairn.data.add(churn_csv(10), "churn")
    cairn.data.add(churn_csv(20), "churn")
    with cairn.start_run(experiment="churn", name="trainer") as run:
        run.log_input(v1)
    usage = cairn.data.log("churn")
    assert [(u.version.ref, [r.name for r in u.runs]) for u in usage] == [
        ("churn@v1", ["trainer"]),
        ("churn@v2", []),
    ]
    edge = cairn.get_run(run.id).inputs[0]
    assert (edge.kind, edge.name, edge.digest) == ("dataset", "churn@v1", v1.digest)


def _write(name: str, data: bytes) -> Path:
    path = Path(name)
    path.write_bytes(data)
    return path


def _mkdir(name: str) -> Path:
    path = Path(name)
    path.mkdir()
    return path
