"""The dataset store contract: every backend behaves the same way.

One suite, parametrized over backends through the indirect ``dataset_store`` fixture.
A new backend (the REST client of ``cairn server``) joins by adding an entry to
``BACKENDS`` and an opener to ``_OPENERS`` returning a URI whose backend has ``.datasets``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from cairn.errors import InvalidInput, NotFound
from cairn.store import open_metadata
from cairn.store.datasets import (
    AddResult,
    Column,
    DatasetStore,
    DatasetSummary,
    DatasetVersion,
    NewVersion,
    check_name,
)
from cairn.store.sql.embedded import EmbeddedDatasets
from server_harness import server_uri

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("sqlite-embedded", id="sqlite-embedded"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("server", id="server"),
]


def _sqlite_uri(request: pytest.FixtureRequest) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"sqlite:///{tmp_path / 'cairn.db'}"


def _postgres_uri(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("postgres_uri"))


_OPENERS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite_uri,
    "sqlite-embedded": _sqlite_uri,
    "postgresql": _postgres_uri,
    "server": server_uri,
}


class _EmbeddedWrites:
    """The SQL store, with versions added the way ``cairn data add`` adds them on an
    embedded workspace: through :class:`EmbeddedDatasets` (the standard library's sqlite3),
    and latest versions and the dataset list read through it too; everything else is the
    SQL store's."""

    def __init__(self, store: DatasetStore, uri: str) -> None:
        self._store = store
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _embedded(self) -> EmbeddedDatasets:
        embedded = EmbeddedDatasets.open(self._uri)
        assert embedded is not None, "the store created the database file"
        return embedded

    def add_version(self, new: NewVersion) -> AddResult:
        result = self._embedded().add_version(new)
        assert result is not None, "an embedded database at head is written without SQLAlchemy"
        return result

    def list_datasets(self) -> list[DatasetSummary]:
        found = self._embedded().list_datasets()
        assert found is not None
        return found

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        if version is None:
            check_name(name)
            found = self._embedded().latest_versions([name])
            assert found is not None
            if found:
                return found[0]
        return self._store.get_version(name, version)


@pytest.fixture
def dataset_store(request: pytest.FixtureRequest) -> Iterator[DatasetStore]:
    uri = _OPENERS[request.param](request)
    backend = open_metadata(uri, create=True)
    try:
        backend.ensure_schema()
        if request.param == "sqlite-embedded":
            yield cast(DatasetStore, _EmbeddedWrites(backend.datasets, uri))
        else:
            yield backend.datasets
    finally:
        backend.close()


pytestmark = pytest.mark.parametrize("dataset_store", BACKENDS, indirect=True)


def _digest(n: int) -> str:
    return f"{n:064x}"


def _new(name: str = "churn", n: int = 1, **kw: object) -> NewVersion:
    fields: dict[str, object] = {"kind": "file", "size": 10 * n, "file_count": 1, **kw}
    return NewVersion(name=name, digest=_digest(n), **fields)  # type: ignore[arg-type]


def test_store_satisfies_the_protocol(dataset_store: DatasetStore) -> None:
    assert isinstance(dataset_store, DatasetStore)


def test_versions_are_numbered_per_name_from_one(dataset_store: DatasetStore) -> None:
    a1 = dataset_store.add_version(_new("churn", 1))
    a2 = dataset_store.add_version(_new("churn", 2))
    b1 = dataset_store.add_version(_new("sales", 3))
    assert (a1.version.ref, a2.version.ref, b1.version.ref) == ("churn@v1", "churn@v2", "sales@v1")
    assert a1.created and a2.created and b1.created
    assert a2.previous is not None and a2.previous.version == 1


def test_unchanged_content_makes_no_new_version(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1))
    again = dataset_store.add_version(_new("churn", 1, message="same bytes"))
    assert not again.created
    assert again.version.version == 1
    assert [v.version for v in dataset_store.list_versions("churn")] == [1]


