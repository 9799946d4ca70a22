"""BLAKE3 content digests: streamed, multithreaded, memory independent of file size."""

from __future__ import annotations

import os
from typing import BinaryIO

import blake3

#: Bytes read per chunk. Large enough for blake3 to spread one update over all cores.
CHUNK_SIZE = 8 * 1024 * 1024
DIGEST_LENGTH = 64  # hex characters


def new_hasher() -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def hash_bytes(data: bytes) -> str:
    return new_hasher().update(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Digest and size of a local file, hashed through a memory map (page cache, no copy)."""
    size = os.path.getsize(path)
    hasher = new_hasher()
    if size:
        hasher.update_mmap(path)
    return hasher.hexdigest(), size


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and size of everything left in ``stream``, read in chunks."""
    hasher = new_hasher()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def is_digest(value: str) -> bool:
    return len(value) == DIGEST_LENGTH and all(c in "0123456789abcdef" for c in value)
