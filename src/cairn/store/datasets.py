"""The dataset store protocol and the records it keeps.

A dataset is a name (``churn``) with numbered versions (``v1``, ``v2``, ...). A version
points at content in the :class:`~cairn.store.artifacts.ArtifactStore` by digest (a file
or a tree) and records where it came from; its profile is a JSON object stored in the
artifact store too, referenced by ``profile_digest``, so it travels with ``cairn data push``.

Every backend (SQL today, the REST client later) implements :class:`DatasetStore` with
the same behaviour; ``tests/store/test_datasets_contract.py`` holds them to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from cairn.errors import InvalidInput

#: Formats a version can have: tabular ones are profiled, ``bytes`` is stored as-is.
Format = Literal["csv", "parquet", "bytes"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name, else raise ``InvalidInput``.

    Names are 1-128 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a
    letter or digit: no path separators, no ``@`` (it separates the version).

    Example:
        >>> check_name("churn-2024")
        'churn-2024'
    """
    if not _NAME.match(name) or ".." in name:
        raise InvalidInput(
            f"invalid dataset name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no '/', '\\', '@' or spaces), starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a tabular version: its name and Arrow type (``int64``, ``string``...)."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What :meth:`DatasetStore.add_version` needs; the store assigns the number and time."""

    name: str
    digest: str
    kind: Literal["file", "tree"]
    size: int
    file_count: int
    format: Format = "bytes"
    rows: int | None = None
    columns: tuple[Column, ...] = ()
    profile_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    created_by: str = ""
    message: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable version of a dataset.

    ``ref`` is the ``name@vN`` form users type; ``digest`` addresses the content.
    """

    name: str
    version: int
    digest: str
    kind: Literal["file", "tree"]
    size: int
    file_count: int
    created_at: int
    format: Format = "bytes"
    rows: int | None = None
    columns: tuple[Column, ...] = ()
    profile_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    created_by: str = ""
    message: str = ""
    source: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def is_tabular(self) -> bool:
        return self.format != "bytes"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cairn data show --json``, the REST API)."""
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "digest": self.digest,
            "kind": self.kind,
            "size": self.size,
            "file_count": self.file_count,
            "format": self.format,
            "rows": self.rows,
            "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
            "profile_digest": self.profile_digest,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """A dataset name with its newest version (``cairn data ls``)."""

    name: str
    versions: int
    latest: DatasetVersion
    created_at: int


@dataclass(frozen=True, slots=True)
class AddResult:
    """The outcome of :meth:`DatasetStore.add_version`.

    ``created`` is False when the content equals the latest version's: no new version is
    made and ``version`` is that latest one.
    """

    version: DatasetVersion
    created: bool
    previous: DatasetVersion | None = field(default=None)


@runtime_checkable
class DatasetStore(Protocol):
    def add_version(self, new: NewVersion) -> AddResult:
        """Record the next version of ``new.name`` (created on first use), atomically.

        When the latest version already has ``new.digest``, nothing is written and the
        result has ``created=False``. Raises ``InvalidInput`` for a bad name.
        """
        ...

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version (``None``: the latest); ``NotFound`` names what exists instead."""
        ...

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first; ``NotFound`` for an unknown name."""
        ...

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset, by name."""
        ...

    def find_digest(self, digest: str) -> list[DatasetVersion]:
        """Versions whose content or profile is ``digest`` (lineage lookups)."""
        ...

    def delete_version(self, name: str, version: int) -> None:
        """Forget one version (its objects become garbage for ``cairn gc``).

        Version numbers are never reused: the next add still takes max + 1 of what was
        ever recorded while any version remains.
        """
        ...

    def referenced_digests(self) -> Iterator[str]:
        """Every content and profile digest a version points at (for ``cairn gc``)."""
        ...


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split ``name``, ``name@latest`` or ``name@vN`` into (name, version or None).

    Example:
        >>> parse_ref("churn@v3")
        ('churn', 3)
        >>> parse_ref("churn@latest")
        ('churn', None)
    """
    name, sep, tail = ref.partition("@")
    check_name(name)
    if not sep or tail == "latest":
        return name, None
    text = tail[1:] if tail[:1] in ("v", "V") else tail
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(
            f"invalid dataset version {tail!r} in {ref!r}: use {name}@v3 or {name}@latest"
        )
    return name, int(text)


def columns_from_pairs(pairs: Sequence[tuple[str, str]]) -> tuple[Column, ...]:
    return tuple(Column(name, dtype) for name, dtype in pairs)


def version_row(new: NewVersion, version: int, created_at: int) -> dict[str, Any]:
    """The ``dataset_versions`` row that records ``new`` as ``version``, by column name.

    Shared by the SQL store and the embedded SQLite path, so both write the same row.
    """
    return {
        "name": new.name,
        "version": version,
        "digest": new.digest,
        "kind": new.kind,
        "size": new.size,
        "file_count": new.file_count,
        "created_at": created_at,
        "format": new.format,
        "rows": new.rows,
        "columns": json.dumps([[c.name, c.dtype] for c in new.columns]),
        "profile_digest": new.profile_digest,
        "git_commit": new.git_commit,
        "git_dirty": new.git_dirty,
        "created_by": new.created_by,
        "message": new.message,
        "source": new.source,
    }


def version_from_row(row: Any) -> DatasetVersion:
    """A ``DatasetVersion`` from a ``dataset_versions`` row read as a mapping by column name.

    ``columns`` may arrive as JSON text (SQLite), already decoded (PostgreSQL) or NULL.
    Shared by the SQL store and the read-only SQLite lookup of ``cairn.data``.
    """
    columns = row["columns"]
    pairs = json.loads(columns) if isinstance(columns, str) else columns or []
    return DatasetVersion(
        name=row["name"],
        version=int(row["version"]),
        digest=row["digest"],
        kind=row["kind"],
        size=int(row["size"]),
        file_count=int(row["file_count"]),
        created_at=int(row["created_at"]),
        format=row["format"],
        rows=None if row["rows"] is None else int(row["rows"]),
        columns=tuple(Column(str(n), str(t)) for n, t in pairs),
        profile_digest=row["profile_digest"],
        git_commit=row["git_commit"],
        git_dirty=None if row["git_dirty"] is None else bool(row["git_dirty"]),
        created_by=row["created_by"] or "",
        message=row["message"] or "",
        source=row["source"] or "",
    )
