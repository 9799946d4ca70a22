"""Every metadata backend implements the typed ``MetadataBackend`` protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn.store
from cairn.errors import ConfigError
from cairn.store import open_metadata
from cairn.store.base import MetadataBackend, TrackingStore
from cairn.store.datasets import DatasetStore
from cairn.store.registry import RegistryStore


def _check(uri: str) -> None:
    backend = open_metadata(uri, create=True)
    try:
        assert isinstance(backend, MetadataBackend)
        backend.ensure_schema()
        assert isinstance(backend.tracking, TrackingStore)
        assert isinstance(backend.datasets, DatasetStore)
        assert isinstance(backend.registry, RegistryStore)
        assert backend.tracking.list_experiments() == []
    finally:
        backend.close()


def test_sqlite_backend_implements_the_protocol(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'meta.db'}")


@pytest.mark.postgres
def test_postgres_backend_implements_the_protocol(postgres_uri: str) -> None:
    _check(postgres_uri)


def test_a_backend_missing_protocol_members_is_refused_before_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A class registered for a scheme that is not a whole backend (here: a dataset store).
    monkeypatch.setattr(
        cairn.store,
        "METADATA_BACKENDS",
        [("sqlite", "cairn.store.sql.embedded:EmbeddedDatasets")],
    )
    db = tmp_path / "meta.db"
    with pytest.raises(ConfigError) as caught:
        open_metadata(f"sqlite:///{db}", create=True)
    message = str(caught.value)
    assert "does not implement MetadataBackend" in message
    assert "tracking" in message and "registry" in message
    assert not db.exists()
