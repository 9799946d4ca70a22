"""Alembic migrations. Revision ids are the file-name prefixes: 0001, 0002, ... in order."""

from __future__ import annotations

from pathlib import Path

VERSIONS_DIR = Path(__file__).parent / "versions"


def revisions() -> list[str]:
    """Known revision ids, oldest first, read from file names (no Alembic import needed)."""
    return sorted(p.name.split("_", 1)[0] for p in VERSIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


def head() -> str:
    revs = revisions()
    return revs[-1] if revs else ""
