"""BLAKE3 digests: every way of hashing the same bytes gives the same digest."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.hashing import (
    CHUNK_SIZE,
    COPY_CHUNK_SIZE,
    EMPTY_DIGEST,
    copy_hashing,
    hash_bytes,
    hash_file,
    hash_stream,
    is_digest,
)


def test_digests_match_the_blake3_reference_vectors() -> None:
    # From the BLAKE3 specification's test vectors (default 32-byte output).
    assert hash_bytes(b"") == EMPTY_DIGEST
    assert hash_bytes(b"abc") == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"


@pytest.mark.parametrize(
    "size", [0, 1, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE]
)
def test_hash_file_equals_hash_bytes_of_its_contents(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)

    assert hash_file(path) == (hash_bytes(data), size)
    assert hash_file(path, threads=1) == hash_file(path, threads=0) == (hash_bytes(data), size)
    with open(path, "rb") as f:
        assert hash_stream(f) == (hash_bytes(data), size)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=20_000))
def test_copy_hashing_copies_exactly_and_digests_what_it_copied(data: bytes) -> None:
    out = io.BytesIO()

    assert copy_hashing(io.BytesIO(data), out.write) == (hash_bytes(data), len(data))
    assert out.getvalue() == data


@settings(max_examples=20, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=3000), max_size=8))
def test_copy_hashing_reassembles_short_reads(pieces: list[bytes]) -> None:
    class Trickle(io.RawIOBase):
        """A stream that returns at most one piece per read, like a pipe or socket."""

        def __init__(self) -> None:
            self.pending = list(pieces)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if not self.pending:
                return 0
            piece = self.pending.pop(0)
            buffer[: len(piece)] = piece
            return len(piece)

    out = io.BytesIO()
    data = b"".join(pieces)

    assert copy_hashing(Trickle(), out.write) == (hash_bytes(data), len(data))  # type: ignore[arg-type]
    assert out.getvalue() == data


def test_copy_hashing_copies_large_streams_across_chunks() -> None:
    data = os.urandom(3 * COPY_CHUNK_SIZE + 12345)
    out = io.BytesIO()

    assert copy_hashing(io.BytesIO(data), out.write) == (hash_bytes(data), len(data))
    assert out.getvalue() == data


def test_copy_hashing_stops_and_reraises_when_the_writer_fails() -> None:
    written: list[int] = []

    def failing_write(view: memoryview) -> None:
        written.append(len(view))
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        copy_hashing(io.BytesIO(os.urandom(5 * CHUNK_SIZE)), failing_write)
    assert written == [COPY_CHUNK_SIZE]  # nothing more is written once a write failed


def test_is_digest_accepts_only_64_lowercase_hex_characters() -> None:
    assert is_digest(hash_bytes(b"x"))
    assert not is_digest(hash_bytes(b"x").upper())
    assert not is_digest(hash_bytes(b"x")[:-1])
    assert not is_digest("g" * 64)
