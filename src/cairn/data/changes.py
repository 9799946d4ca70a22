"""Whether the files a dataset was added from still match its latest version.

The peer of ``dvc status`` and ``git status``: for each dataset, the path its latest
version was added from (``DatasetVersion.source``) is scanned, one ``stat`` per file.
When the stat cache (:mod:`cairn.data.statcache`) says the files are exactly as they were
when that content was stored, the answer is "unchanged" with no byte read. Otherwise the
files are hashed and compared with the version's content, file by file for a folder, so
a file that was only touched (same bytes, new mtime) is "unchanged" and is cached for the
next time, while any edit is "modified" with the paths that differ.

Example:
    >>> for s in cairn.data.status():  # doctest: +SKIP
    ...     print(s.version.ref, s.state, s.describe())
    churn@v3 unchanged files as stored
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.config import STATE_DIR
from cairn.data.lookup import latest_versions
from cairn.data.statcache import Scan, StatCache, scan
from cairn.errors import CairnError
from cairn.store.datasets import DatasetVersion

if TYPE_CHECKING:
    from cairn.workspace import Workspace

State = Literal["unchanged", "modified", "missing", "unknown"]

#: Files below this size are read whole and hashed in one call; larger ones memory-mapped.
_SMALL = 512 * 1024


@dataclass(frozen=True)
class DatasetStatus:
    """How the source of a dataset's latest version compares with that version.

    ``state`` is ``unchanged``, ``modified``, ``missing`` (the path is gone) or
    ``unknown`` (no source path was recorded, or the content cannot be compared).
    For a folder, ``modified``/``added``/``deleted`` list the relative paths that differ.
    ``hashed`` tells whether bytes were read to decide (False: the stat cache answered).
    """

    version: DatasetVersion
    state: State
    modified: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    hashed: bool = False
    reason: str = ""

    @property
    def path(self) -> str:
        return self.version.source

    def describe(self) -> str:
        """One line for people, e.g. ``2 modified, 1 added`` or ``same bytes, touched``."""
        if self.state == "unchanged":
            return "same bytes, new file times" if self.hashed else "files as stored"
        if self.state == "modified" and (self.modified or self.added or self.deleted):
            counts = [
                f"{len(paths)} {label}"
                for paths, label in (
                    (self.modified, "modified"),
                    (self.added, "added"),
                    (self.deleted, "deleted"),
                )
                if paths
            ]
            return ", ".join(counts)
        return self.reason or self.state

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.version.name,
            "ref": self.version.ref,
            "digest": self.version.digest,
            "path": self.path,
            "state": self.state,
            "modified": list(self.modified),
            "added": list(self.added),
            "deleted": list(self.deleted),
            "hashed": self.hashed,
            "reason": self.reason,
        }


def status(ws: Workspace, names: list[str] | None = None) -> list[DatasetStatus]:
    """The status of the latest version of each of ``names`` (all datasets by default).

    ``NotFound`` for a name that has no versions.
    """
    cache = StatCache(ws.root / STATE_DIR if ws.root is not None else None)
    return [_status_of(ws, version, cache) for version in latest_versions(ws, names)]


def _status_of(ws: Workspace, version: DatasetVersion, cache: StatCache) -> DatasetStatus:
    if not version.source:
        return DatasetStatus(version, "unknown", reason="no source path was recorded")
    path = Path(version.source)
    if not path.exists():
        return DatasetStatus(version, "missing", reason="the path no longer exists")
    try:
        found = scan(path)
    except (OSError, CairnError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        return DatasetStatus(version, "unknown", reason=f"cannot scan {path}: {reason}")
    hit = cache.lookup(found)
    if hit is not None and hit.get("digest") == version.digest:
        return DatasetStatus(version, "unchanged")
    try:
        result = _compare(ws, version, found)
    except (OSError, CairnError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        return DatasetStatus(version, "unknown", hashed=True, reason=reason or "")
    if result.state == "unchanged":
        # Same bytes with new metadata (a touch, a copy back): remember, so the next
        # status or add answers from the stat cache again.
        cache.remember(found, digest=version.digest, kind=version.kind)
    return result


def _compare(ws: Workspace, version: DatasetVersion, found: Scan) -> DatasetStatus:
    """Hash what is on disk and compare it with the version's content."""
    path = found.root
    single = found.files[0][0] == ""
    if version.kind == "file":
        if not single:
            return DatasetStatus(version, "modified", hashed=True, reason="now a folder")
        same = _digest(path, found.files[0][1]) == version.digest
        return DatasetStatus(version, "unchanged" if same else "modified", hashed=True)
    if single:
        return DatasetStatus(version, "modified", hashed=True, reason="now a file")
    stored = {e.path: e for e in ws.artifacts.read_tree(version.digest)}
    present = dict(found.files)
    modified = []
    for rel, size in found.files:
        entry = stored.get(rel)
        if entry is not None and (entry.size != size or _digest(path / rel, size) != entry.digest):
            modified.append(rel)
    added = tuple(rel for rel in present if rel not in stored)
    deleted = tuple(sorted(rel for rel in stored if rel not in present))
    state: State = "modified" if modified or added or deleted else "unchanged"
    return DatasetStatus(version, state, tuple(modified), added, deleted, hashed=True)


def _digest(path: Path, size: int) -> str:
    from cairn.hashing import hash_bytes, hash_file

    if size >= _SMALL:
        return hash_file(path)[0]
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size + 1)
        while len(data) > size and (more := os.read(fd, 1 << 20)):
            data += more  # it grew since the scan
    finally:
        os.close(fd)
    return hash_bytes(data)
