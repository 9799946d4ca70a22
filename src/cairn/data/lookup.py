"""The latest versions of datasets, read without loading the SQL layer when possible.

``cairn data status``, ``cairn data ls`` and a no-change ``cairn data add`` only need
the newest version record of a few names. Importing SQLAlchemy and opening the metadata
store costs about 0.2 s, more than the rest of those commands together, so for an
embedded workspace (``sqlite:///`` tracking URI) the records are read through
:class:`cairn.store.sql.embedded.EmbeddedDatasets` (the standard library's ``sqlite3``,
read-only). Anything unexpected (another backend, a locked or missing database, a table
that does not look as expected) falls back to the metadata store, which then reports
problems the usual way. The result is the same either way; only the cost differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cairn.errors import NotFound
from cairn.store.datasets import DatasetSummary, DatasetVersion, check_name
from cairn.store.sql.embedded import EmbeddedDatasets

if TYPE_CHECKING:
    from cairn.workspace import Workspace


def latest_versions(ws: Workspace, names: Sequence[str] | None = None) -> list[DatasetVersion]:
    """The newest version of each of ``names`` (every dataset if ``None``), sorted by name.

    Raises ``NotFound`` for a name without versions.

    Example:
        >>> [v.ref for v in latest_versions(ws, ["churn"])]  # doctest: +SKIP
        ['churn@v3']
    """
    wanted = None if names is None else sorted({check_name(n) for n in names})
    found = _peek(ws, wanted)
    if found is None:
        found = _from_store(ws, wanted)
    if wanted is not None:
        have = {v.name for v in found}
        for name in wanted:
            if name not in have:
                raise NotFound(f"no dataset named {name!r}; `cairn data ls` lists the datasets")
    return sorted(found, key=lambda v: v.name)


def latest_version(ws: Workspace, name: str) -> DatasetVersion | None:
    """The newest version of ``name``, or ``None`` if it has none."""
    try:
        return latest_versions(ws, [name])[0]
    except NotFound:
        return None


def _from_store(ws: Workspace, wanted: list[str] | None) -> list[DatasetVersion]:
    if wanted is None:
        return [s.latest for s in ws.datasets.list_datasets()]
    out = []
    for name in wanted:
        try:
            out.append(ws.datasets.get_version(name))
        except NotFound:
            continue
    return out


def _peek(ws: Workspace, wanted: list[str] | None) -> list[DatasetVersion] | None:
    """The records read straight from an embedded SQLite file; ``None``: ask the store."""
    embedded = EmbeddedDatasets.open(ws.settings.tracking_uri)
    return None if embedded is None else embedded.latest_versions(wanted)


def list_datasets(ws: Workspace) -> list[DatasetSummary]:
    """Every dataset with its version count and latest version, sorted by name."""
    embedded = EmbeddedDatasets.open(ws.settings.tracking_uri)
    found = None if embedded is None else embedded.list_datasets()
    if found is None:
        found = ws.datasets.list_datasets()
    return found