def test_going_back_to_older_content_is_a_new_version(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1))
    dataset_store.add_version(_new("churn", 2))
    back = dataset_store.add_version(_new("churn", 1))
    assert back.created and back.version.version == 3


def test_every_recorded_field_round_trips(dataset_store: DatasetStore) -> None:
    new = _new(
        "churn",
        7,
        kind="tree",
        file_count=3,
        format="parquet",
        rows=1234,
        columns=(Column("id", "int64"), Column("plan", "string")),
        profile_digest=_digest(99),
        git_commit="a" * 40,
        git_dirty=True,
        created_by="ana",
        message="May",
        source="/data/x",
    )
    dataset_store.add_version(new)
    got = dataset_store.get_version("churn", 1)
    assert (got.kind, got.size, got.file_count, got.format, got.rows) == (
        "tree",
        70,
        3,
        "parquet",
        1234,
    )
    assert got.columns == (Column("id", "int64"), Column("plan", "string"))
    assert (got.profile_digest, got.git_commit, got.git_dirty) == (_digest(99), "a" * 40, True)
    assert (got.created_by, got.message, got.source) == ("ana", "May", "/data/x")
    assert got.created_at > 0


def test_get_version_without_number_is_the_latest(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1))
    dataset_store.add_version(_new("churn", 2))
    assert dataset_store.get_version("churn").version == 2


def test_unknown_version_names_the_versions_that_exist(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1))
    with pytest.raises(NotFound, match=r"no version v99.*v1"):
        dataset_store.get_version("churn", 99)
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        dataset_store.get_version("nope")
    with pytest.raises(NotFound):
        dataset_store.list_versions("nope")


@pytest.mark.parametrize("name", ["a/b", "..", "a\\b", "", "x@v1", " churn", "-x"])
def test_bad_names_are_refused_and_nothing_is_recorded(
    dataset_store: DatasetStore, name: str
) -> None:
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        dataset_store.add_version(_new(name, 1))
    assert dataset_store.list_datasets() == []


def test_list_datasets_gives_counts_and_latest(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("sales", 1))
    dataset_store.add_version(_new("churn", 2))
    dataset_store.add_version(_new("churn", 3))
    summaries = dataset_store.list_datasets()
    assert [(s.name, s.versions, s.latest.version) for s in summaries] == [
        ("churn", 2, 2),
        ("sales", 1, 1),
    ]


def test_find_digest_finds_content_and_profile(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1, profile_digest=_digest(50)))
    dataset_store.add_version(_new("copy", 1))
    assert [v.ref for v in dataset_store.find_digest(_digest(1))] == ["churn@v1", "copy@v1"]
    assert [v.ref for v in dataset_store.find_digest(_digest(50))] == ["churn@v1"]
    assert dataset_store.find_digest(_digest(2)) == []


def test_referenced_digests_keep_content_and_profiles(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1, profile_digest=_digest(50)))
    dataset_store.add_version(_new("churn", 2))
    assert set(dataset_store.referenced_digests()) == {_digest(1), _digest(2), _digest(50)}


def test_deleted_version_numbers_are_not_reused(dataset_store: DatasetStore) -> None:
    dataset_store.add_version(_new("churn", 1))
    dataset_store.add_version(_new("churn", 2))
    dataset_store.delete_version("churn", 2)
    assert set(dataset_store.referenced_digests()) == {_digest(1)}
    again = dataset_store.add_version(_new("churn", 3))
    assert again.version.version == 3
    with pytest.raises(NotFound):
        dataset_store.delete_version("churn", 2)


def test_concurrent_adds_get_distinct_numbers(dataset_store: DatasetStore) -> None:
    errors: list[BaseException] = []

    def worker(start: int) -> None:
        try:
            for i in range(5):
                dataset_store.add_version(_new("churn", start + i))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = [v.version for v in dataset_store.list_versions("churn")]
    assert numbers == list(range(1, 21))
