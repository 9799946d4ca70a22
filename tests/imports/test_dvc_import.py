"""``cairn import dvc`` on a repository the real ``dvc`` and git made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from import_helpers import run

import cairn.workspace
from cairn.imports.dvc import import_dvc

Workspace = cairn.workspace.Workspace


def commits(repo: Path) -> list[str]:
    return run(["git", "log", "--reverse", "--format=%H"], repo).split()


def test_each_commit_of_a_dvc_file_becomes_a_version_in_order(
    workspace: Workspace, dvc_repo: Path
) -> None:
    summary = import_dvc(dvc_repo, workspace=workspace)
    first, second, third = commits(dvc_repo)
    train = workspace.datasets.list_versions("data-train.csv")
    assert [(v.version, v.git_commit, v.message) for v in train] == [
        (1, first, "first data"),
        (2, second, "more rows"),
    ]
    assert [v.rows for v in train] == [1, 2] and train[0].format == "csv"
    assert workspace.artifacts.read_bytes(train[1].digest) == b"x,y\n1,2\n3,4\n"
    assert train[0].created_by == "Ana"
    images = workspace.datasets.get_version("data-images")
    assert images.kind == "tree" and images.git_commit == first
    tree = {
        e.path: workspace.artifacts.read_bytes(e)
        for e in workspace.artifacts.read_tree(images.digest)
    }
    assert tree == {f"{i}.txt": f"image {i}\n".encode() for i in range(3)}
    lock_out = workspace.datasets.get_version("out-sum.txt")  # from dvc.lock
    assert (lock_out.git_commit, workspace.artifacts.read_bytes(lock_out.digest)) == (third, b"10")
    assert summary["dataset versions imported"] == 4


def test_a_second_import_adds_nothing(workspace: Workspace, dvc_repo: Path) -> None:
    import_dvc(dvc_repo, workspace=workspace)
    before = [(s.name, s.versions) for s in workspace.datasets.list_datasets()]
    again = import_dvc(dvc_repo, workspace=workspace)
    assert [(s.name, s.versions) for s in workspace.datasets.list_datasets()] == before
    assert again["dataset versions imported"] == 0
    assert again["dataset versions already imported"] == 4


def test_a_corrupt_cache_object_is_refused_not_imported(
    workspace: Workspace, dvc_repo: Path
) -> None:
    # The attack: a cache file whose bytes no longer match the MD5 DVC recorded.
    cache = dvc_repo / ".dvc" / "cache" / "files" / "md5"
    victim = next(p for p in cache.rglob("*") if p.is_file() and p.read_bytes() == b"x,y\n1,2\n")
    victim.chmod(0o644)
    victim.write_bytes(b"x,y\n9,9\n")
    summary = import_dvc(dvc_repo, workspace=workspace)
    assert any("does not match its MD5" in n for n in summary.notes)
    train = workspace.datasets.list_versions("data-train.csv")
    assert [v.message for v in train] == ["more rows"]  # the corrupt one is not recorded
    assert all(workspace.artifacts.read_bytes(v.digest) != b"x,y\n9,9\n" for v in train)


def test_cli_refuses_a_folder_that_is_not_a_dvc_repository(
    workspace: Workspace, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "import", "dvc", str(tmp_path)],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {tmp_path} is not a DVC repository (no .dvc folder); give the folder "
        "where `dvc init` ran"
    )
    assert workspace.datasets.list_datasets() == []
