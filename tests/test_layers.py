"""The layering contracts of docs/architecture.md hold, and a wrong-way import breaks them.

``make lint`` runs ``lint-imports`` too; these tests make ``make test`` (and a plain
pytest run) catch a wrong-way import as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cairn

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(cairn.__file__).resolve().parent


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).with_name("lint-imports")
    if not program.exists():
        found = shutil.which("lint-imports")
        assert found, "lint-imports is missing: install the test extra (import-linter)"
        program = Path(found)
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(program), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
        timeout=240,
    )


def test_the_source_tree_keeps_every_layering_contract() -> None:
    result = _lint_imports(SOURCE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "models/packaging.py",
            "from cairn.registry import register as _register",
            "Models import neither the registry nor serving",
        ),
        (
            "store/tables.py",
            "import cairn.workspace as _ws",
            "The store knows no domain and no workspace",
        ),
        (
            "refs.py",
            "import cairn.serving.reload as _reload",
            "Model references sit below models, registry and serving",
        ),
        ("data/split.py", "import cairn.cli.main as _cli", "The library never imports the CLI"),
        (
            "access/guard.py",
            "import cairn.server.rpc as _rpc",
            "The domains never import the server",
        ),
        ("server/run.py", "import cairn.cli.main as _cli", "The server never imports the CLI"),
    ],
    ids=[
        "models->registry",
        "store->workspace",
        "refs->serving",
        "data->cli",
        "access->server",
        "server->cli",
    ],
)
def test_a_wrong_way_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy = tmp_path / "cairn"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    # Inside a function, as the lazy imports in this code base are: they count too.
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n\ndef _sneak() -> None:\n    {line}\n",
        encoding="utf-8",
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
