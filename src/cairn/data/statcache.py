"""Remembering what a path hashed to, so re-adding unchanged data reads no bytes.

``.cairn/statcache.json`` maps an absolute path to the digest it had and a fingerprint of
its files' metadata: every file's relative path, size, ``mtime_ns``, ``ctime_ns`` and
inode, hashed together. Re-adding a path whose fingerprint matches skips hashing
entirely; a directory of 10,000 files costs one ``stat`` per file instead of reading them.

Like git's index, this trusts metadata. Any write moves ``ctime``, which (unlike
``mtime``) no tool can set back, so an edit that restores the size and modification time
is still seen. To stay safe against writes that land within the file system's timestamp
granularity, a path is only cached when all its files were last changed at least
:data:`RACY_WINDOW_NS` before the scan began; such "racily clean" paths are simply
hashed again next time.

A folder is listed by the artifact store's walk (:func:`cairn.store.listing.walk`),
so the fingerprint covers exactly the files stored, and the same listing is handed to
``put_tree``: adding a folder stats each file once.
"""

from __future__ import annotations

import json
import os
import stat
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.hashing import new_hasher
from cairn.store.listing import SourceFile, walk

RACY_WINDOW_NS = 100_000_000  # 0.1 s, above the coarsest common mtime granularity (10 ms)
CACHE_FILE = "statcache.json"


@dataclass(frozen=True)
class Scan:
    """The files under a path and a fingerprint of their metadata."""

    root: Path
    files: tuple[tuple[str, int], ...]  # (relative POSIX path, size); "" for a single file
    fingerprint: str
    racy: bool
    #: For a directory, the files as listed by the store's walk (with their ``stat``).
    listing: tuple[SourceFile, ...] = ()

    @property
    def size(self) -> int:
        return sum(size for _, size in self.files)


def scan(path: Path) -> Scan:
    """Stat every file under ``path`` (a file or a directory), following symlinks.

    A directory is listed by the artifact store's own walk, so the fingerprint covers
    exactly the files a tree of it stores, and the listing (``Scan.listing``) can be
    handed to ``put_tree`` instead of walking the folder twice. Raises ``OSError`` if a
    file cannot be stat'ed, ``InvalidInput`` for a symlink loop or a special file
    (socket, FIFO, device), as storing the folder would.
    """
    started = time.time_ns()
    top = path.stat()
    listing: tuple[SourceFile, ...] = ()
    if stat.S_ISDIR(top.st_mode):
        listing = tuple(walk(path))
        names, stats = [f.path for f in listing], [f.stat for f in listing]
    else:
        names, stats = [""], [top]
    newest = started - RACY_WINDOW_NS
    racy = any(st.st_mtime_ns >= newest or st.st_ctime_ns >= newest for st in stats)
    # Names, then sizes, times and inodes as packed 64-bit integers: a third cheaper than
    # formatting a line per file, which counts on a no-change check of 10,000 files.
    # Times may be negative (before 1970) and inodes use all 64 bits: two arrays.
    times, inodes = array("q"), array("Q")
    for st in stats:
        times.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        inodes.append(st.st_ino)
    hasher = new_hasher()
    hasher.update("\0".join(names).encode())
    hasher.update(times.tobytes())
    hasher.update(inodes.tobytes())
    fingerprint = hasher.hexdigest()
    files = tuple(zip(names, [st.st_size for st in stats], strict=True))
    return Scan(root=path, files=files, fingerprint=fingerprint, racy=racy, listing=listing)


class StatCache:
    """The digest each scanned path had, keyed by absolute path; a missing file is empty."""

    def __init__(self, state_dir: Path | None) -> None:
        self.file = None if state_dir is None else state_dir / CACHE_FILE

    def _load(self) -> dict[str, Any]:
        if self.file is None:
            return {}
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # absent or damaged: the cache is only an optimisation
        return data if isinstance(data, dict) else {}

    def lookup(self, found: Scan) -> dict[str, Any] | None:
        """The cached entry for ``found.root`` if its fingerprint still matches."""
        entry = self._load().get(str(found.root))
        if isinstance(entry, dict) and entry.get("fingerprint") == found.fingerprint:
            return entry
        return None

    def remember(self, found: Scan, **values: Any) -> None:
        """Record ``values`` (digest, kind, ...) for ``found`` unless it is racily clean."""
        if self.file is None or found.racy:
            return
        data = self._load()
        data[str(found.root)] = {"fingerprint": found.fingerprint, **values}
        self.file.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".statcache-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
