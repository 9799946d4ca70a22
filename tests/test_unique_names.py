"""Test modules are imported by their file name (pytest's default import mode), so two
modules with one name in different folders cannot both be collected: the whole run
stops at collection. This keeps a new module from taking a name already used, and keeps
test modules from importing ``conftest`` (every folder has one; which one an import
finds depends on what ran before)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_every_test_module_name_is_unique() -> None:
    root = Path(__file__).parent
    names = Counter(p.name for p in root.rglob("*.py") if p.name != "conftest.py")
    assert not [n for n, c in names.items() if c > 1], "rename the duplicate test modules"


def test_no_test_module_imports_from_conftest() -> None:
    root = Path(__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "from conftest import" in p.read_text(encoding="utf-8")
        and p.name != "test_unique_names.py"
    ]
    assert not offenders, f"move the shared helpers into a module of their own: {offenders}"
