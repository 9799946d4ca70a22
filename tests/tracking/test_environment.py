"""Environment capture: git state of the workspace, interpreter, packages, host, user."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import cairn
from cairn.tracking import environment
from cairn.workspace import Workspace


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "train.py").write_text("print('train')\n")
    _git(root, "add", "train.py")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_repository_gives_commit_and_not_dirty(repo: Path) -> None:
    commit, dirty = environment.git_state(repo, max_age=0)
    assert commit == _git(repo, "rev-parse", "HEAD")
    assert dirty is False


def test_modified_or_untracked_files_make_it_dirty(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    assert environment.git_state(repo, max_age=0)[1] is True
    _git(repo, "checkout", "--", "train.py")
    assert environment.git_state(repo, max_age=0)[1] is False
    (repo / "new.py").write_text("x = 1\n")
    assert environment.git_state(repo, max_age=0)[1] is True


def test_outside_a_repository_git_fields_are_none(tmp_path: Path) -> None:
    assert environment.git_state(tmp_path, max_age=0) == (None, None)


def test_run_in_a_git_workspace_records_commit_and_dirty_flag(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    cairn.init(repo)  # cairn.toml and .cairn/ appear: untracked, so the tree is dirty
    with cairn.start_run() as run:
        pass
    env = cairn.get_run(run.id).environment
    assert env.git_commit == _git(repo, "rev-parse", "HEAD")
    assert env.git_dirty is True
    assert env.user == "tester"  # CAIRN_USER, set by the test suite
    assert env.python_version == platform.python_version()


def test_packages_are_read_from_metadata_without_importing_them() -> None:
    code = (
        "import sys; from cairn.tracking import environment as e; "
        "env = e.capture(); "
        "print(env.packages.get('numpy'), 'numpy' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [metadata.version("numpy"), "False", "False"]


def test_user_comes_from_cairn_user(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> None:
    monkeypatch.setenv("CAIRN_USER", "ana")
    assert environment.capture().user == "ana"
    monkeypatch.delenv("CAIRN_USER")
    assert environment.capture().user  # the login name
