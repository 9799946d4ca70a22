"""The standard-library path for dataset versions on an embedded workspace.

The contract suite (test_datasets_contract.py, backend ``sqlite-embedded``) holds it to
the SQL store's behaviour; these tests cover when it must step aside and what it costs.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from cairn.store import open_metadata
from cairn.store.datasets import NewVersion
from cairn.store.sql.embedded import EmbeddedDatasets
from cairn.workspace import Workspace


def _new(name: str = "churn", n: int = 1) -> NewVersion:
    return NewVersion(name=name, digest=f"{n:064x}", kind="file", size=n, file_count=1)


def _created(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'cairn.db'}"
    backend = open_metadata(uri, create=True)
    backend.ensure_schema()
    backend.close()
    return uri


def test_only_an_existing_plain_sqlite_file_is_served(tmp_path: Path) -> None:
    assert EmbeddedDatasets.open(f"sqlite:///{tmp_path / 'absent.db'}") is None
    assert EmbeddedDatasets.open("postgresql://user@127.0.0.1/cairn") is None
    assert EmbeddedDatasets.open(f"sqlite:///{tmp_path / 'x.db'}?mode=ro") is None
    assert EmbeddedDatasets.open(_created(tmp_path)) is not None


def test_a_database_at_another_schema_revision_is_left_to_the_store(tmp_path: Path) -> None:
    uri = _created(tmp_path)
    db = tmp_path / "cairn.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")

    embedded = EmbeddedDatasets.open(uri)
    assert embedded is not None
    assert embedded.add_version(_new()) is None

    with sqlite3.connect(db) as conn:  # nothing was written
        assert conn.execute("SELECT COUNT(*) FROM dataset_versions").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM datasets").fetchone() == (0,)


def test_a_file_that_is_not_a_database_is_left_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "cairn.db"
    path.write_bytes(b"not a database at all" * 100)

    embedded = EmbeddedDatasets.open(f"sqlite:///{path}")
    assert embedded is not None
    assert embedded.add_version(_new()) is None
    assert embedded.latest_versions(["churn"]) is None
    assert path.read_bytes() == b"not a database at all" * 100


def test_versions_added_here_are_read_back_by_the_sql_store(tmp_path: Path) -> None:
    uri = _created(tmp_path)
    embedded = EmbeddedDatasets.open(uri)
    assert embedded is not None
    first = embedded.add_version(_new(n=1))
    second = embedded.add_version(_new(n=2))
    assert first is not None and second is not None

    backend = open_metadata(uri)
    try:
        assert [v.version for v in backend.datasets.list_versions("churn")] == [1, 2]
        assert backend.datasets.get_version("churn") == second.version
    finally:
        backend.close()


def test_adding_and_listing_on_an_embedded_workspace_do_not_load_sqlalchemy(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 1000)
    Workspace.init(tmp_path / "ws").close()
    code = (
        "import sys\n"
        "import cairn.data\n"
        f"ds = cairn.data.add({str(data)!r}, name='blob')\n"
        "listed = [(s.name, s.versions, s.latest.ref) for s in cairn.data.ls()]\n"
        "assert listed == [('blob', 1, 'blob@v1')], listed\n"
        "print(ds.ref, any(m.startswith('sqlalchemy') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "ws",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["blob@v1", "False"]
