"""Blob backends: the few operations the content-addressed store needs from storage.

A key is a POSIX-style relative string (``objects/ab/cdef...``). ``LocalBlobs`` keeps keys
as files under a folder; ``FsspecBlobs`` keeps them on any fsspec file system (S3, GCS,
Azure, SFTP, memory, ...). ``open_blobs(uri)`` picks one. Nothing above this module knows
which backend it talks to, except that a local one can hand out real paths
(``local_path``) for fast copies.

Atomic writes, per backend:

- local folder: bytes go to ``tmp/<random>``, then are renamed onto the key
  (``os.replace``). A crashed process leaves at most a stale file in ``tmp/``, never a
  partial object. With ``fsync`` (``[artifacts] fsync = true``) the file and the folder
  are also flushed to disk, which survives power loss too, at about half the write
  speed; without it (the default, as in git and DVC) ``cairn verify`` finds what a power
  cut damaged.
- object stores (``s3``, ``gs``, ``az``, ...): a PUT (or a multipart upload) becomes
  visible only once complete, so the key is written directly; a failed write is
  discarded (the multipart upload aborted) rather than closed.
- other fsspec file systems: bytes go to a ``tmp/`` key, then are moved onto the key.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from cairn.credentials import mask_uri
from cairn.errors import ConfigError

TMP_PREFIX = "tmp/"
#: Objects live under ``objects/<first 2 hex digits>/<other 62>`` of their digest.
OBJECTS = "objects/"


#: A put that finds its object already stored leaves a mark here (see ``mark_key``).
MARKS = "marks/"
#: ``cairn gc`` moves the objects it is about to delete here first (``trash/<digest>.<run>``).
TRASH = "trash/"


def object_key(digest: str) -> str:
    """The key of the object ``digest`` in a store (fanned out by its first byte)."""
    return f"{OBJECTS}{digest[:2]}/{digest[2:]}"


def mark_key(digest: str) -> str:
    """A new, unique key saying "``digest`` was stored again now" (its time is the mark).

    Each mark has its own key, so gc removing old marks can never remove a new one.
    """
    return f"{MARKS}{digest[:2]}/{digest[2:]}.{uuid.uuid4().hex}"


def marked_digest(key: str) -> str | None:
    """The digest a mark key (from ``mark_key``) stands for; None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != MARKS or len(parts[1]) != 2:
        return None
    return parts[1] + parts[2].split(".", 1)[0]


#: Protocols whose writes become visible only when complete (a PUT or multipart upload).
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})
#: Remote protocols an artifact store can use: bucket-style file systems that fsspec
#: opens from storage options alone (ftp, sftp, http need a host and are not supported).
REMOTE_PROTOCOLS = ATOMIC_PUT_PROTOCOLS | {"memory"}


