"""Listing the files of a folder, and reading small ones, for the artifact store.

One walk serves both the data layer's stat cache (which needs every file's metadata)
and :meth:`~cairn.store.artifacts.ArtifactStore.put_tree` (which stores what it lists),
so adding a folder stats each file once. Kept apart from the tree format
(:mod:`cairn.store.trees`) so that a no-change check loads no more than it needs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from cairn.errors import InvalidInput

__all__ = ["SourceFile", "read_small", "walk"]


class SourceFile(NamedTuple):
    """One regular file found by :func:`walk`, with the ``stat`` taken when it was listed.

    A named tuple rather than a frozen dataclass: one is built per file of a folder, and
    it is constructed in half the time.
    """

    path: str  # POSIX, relative to the tree root
    source: str  # where to read it (a str: pathlib costs too much per file in big trees)
    stat: os.stat_result  # of the target, symlinks followed

    @property
    def size(self) -> int:
        return self.stat.st_size


def read_small(path: str, size: int) -> bytes:
    """All bytes of a small file whose size was ``size`` when listed (it may have changed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return data  # a short read of a regular file means end of file
        parts = [data]
        while chunk := os.read(fd, 1 << 20):  # it grew since it was listed
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def walk(root: Path) -> list[SourceFile]:
    """Regular files under ``root``, sorted by relative path, each with its ``stat``.

    Symlinks are followed (the tree stores what they point at); a symlink loop, a
    dangling link or a special file (socket, FIFO, device) is refused. Empty
    directories are not recorded. One ``stat`` per file: a caller that needs the
    metadata too (the data layer's stat cache) takes it from here and hands the same
    listing to :meth:`~cairn.store.artifacts.ArtifactStore.put_tree`.
    """
    files: list[SourceFile] = []
    append, is_reg, is_dir = files.append, stat.S_ISREG, stat.S_ISDIR  # hot loop: locals
    top = root.stat()
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (str(root), "", frozenset({(top.st_dev, top.st_ino)}))
    ]
    while stack:
        folder, prefix, ancestors = stack.pop()
        with os.scandir(folder) as listing:
            for item in listing:
                name = item.name
                try:
                    if not name.isascii():
                        name.encode("utf-8")  # undecodable bytes surface as surrogates
                    info = item.stat()  # follows symlinks
                except UnicodeEncodeError:
                    raise InvalidInput(
                        f"{item.path!r}: file names must be valid UTF-8; rename it"
                    ) from None
                except FileNotFoundError:
                    raise InvalidInput(
                        f"{item.path} is a dangling symlink; remove it or fix its target"
                    ) from None
                mode = info.st_mode
                if is_reg(mode):
                    append(SourceFile(prefix + name, item.path, info))
                elif is_dir(mode):
                    key = (info.st_dev, info.st_ino)
                    if key in ancestors:
                        raise InvalidInput(
                            f"{item.path} links back to a folder above it; remove the loop"
                        )
                    stack.append((item.path, f"{prefix}{name}/", ancestors | {key}))
                else:
                    raise InvalidInput(
                        f"{item.path} is not a regular file or folder; remove it or move it out"
                    )
    files.sort(key=lambda f: f.path)
    return files
