"""``cairn data status`` and the no-change path of ``cairn data add``: fast, and never
"unchanged" when the bytes changed."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from statcache_helpers import wait_out_of_racy_window

import cairn.data
import cairn.data.changes as status_module
import cairn.data.versions as versions_module
from cairn.errors import NotFound
from cairn.workspace import Workspace

OLD = time.time_ns() - 3600 * 10**9


def _old_file(path: Path, data: bytes) -> Path:
    """A file last modified an hour ago: outside the stat cache's racy window."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(OLD, OLD))
    return path


def _settle() -> None:
    # ctime cannot be set back: wait until every write in the workspace is out of the
    # racy window, by the stat cache's own rule.
    wait_out_of_racy_window()


def _folder(root: Path) -> Path:
    for i in range(6):
        _old_file(root / f"part{i % 2}" / f"f{i}.bin", f"file {i}\n".encode() * 50)
    _settle()
    return root


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, size: int) -> str:
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(status_module, "_digest", refuse)


def test_status_of_untouched_files_reads_no_bytes(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _old_file(Path("data.bin"), b"x" * 1000)
    folder = _folder(Path("images"))
    _settle()
    cairn.data.add(path, "blob")
    cairn.data.add(folder, "images")
    _no_hashing(monkeypatch)
    found = {s.version.name: s for s in cairn.data.status()}
    assert {n: (s.state, s.hashed) for n, s in found.items()} == {
        "blob": ("unchanged", False),
        "images": ("unchanged", False),
    }
    assert found["images"].path == str(folder.resolve())


def test_edit_that_restores_size_and_mtime_is_still_seen(workspace: Workspace) -> None:
    path = _old_file(Path("data.bin"), b"a" * 1000)
    _settle()
    cairn.data.add(path, "blob")
    with open(path, "r+b") as f:  # same inode, same size, mtime put back below
        f.write(b"b")
    os.utime(path, ns=(OLD, OLD))
    (state,) = cairn.data.status(["blob"])
    assert (state.state, state.hashed) == ("modified", True)
    assert cairn.data.add(path, "blob").ref == "blob@v2"  # add is not fooled either


def test_recently_written_file_is_hashed_not_trusted(workspace: Workspace) -> None:
    path = Path("fresh.bin")
    path.write_bytes(b"new" * 100)  # within the racy window: never cached
    cairn.data.add(path, "fresh")
    (state,) = cairn.data.status(["fresh"])
    assert (state.state, state.hashed) == ("unchanged", True)


def test_touched_file_is_unchanged_and_then_answered_from_the_cache(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _old_file(Path("data.bin"), b"z" * 1000)
    _settle()
    cairn.data.add(path, "blob")
    os.utime(path, ns=(OLD + 10**9, OLD + 10**9))  # new times, same bytes
    _settle()
    (first,) = cairn.data.status(["blob"])
    assert (first.state, first.hashed) == ("unchanged", True)
    _no_hashing(monkeypatch)
    (second,) = cairn.data.status(["blob"])
    assert (second.state, second.hashed) == ("unchanged", False)


def test_folder_status_names_modified_added_and_deleted_files(workspace: Workspace) -> None:
    folder = _folder(Path("images"))
    cairn.data.add(folder, "images")
    (folder / "part0" / "f0.bin").write_bytes(b"changed")
    (folder / "part1" / "f1.bin").unlink()
    (folder / "part1" / "new.bin").write_bytes(b"new")
    (state,) = cairn.data.status(["images"])
    assert state.state == "modified"
    assert (state.modified, state.added, state.deleted) == (
        ("part0/f0.bin",),
        ("part1/new.bin",),
        ("part1/f1.bin",),
    )
    assert state.describe() == "1 modified, 1 added, 1 deleted"


def test_status_reports_a_source_that_is_gone(workspace: Workspace) -> None:
    path = _old_file(Path("data.bin"), b"q" * 10)
    cairn.data.add(path, "blob")
    path.unlink()
    (state,) = cairn.data.status()
    assert state.state == "missing" and state.describe() == "the path no longer exists"


def test_status_of_an_unknown_dataset_names_it(workspace: Workspace) -> None:
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        cairn.data.status(["nope"])


def test_unchanged_readd_stores_nothing(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _old_file(Path("data.bin"), b"r" * 1000)
    _settle()
    first = cairn.data.add(path, "blob")

    def refuse(*args: object) -> None:
        raise AssertionError("the data was stored again")

    monkeypatch.setattr(versions_module, "_store", refuse)
    again = cairn.data.add(path, "blob")
    assert (again.ref, again.created) == (first.ref, False)


def _cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=120,
    )


def test_status_command_prints_a_line_per_dataset_and_json(workspace: Workspace) -> None:
    root = workspace.root
    assert root is not None
    path = _old_file(root / "data.bin", b"s" * 100)
    _settle()
    assert _cairn("data", "add", str(path), "--name", "blob", cwd=root).returncode == 0
    shown = _cairn("data", "status", cwd=root)
    assert shown.returncode == 0, shown.stderr
    assert "blob@v1" in shown.stdout and "unchanged" in shown.stdout
    path.write_bytes(b"t" * 100)
    data = json.loads(_cairn("data", "status", "blob", "--json", cwd=root).stdout)
    assert [(d["ref"], d["state"]) for d in data] == [("blob@v1", "modified")]
    missing = _cairn("data", "status", "nope", cwd=root)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no dataset named")


NO_CHANGE_PROBE = """
import sys
from cairn.cli.main import main
sys.argv = ["cairn", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted(m for m in ("sqlalchemy", "pandas", "pyarrow", "numpy") if m in sys.modules)
print("LOADED", heavy)
"""


def test_no_change_add_and_status_load_neither_sql_nor_dataframes(
    workspace: Workspace,
) -> None:
    root = workspace.root
    assert root is not None
    path = _old_file(root / "table.csv", b"a,b\n1,2\n3,4\n")
    _settle()
    assert _cairn("data", "add", str(path), "--name", "t", cwd=root).returncode == 0
    for args in (["data", "add", str(path), "--name", "t"], ["data", "status"]):
        probe = subprocess.run(
            [sys.executable, "-c", NO_CHANGE_PROBE, *args],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert "LOADED []" in probe.stdout, (args, probe.stdout, probe.stderr)


def _on_terminal(args: list[str], cwd: Path) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(follower)
    out = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(leader)
    return out.decode(errors="replace")


def test_large_add_shows_a_progress_bar_on_a_terminal_only(workspace: Workspace) -> None:
    root = workspace.root
    assert root is not None
    big = root / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * (versions_module.PROGRESS_BYTES >> 20))
    drawn = _on_terminal(["data", "add", str(big), "--name", "big"], cwd=root)
    assert "storing big.bin (64 MiB)" in drawn and "━" in drawn
    assert "Added big@v1" in drawn
    piped = _cairn("data", "add", str(big), "--name", "big2", cwd=root)
    assert piped.returncode == 0 and piped.stderr == ""