@runtime_checkable
class Blobs(Protocol):
    """Storage of immutable byte strings under keys.

    Reads of a missing key raise ``FileNotFoundError``; ``size`` and ``modified``
    return ``None`` instead.
    """

    uri: str

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int | None: ...

    def modified(self, key: str) -> float | None:
        """Last modification as a Unix timestamp (used to age out stale temp files)."""

    def open_read(self, key: str) -> BinaryIO: ...

    def write_atomic(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store the concatenated ``chunks`` under ``key``; all or nothing.

        If iterating ``chunks`` raises, nothing appears under ``key``.
        """

    def commit_file(self, path: Path, key: str) -> None:
        """Publish the finished local file ``path`` under ``key`` atomically; consumes it."""

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    def list(self, prefix: str) -> Iterator[str]:
        """Every key that starts with ``prefix`` (a folder-like prefix ending in ``/``)."""

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        """``list`` with each key's modification time, as ``modified`` gives it."""

    def move(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (replacing it); ``FileNotFoundError`` if ``src`` is gone.

        Atomic on a local folder (a rename); on an object store a copy then a delete.
        """

    def local_path(self, key: str) -> Path | None:
        """The file holding ``key`` when the backend is a local folder, else ``None``."""


def open_blobs(
    uri: str, storage_options: dict[str, Any] | None = None, *, fsync: bool = False
) -> Blobs:
    """The backend for ``uri``: a plain path or ``file://`` is local, anything else fsspec.

    Example:
        >>> open_blobs("/srv/cairn/artifacts").uri
        '/srv/cairn/artifacts'
    """
    if "://" not in uri:
        return LocalBlobs(Path(uri), fsync=fsync)
    if uri.startswith("file://"):
        return LocalBlobs(Path(uri[len("file://") :]), fsync=fsync)
    protocol = uri.partition("://")[0].lower()
    if protocol in ("http", "https"):  # the artifact store of a `cairn server`
        from cairn.store.rest.blobs import HttpBlobs

        return HttpBlobs(uri, storage_options)
    if protocol not in REMOTE_PROTOCOLS:
        known = ", ".join(f"{p}://" for p in sorted(REMOTE_PROTOCOLS))
        raise ConfigError(
            f"unsupported artifact store scheme {protocol!r} in {mask_uri(uri)!r}; use a "
            f"folder, file://, or one of: {known}"
        )
    return FsspecBlobs(uri, storage_options or {})


def _temp_name() -> str:
    return f"{TMP_PREFIX}{uuid.uuid4().hex}.tmp"


class LocalBlobs:
    """Keys are files under ``root``; writes are temp file + rename (+ fsync if asked)."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.fsync = fsync
        self.root = root.expanduser().absolute()
        self.uri = str(self.root)
        try:
            (self.root / TMP_PREFIX).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the artifact store folder {self.root}: {exc.strerror}"
            ) from None

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def modified(self, key: str) -> float | None:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            return None

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def new_temp(self) -> Path:
        """A fresh path under ``tmp/`` on the same file system as the objects."""
        return self._path(_temp_name())

    def write_atomic(self, key: str, chunks: Iterable[bytes]) -> None:
        tmp = self.new_temp()
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            self.commit_file(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)

    def commit_file(self, path: Path, key: str) -> None:
        if self.fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        # The object's time is when it appeared under its key, not when its temp copy
        # was last written: gc's age test (min_age) counts from here.
        os.utime(path)
        # os.replace is atomic; two writers of the same key both succeed and the
        # survivor is complete either way, since a key only ever holds one content.
        os.replace(path, final)
        if self.fsync:
            _fsync_dir(final.parent)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[str]:
        for key, _ in self._scan(prefix, with_times=False):
            yield key

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        return self._scan(prefix, with_times=True)

    def _scan(self, prefix: str, with_times: bool) -> Iterator[tuple[str, float]]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        stack = [base]
        while stack:
            folder = stack.pop()
            try:
                it = os.scandir(folder)
            except FileNotFoundError:
                continue  # removed while listing (a gc emptying its quarantine)
            with it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        key = Path(entry.path).relative_to(self.root).as_posix()
                        if not with_times:
                            yield key, 0.0
                            continue
                        try:
                            yield key, entry.stat(follow_symlinks=False).st_mtime
                        except FileNotFoundError:
                            continue

    def move(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(src), target)  # raises FileNotFoundError if src is gone
        if self.fsync:
            _fsync_dir(target.parent)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FsspecBlobs:
    """Keys live under ``uri`` on an fsspec file system (``s3://bucket/prefix`` ...).

    ``storage_options`` go to ``fsspec.filesystem``. For S3 without an explicit
    ``endpoint_url``, ``FSSPEC_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL`` is used, so an
    S3-compatible server (MinIO, moto, Ceph) works from the environment alone.
    """

    def __init__(self, uri: str, storage_options: dict[str, Any]) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - fsspec is a core dependency
            raise ConfigError("remote artifact stores need fsspec: pip install fsspec") from None
        protocol, _, rest = uri.partition("://")
        self.uri = uri.rstrip("/")
        self.protocol = protocol.lower()
        self.root = rest.strip("/")
        options = dict(storage_options)
        if self.protocol in ("s3", "s3a"):
            options = _with_s3_endpoint(options)
        try:
            self.fs: Any = fsspec.filesystem(self.protocol, **options)
        except (ImportError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"cannot open artifact store {mask_uri(uri)!r}: {exc}; for S3 install "
                "`cairn-mlops[s3]`, and check [artifacts.storage_options]"
            ) from None
        self.atomic_put = self.protocol in ATOMIC_PUT_PROTOCOLS

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def _info(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        self.fs.invalidate_cache(path)  # another process may have written or deleted it
        try:
            info: dict[str, Any] = self.fs.info(path)
        except FileNotFoundError:
            return None
        return info if info.get("type") != "directory" else None

    def exists(self, key: str) -> bool:
        return self._info(key) is not None

    def size(self, key: str) -> int | None:
        info = self._info(key)
        return None if info is None else int(info["size"])

    def modified(self, key: str) -> float | None:
        if self._info(key) is None:
            return None
        try:
            return float(self.fs.modified(self._path(key)).timestamp())
        except (NotImplementedError, FileNotFoundError):
            return None

    def open_read(self, key: str) -> BinaryIO:
        f: BinaryIO = self.fs.open(self._path(key), "rb")
        return f

    def write_atomic(self, key: str, chunks: Iterable[bytes]) -> None:
        target = key if self.atomic_put else _temp_name()
        f = self.fs.open(self._path(target), "wb")
        try:
            for chunk in chunks:
                f.write(chunk)
        except BaseException:
            # Closing would publish what was written so far; discard aborts instead.
            if target == key:
                f.discard()
                f.closed = True  # so that garbage collection does not close (= publish) it
            else:
                f.close()
            if target != key:
                self.delete(target)
            raise
        f.close()
        if target != key:
            self._move(target, key)
        self.fs.invalidate_cache(self._path(key))

    def commit_file(self, path: Path, key: str) -> None:
        try:
            if self.atomic_put:
                self.fs.put_file(str(path), self._path(key))
            else:
                tmp = _temp_name()
                self.fs.put_file(str(path), self._path(tmp))
                self._move(tmp, key)
            self.fs.invalidate_cache(self._path(key))
        finally:
            path.unlink(missing_ok=True)

    def _move(self, src: str, key: str) -> None:
        try:
            self.fs.mv(self._path(src), self._path(key))
        finally:
            self.delete(src)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))
        self.fs.invalidate_cache(self._path(key))

    def list(self, prefix: str) -> Iterator[str]:
        for key, _ in self._find(prefix):
            yield key

    def list_modified(self, prefix: str) -> Iterator[tuple[str, float]]:
        for key, info in self._find(prefix):
            stamp = _info_time(info)
            if stamp is None:
                stamp = self.modified(key)
            if stamp is not None:
                yield key, stamp

    def _find(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        base = self._path(prefix).rstrip("/")
        self.fs.invalidate_cache(base)
        try:
            found: dict[str, dict[str, Any]] = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        strip = len(self.root) + 1 if self.root else 0
        for path in sorted(found):
            yield str(path)[strip:], found[path]

    def move(self, src: str, dst: str) -> None:
        if self._info(src) is None:
            raise FileNotFoundError(src)
        self.fs.copy(self._path(src), self._path(dst))
        self.delete(src)
        self.fs.invalidate_cache(self._path(dst))

    def local_path(self, key: str) -> Path | None:
        return None


def _info_time(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec listing entry, under the names backends use."""
    for name in ("LastModified", "mtime", "updated", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _with_s3_endpoint(options: dict[str, Any]) -> dict[str, Any]:
    """Fill ``endpoint_url`` from the environment when the options do not name one."""
    client_kwargs = options.get("client_kwargs") or {}
    if "endpoint_url" in options or "endpoint_url" in client_kwargs:
        return options
    endpoint = os.environ.get("FSSPEC_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options = {**options, "endpoint_url": endpoint}
    return options
