"""Blobs over HTTP: the artifact store of a ``cairn server`` (``http(s)://host:port``).

Reads stream and seek with ``Range`` requests (a pack member costs one ranged GET);
writes stream to ``PUT``, which the server verifies against the digest in the key.
Listing, deleting and moving objects (what ``cairn gc`` does) are refused here: run
``cairn gc`` on the server's own stores.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cairn.errors import ConfigError, NotFound
from cairn.store.rest.http import Session, session_for

PREFIX = "/api/artifacts/blobs/"
MODIFIED_HEADER = "X-Cairn-Modified"


class HttpBlobs:
    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._ca_bundle = (storage_options or {}).get("ca_bundle")

    @property
    def session(self) -> Session:
        # Looked up on each use: closing the metadata backend closes the shared session.
        return session_for(self.uri, self._ca_bundle)

    def _head(self, key: str) -> tuple[int, float | None] | None:
        try:
            response = self.session.request("HEAD", PREFIX + key)
        except NotFound:
            return None
        modified = response.headers.get(MODIFIED_HEADER)
        return int(response.headers["content-length"]), float(modified) if modified else None

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int | None:
        found = self._head(key)
        return None if found is None else found[0]

    def modified(self, key: str) -> float | None:
        found = self._head(key)
        return None if found is None else found[1]

    def open_read(self, key: str) -> BinaryIO:
        found = self._head(key)
        if found is None:
            raise FileNotFoundError(key)
        return io.BufferedReader(_RangeReader(self.session, PREFIX + key, found[0]), 1 << 20)

    def write_atomic(self, key: str, chunks: Iterable[bytes]) -> None:
        # A streamed body cannot be sent twice: no retry once bytes went out.
        self.session.request(
            "PUT",
            PREFIX + key,
            content=iter(chunks),
            headers={"Content-Type": "application/octet-stream"},
        )

    def commit_file(self, path: Path, key: str) -> None:
        try:
            with open(path, "rb") as f:
                self.session.request(
                    "PUT",
                    PREFIX + key,
                    content=f.read() if path.stat().st_size < (1 << 20) else _file_chunks(f),
                    headers={"Content-Type": "application/octet-stream"},
                )
        finally:
            path.unlink(missing_ok=True)

    def _refuse(self, what: str) -> ConfigError:
        return ConfigError(
            f"cannot {what} through the Cairn server at {self.uri}; run `cairn gc` and "
            "`cairn verify` where the server's artifact store is (e.g. on the server host)"
        )

    def delete(self, key: str) -> None:
        raise self._refuse("delete artifact objects")

    def list(self, prefix: str) -> Iterator[str]:
        raise self._refuse("list artifact objects")

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        raise self._refuse("list artifact objects")

    def move(self, src: str, dst: str) -> None:
        raise self._refuse("move artifact objects")

    def local_path(self, key: str) -> Path | None:
        return None


def _file_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(1 << 20):
        yield chunk


class _RangeReader(io.RawIOBase):
    """A seekable reader of one object: each read after a seek opens a ranged GET."""

    def __init__(self, session: Session, path: str, size: int) -> None:
        super().__init__()
        self._session, self._path, self._size = session, path, size
        self._pos = 0
        self._stream: Any = None
        self._chunks: Iterator[bytes] | None = None
        self._left = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop()
            self._pos = target
        return self._pos

    def _open(self) -> None:
        headers = {"Range": f"bytes={self._pos}-"} if self._pos else {}
        self._stream = self._session.stream("GET", self._path, headers=headers)
        response = self._stream.__enter__()
        self._chunks = response.iter_raw(1 << 20)

    def _drop(self) -> None:
        if self._stream is not None:
            self._stream.__exit__(None, None, None)
        self._stream, self._chunks, self._left = None, None, b""

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if not self._left:
            if self._chunks is None:
                self._open()
            assert self._chunks is not None
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        self._pos += n
        return n

    def close(self) -> None:
        self._drop()
        super().close()
