"""Dataset versions on an embedded SQLite workspace, through the standard library.

Importing SQLAlchemy costs 0.15-0.25 s on a small machine: more than ``cairn data
status``, a no-change ``cairn data add`` or adding 10,000 small files take otherwise.
For the operations those commands need -- read the latest version of some names, list
the datasets, add a version -- an embedded workspace (a ``sqlite:///`` URI naming an existing file)
is served here with :mod:`sqlite3`, running the statements of
:class:`cairn.store.sql.datasets.SqlDatasetStore` on the same tables in the same kind
of transaction (``BEGIN IMMEDIATE``, the per-name ``next_version`` counter, no new
version for unchanged content).

Every function returns ``None`` instead of guessing when anything is not as expected:
another backend, a database that does not exist yet or is not at this Cairn's schema
revision, a locked or damaged file. The caller then uses the full store, which creates,
checks and reports the usual way. The dataset contract suite
(``tests/store/test_datasets_contract.py``) runs every test with versions added here.

Example:
    >>> embedded = EmbeddedDatasets.open("sqlite:////tmp/ws/.cairn/cairn.db")  # doctest: +SKIP
    >>> embedded.latest_versions(["churn"])  # doctest: +SKIP
    [DatasetVersion(name='churn', version=3, ...)]
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from cairn.store.datasets import (
    AddResult,
    DatasetSummary,
    DatasetVersion,
    NewVersion,
    check_name,
    version_from_row,
    version_row,
)
from cairn.store.sql import migrations

_FIELDS = (
    "name, version, digest, kind, size, file_count, created_at, format, rows, columns, "
    "profile_digest, git_commit, git_dirty, created_by, message, source"
)
_FIELDS_OF_V = ", ".join(f"v.{name.strip()}" for name in _FIELDS.split(","))
_LATEST = (
    f"SELECT {_FIELDS} FROM dataset_versions AS v WHERE version = "
    "(SELECT MAX(version) FROM dataset_versions WHERE name = v.name)"
)
_INSERT = (
    f"INSERT INTO dataset_versions ({_FIELDS}) "
    "VALUES (:name, :version, :digest, :kind, :size, :file_count, :created_at, :format, "
    ":rows, :columns, :profile_digest, :git_commit, :git_dirty, :created_by, :message, "
    ":source)"
)
#: Seconds a writer waits for another one, as the full store's busy timeout does.
_BUSY_TIMEOUT = 30.0


class EmbeddedDatasets:
    """Reads and adds dataset versions in one SQLite file; ``None`` means "ask the store"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, uri: str) -> EmbeddedDatasets | None:
        """The embedded database named by ``uri``, if it is a plain SQLite file that exists."""
        prefix = "sqlite:///"
        if not uri.startswith(prefix) or "?" in uri:
            return None
        path = Path(uri[len(prefix) :])
        if not path.is_absolute() or not path.is_file():
            return None
        return cls(path)

    def latest_versions(self, names: Sequence[str] | None = None) -> list[DatasetVersion] | None:
        """The newest version of each of ``names`` that has one (every dataset if ``None``),
        read-only; names without versions are simply absent."""
        query, params = _LATEST, tuple(names or ())
        if names is not None:
            query += f" AND name IN ({', '.join('?' * len(names))})"
        rows = self._read(query, params)
        if rows is None:
            return None
        try:
            return [version_from_row(row) for row in rows]
        except (ValueError, TypeError, KeyError):
            return None

    def list_datasets(self) -> list[DatasetSummary] | None:
        """Every dataset with its version count and latest version, read-only, sorted by
        name (what ``cairn data ls`` shows)."""
        query = (
            f"SELECT {_FIELDS_OF_V}, c.n, c.first FROM dataset_versions AS v JOIN "
            "(SELECT name, COUNT(*) AS n, MAX(version) AS latest, MIN(created_at) AS first "
            "FROM dataset_versions GROUP BY name) AS c "
            "ON v.name = c.name AND v.version = c.latest ORDER BY v.name"
        )
        rows = self._read(query, ())
        if rows is None:
            return None
        try:
            return [
                DatasetSummary(
                    name=row["name"],
                    versions=int(row["n"]),
                    latest=version_from_row(row),
                    created_at=int(row["first"]),
                )
                for row in rows
            ]
        except (ValueError, TypeError, KeyError):
            return None

    def _read(self, query: str, params: tuple[str, ...]) -> list[sqlite3.Row] | None:
        try:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                conn.row_factory = sqlite3.Row
                return conn.execute(query, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    def add_version(self, new: NewVersion) -> AddResult | None:
        """Record ``new`` as the next version of its name, as the full store would; ``None``
        (nothing written) if this database is not one this Cairn can write here."""
        check_name(new.name)
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error:
            return None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = self._add(conn, new)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT" if result is not None else "ROLLBACK")
            return result
        except (sqlite3.Error, ValueError, TypeError, KeyError):
            return None
        finally:
            conn.close()

    @staticmethod
    def _add(conn: sqlite3.Connection, new: NewVersion) -> AddResult | None:
        from cairn.types import now_ms  # here: reading latest versions needs none of it

        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        if [tuple(r) for r in revision] != [(migrations.head(),)]:
            return None  # behind, ahead or not created: the full store says which
        now = now_ms()
        found = conn.execute(
            "SELECT next_version FROM datasets WHERE name = ?", (new.name,)
        ).fetchone()
        if found is None:
            conn.execute(
                "INSERT INTO datasets (name, next_version, created_at) VALUES (?, 1, ?)",
                (new.name, now),
            )
            next_version = 1
        else:
            next_version = int(found[0])
        latest_row = conn.execute(
            f"SELECT {_FIELDS} FROM dataset_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
            (new.name,),
        ).fetchone()
        latest = version_from_row(latest_row) if latest_row is not None else None
        if latest is not None and latest.digest == new.digest:
            return AddResult(version=latest, created=False, previous=latest)
        row = version_row(new, next_version, now)
        conn.execute(_INSERT, row)
        conn.execute(
            "UPDATE datasets SET next_version = ? WHERE name = ?", (next_version + 1, new.name)
        )
        return AddResult(version=version_from_row(row), created=True, previous=latest)
