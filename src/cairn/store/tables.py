"""Partitioned files: append-only data files in ``key=value`` folders under one root.

The storage path for tabular logs that many writers append to and readers scan by
partition (the model server's prediction log; monitoring reads it). The root is a local
folder or any fsspec URL (``s3://bucket/ws/predictions``), so every replica of a
deployment writes to the same shared store. This module knows no file format or
domain: a caller hands it bytes through a writer function and gets paths back.

A file appears whole or not at all: on a local disk it is written under a hidden
temporary name and renamed into place; for an object store it is built in memory and
sent in one PUT, so a writer that fails half way publishes nothing (an fsspec file
closed by a ``with`` block would upload what it had). Files here are a flush's worth
of rows, small enough to hold.

Example::

    files = PartitionedFiles("s3://bucket/ws/predictions", {"anon": False})
    files.write("churn/date=2026-11-23", "part-1.parquet", lambda fh: fh.write(data))
    for path in files.glob("churn/date=*/part-*.parquet"):
        with files.open(path) as fh:
            ...
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from cairn.errors import InvalidInput

Writer = Callable[[IO[bytes]], object]


class PartitionedFiles:
    """Files under ``root`` in partition folders, written atomically, found by glob."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        import fsspec

        self.root = root.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs, self._base = fsspec.core.url_to_fs(self.root, **self.storage_options)
        protocol = self._fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        self._local = "file" in protocols or "local" in protocols

    def __repr__(self) -> str:
        return f"<PartitionedFiles {self.root}>"

    def write(self, partition: str, name: str, writer: Writer) -> str:
        """Write one file ``<root>/<partition>/<name>`` through ``writer``; returns its path.

        ``writer`` gets a binary file to write into. Nothing is left under ``name`` when
        it raises.
        """
        _check_relative(partition)
        _check_relative(name)
        folder = f"{self._base}/{partition.strip('/')}"
        path = f"{folder}/{name}"
        self._fs.makedirs(folder, exist_ok=True)
        if self._local:
            tmp = f"{folder}/.{name}.tmp"
            try:
                with open(tmp, "wb") as fh:
                    writer(fh)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            buffer = io.BytesIO()
            writer(buffer)
            self._fs.pipe_file(path, buffer.getvalue())
        return path

    def glob(self, pattern: str) -> list[str]:
        """Paths of the files matching ``pattern`` (relative to the root), sorted."""
        _check_relative(pattern)
        found: list[str] = self._fs.glob(f"{self._base}/{pattern.strip('/')}")
        # Hidden names are files still being written.
        return sorted(p for p in found if not p.rsplit("/", 1)[-1].startswith("."))

    def remove(self, path: str) -> None:
        """Delete a file or partition folder :meth:`glob` returned, with what it holds."""
        if not path.startswith(f"{self._base}/") or ".." in path.split("/"):
            raise InvalidInput(f"{path!r} is not under {self.root}; nothing was deleted")
        self._fs.rm(path, recursive=True)

    @contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        """Open a path :meth:`glob` returned, for reading."""
        with self._fs.open(path, "rb") as fh:
            yield fh


def _check_relative(part: str) -> None:
    if part.startswith("/") or ".." in part.split("/") or "\\" in part:
        raise InvalidInput(
            f"partition path {part!r} must stay under the root: no leading '/', '..' or '\\'"
        )
