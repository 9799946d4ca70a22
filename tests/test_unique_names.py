"""Test modules are imported by their file name (pytest's default import mode), so two
modules with one name in different folders cannot both be collected: the whole run
stops at collection. This keeps a new module from taking a name already used."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_every_test_module_name_is_unique() -> None:
    root = Path(__file__).parent
    names = Counter(p.name for p in root.rglob("*.py") if p.name != "conftest.py")
    assert not [n for n, c in names.items() if c > 1], "rename the duplicate test modules"
