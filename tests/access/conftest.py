"""Fixtures: a metadata backend (SQLite, and PostgreSQL where installed) with users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.store.sql.database import SqlDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cairn.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def backend(db_uri: str) -> Iterator[SqlDatabase]:
    db = SqlDatabase(db_uri, create=True)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[SqlDatabase]:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'guard.db'}", create=True)
    try:
        yield db
    finally:
        db.close()
