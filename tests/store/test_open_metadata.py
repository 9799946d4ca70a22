"""Opening a metadata store never creates a database unless asked (``cairn init``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.errors import ConfigError
from cairn.store import open_metadata


def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "cairn.db"
    with pytest.raises(ConfigError, match=rf"^no metadata database at {path}: run `cairn init`"):
        open_metadata(f"sqlite:///{path}")
    assert not path.parent.exists()
    created = open_metadata(f"sqlite:///{path}", create=True)
    created.ensure_schema()
    created.close()
    assert path.is_file()
