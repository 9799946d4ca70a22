"""Third-party validators, each installed from the package index into its own virtual
environment, so their dependencies never meet the project's.

The environments are cached under ``~/.cache/cairn-tests/tools/`` (or
``$CAIRN_TEST_CACHE/tools/``), keyed by the pinned requirements and this interpreter's
version, and reused while complete: the first run installs (checkov takes a minute or
two), later runs start at once. A lock serialises installs between concurrent test
processes. When the index cannot be reached the tests that need a tool are skipped with
pip's reason, unless ``CAIRN_REQUIRE_VALIDATORS`` is set, in which case they fail.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: tool -> pinned requirements. Pinned, so the checks a test expects are the ones run.
TOOLS: dict[str, tuple[str, ...]] = {
    "checkov": ("checkov==3.3.30",),
    "kubernetes-validate": ("kubernetes-validate==1.37.0",),
    "groovy-parser": ("tree-sitter==0.26.1", "tree-sitter-groovy==0.1.2"),
    "frictionless": ("frictionless==5.21.0",),
    "mlflow": ("mlflow==3.17.2",),
    "dvc": ("dvc==3.67.1",),
}
#: tool -> packages installed at the version this interpreter has, so both sides of a
#: comparison run the same library (MLflow and Cairn fit the same scikit-learn model).
SAME_AS_HERE: dict[str, tuple[str, ...]] = {"mlflow": ("scikit-learn",)}
INSTALL_TIMEOUT = 900


def cache_root() -> Path:
    base = os.environ.get("CAIRN_TEST_CACHE") or Path.home() / ".cache" / "cairn-tests"
    return Path(base) / "tools"


def tool_python(tool: str) -> Path:
    """The interpreter of ``tool``'s environment, installing it on first use; skips (or
    fails under ``CAIRN_REQUIRE_VALIDATORS``) when it cannot be installed."""
    problem, python = _ensure(tool)
    if problem is None:
        return python
    if os.environ.get("CAIRN_REQUIRE_VALIDATORS"):
        pytest.fail(f"CAIRN_REQUIRE_VALIDATORS is set but {problem}")
    pytest.skip(problem)


def tool_bin(tool: str, command: str) -> Path:
    return tool_python(tool).parent / command


def pinned_requirements(tool: str) -> tuple[str, ...]:
    from importlib.metadata import version

    pinned = tuple(f"{dist}=={version(dist)}" for dist in SAME_AS_HERE.get(tool, ()))
    return (*TOOLS[tool], *pinned)


def _ensure(tool: str) -> tuple[str | None, Path]:
    requirements = pinned_requirements(tool)
    key = hashlib.sha256("\n".join((sys.version, *requirements)).encode()).hexdigest()[:12]
    venv = cache_root() / f"{tool}-{key}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.is_file():
        return None, python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f".{tool}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file():  # another process finished it while this one waited
            return None, python
        # A half-made environment (an install killed midway) is never reused.
        shutil.rmtree(venv, ignore_errors=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if made.returncode != 0:
            return f"cannot make a virtual environment for {tool}: {made.stderr[-300:]}", python
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_USER")}
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=env,
            check=False,
        )
        if pip.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            last = [line for line in pip.stderr.splitlines() if line.strip()][-3:]
            return (
                f"cannot install {' '.join(requirements)} from the package index: "
                + " | ".join(last)[-400:]
            ), python
        done.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return None, python


def run_tool(
    tool: str, args: list[str], *, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the command ``args`` with ``tool``'s environment first on PATH."""
    python = tool_python(tool)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False
    )
