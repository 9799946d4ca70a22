"""Where a run executed: code version, interpreter, packages, machine and person.

Package versions come from the installed distributions' metadata folders (the
``NAME-VERSION.dist-info`` names on ``sys.path``, as ``importlib.metadata`` finds them),
so capturing them never imports numpy, torch or the like, nor ``importlib.metadata``
itself (about 20 ms, a sixth of a cached pipeline run). What cannot change within a
process (interpreter, packages, host) is computed once; the git state of a directory is
re-read after :data:`GIT_CACHE_SECONDS`, because a user may commit between two runs of
one notebook session, while a script starting hundreds of runs should not spawn two git
processes for each.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import threading
import time
from functools import cache
from pathlib import Path

from cairn.types import Environment

#: Distributions whose versions are recorded when installed.
KEY_PACKAGES: tuple[str, ...] = (
    "cairn-mlops",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "skops",
    "xgboost",
    "lightgbm",
    "catboost",
    "statsmodels",
    "torch",
    "tensorflow",
    "jax",
    "onnx",
    "onnxruntime",
)
GIT_TIMEOUT_SECONDS = 3.0
GIT_CACHE_SECONDS = 2.0

_git_cache: dict[Path, tuple[float, str | None, bool | None]] = {}
_git_lock = threading.Lock()


def capture(directory: Path | None = None) -> Environment:
    """The environment of this process, with the git state of ``directory`` (default: cwd).

    Example:
        >>> env = capture()
        >>> env.python_version.count(".")
        2
    """
    import platform  # here, not at the top: `cairn data add` needs only git and the user

    commit, dirty = git_state(directory or Path.cwd())
    return Environment(
        git_commit=commit,
        git_dirty=dirty,
        python_version=platform.python_version(),
        packages=dict(package_versions()),
        host=_host(),
        user=current_user(),
    )


def current_user() -> str:
    """``CAIRN_USER`` when set, else the login name of the process."""
    user = os.environ.get("CAIRN_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        return "unknown"


@cache
def package_versions() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of every installed package in :data:`KEY_PACKAGES`.

    Read from the names of the ``.dist-info`` (and legacy ``.egg-info``) folders on
    ``sys.path``, the first found winning as for imports; a name that does not parse
    falls back to ``importlib.metadata``."""
    import sys

    wanted = {_normal(name): name for name in KEY_PACKAGES}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            stem, dot, suffix = folder.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist, _, version = stem.partition("-")
            key = _normal(dist)
            if key in wanted and wanted[key] not in found:
                version = version.split("-", 1)[0]  # egg-info: NAME-VERSION-pyX.Y
                found[wanted[key]] = version or _metadata_version(wanted[key])
    return tuple((name, found[name]) for name in KEY_PACKAGES if found.get(name))


def _normal(name: str) -> str:
    """A distribution name as folder names spell it (PEP 503 without the dashes)."""
    return name.lower().replace("-", "_").replace(".", "_")


def _metadata_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


@cache
def _host() -> str:
    import socket

    return socket.gethostname()


def git_state(
    directory: Path, max_age: float = GIT_CACHE_SECONDS
) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty?) of the git work tree holding ``directory``.

    ``(None, None)`` when git is not installed, ``directory`` is not in a repository, or
    the repository has no commit yet. Dirty means tracked files differ from HEAD or
    untracked, non-ignored files exist: the commit alone would not reproduce the code.
    A result at most ``max_age`` seconds old is reused.
    """
    key = directory.resolve()
    now = time.monotonic()
    with _git_lock:
        hit = _git_cache.get(key)
        if hit is not None and now - hit[0] < max_age:
            return hit[1], hit[2]
    commit = _git(key, "rev-parse", "--verify", "HEAD")
    dirty: bool | None = None
    if commit is not None:
        status = _git(key, "status", "--porcelain")
        dirty = None if status is None else bool(status)
    with _git_lock:
        _git_cache[key] = (now, commit, dirty)
    return commit, dirty


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            # Never prompt; and let `git status` skip refreshing the index, which takes
            # index.lock and would collide with concurrent runs or the user's own git.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


def _reset_after_fork() -> None:
    global _git_lock
    _git_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
