"""Crash safety of the local ArtifactStore, with real processes killed by SIGKILL.

A writer killed in the middle of a write must leave no object under the content's
digest, a store that verifies, and a store that accepts the same content again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from cairn.hashing import hash_file
from cairn.store.artifacts import ArtifactStore

SIZE = 300 * 1024 * 1024

WRITER = """
import sys
from cairn.store.artifacts import ArtifactStore
store = ArtifactStore(sys.argv[1])
if sys.argv[2] == "-":
    info = store.put_stream(sys.stdin.buffer)
else:
    info = store.put_file(sys.argv[2])
print(info.digest, flush=True)
"""


def big_file(path: Path, size: int = SIZE) -> Path:
    """Mostly sparse (instant), with random megabytes so the digest is unique to this test."""
    with open(path, "wb") as f:
        f.truncate(size)
        for at in range(0, size, 64 * 1024 * 1024):
            f.seek(at)
            f.write(os.urandom(1024 * 1024))
    return path


def writer(store_root: Path, source: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store_root), source],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def temp_files(store_root: Path) -> list[Path]:
    return list((store_root / "tmp").glob("*.tmp")) if (store_root / "tmp").is_dir() else []


def largest_temp(store_root: Path) -> int:
    sizes = [-1]
    for path in temp_files(store_root):
        with contextlib.suppress(FileNotFoundError):  # renamed into place meanwhile
            sizes.append(path.stat().st_size)
    return max(sizes)


def wait_for_temp(
    store_root: Path, process: subprocess.Popen[bytes], min_size: int = 0, timeout: float = 60
) -> int:
    """Poll until a temp file has grown between two looks (or, given ``min_size``, holds
    more than that); return its size. Fails if the writer ends first."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        assert process.poll() is None, "the writer finished before it could be killed"
        size = largest_temp(store_root)
        if (min_size and size > min_size) or (not min_size and 0 < last < size):
            return size
        last = size
        time.sleep(0.002)
    raise AssertionError("no growing temp file appeared in the store")


def assert_recovers(store_root: Path, source: Path, digest: str) -> None:
    """No object under the digest, verify ok, the same content can be stored again."""
    store = ArtifactStore(str(store_root))
    assert not store.exists(digest)
    assert list(store.iter_objects()) == []
    assert store.verify().ok
    assert temp_files(store_root)  # the interrupted write's leftovers sit in tmp/ only

    assert store.put_file(source).digest == digest
    report = store.verify([digest])
    assert report.ok and report.checked == 1 and report.bytes == source.stat().st_size

    # Leftovers of the crash go once they are older than an hour.
    old = time.time() - 7200
    for leftover in temp_files(store_root):
        os.utime(leftover, (old, old))
    store.gc([digest], dry_run=False)
    assert temp_files(store_root) == []
    assert store.exists(digest)


def test_writer_killed_while_streaming_leaves_no_object(tmp_path: Path) -> None:
    source = big_file(tmp_path / "big.bin")
    digest, _ = hash_file(source)
    store_root = tmp_path / "store"
    process = writer(store_root, "-", stdin=subprocess.PIPE)
    assert process.stdin is not None

    # Feed two thirds of the content, then stop: the writer is now blocked mid-object.
    with open(source, "rb") as f:
        for _ in range(SIZE * 2 // 3 // (1024 * 1024)):
            process.stdin.write(f.read(1024 * 1024))
    process.stdin.flush()
    wait_for_temp(store_root, process, min_size=SIZE // 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdin.close()
    process.stdout.close()  # type: ignore[union-attr]
    process.stderr.close()  # type: ignore[union-attr]

    assert process.returncode == -signal.SIGKILL
    assert_recovers(store_root, source, digest)


def test_writer_killed_while_copying_a_file_leaves_no_object(tmp_path: Path) -> None:
    source = big_file(tmp_path / "big.bin")
    digest, _ = hash_file(source)
    store_root = tmp_path / "store"
    process = writer(store_root, str(source))

    seen = wait_for_temp(store_root, process)
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate()

    assert process.returncode == -signal.SIGKILL, err.decode()
    assert 0 < seen < SIZE
    assert_recovers(store_root, source, digest)


@pytest.mark.parametrize("writers", [2])
def test_processes_storing_the_same_content_at_once_all_succeed(
    tmp_path: Path, writers: int
) -> None:
    source = tmp_path / "shared.bin"
    with open(source, "wb") as f:
        f.write(blake3.blake3(os.urandom(32)).digest(length=64 * 1024 * 1024))
    store_root = tmp_path / "store"

    processes = [writer(store_root, str(source)) for _ in range(writers)]
    outputs = [p.communicate() for p in processes]

    assert [p.returncode for p in processes] == [0] * writers, [e.decode() for _, e in outputs]
    digest = hash_file(source)[0]
    assert {out.decode().strip() for out, _ in outputs} == {digest}
    store = ArtifactStore(str(store_root))
    assert list(store.iter_objects()) == [digest]
    assert store.verify().ok
    assert temp_files(store_root) == []
