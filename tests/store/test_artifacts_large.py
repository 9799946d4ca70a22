"""Large local files take the kernel-copy path; the result is the same object."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn.hashing import hash_file
from cairn.store import artifacts as artifacts_module
from cairn.store.artifacts import ArtifactStore


@pytest.fixture
def big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Lower the threshold so a few MiB exercise the path the way a GiB would.
    monkeypatch.setattr(artifacts_module, "_PARALLEL_COPY_MIN", 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
def test_large_file_is_stored_under_its_digest_and_reads_back(
    big_file: Path, tmp_path: Path, fsync: bool
) -> None:
    store = ArtifactStore(str(tmp_path / "store"), fsync=fsync)
    info = store.put_file(big_file)
    assert (info.digest, info.size) == hash_file(big_file)
    assert store.read_bytes(info.digest, verify=True) == big_file.read_bytes()
    assert store.put_file(big_file) == info  # deduplicated
    assert list(store.iter_objects()) == [info.digest]
    assert not list((tmp_path / "store" / "tmp").iterdir())  # no temp copy left behind
    assert store.verify([info.digest]).ok


def test_large_file_changed_during_the_copy_falls_back_to_one_pass(
    big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    real_hash = artifacts_module.hash_file

    def hash_then_modify(
        path: str | os.PathLike[str], threads: int | None = None
    ) -> tuple[str, int]:
        result = real_hash(path, threads)
        with open(path, "ab") as f:  # the file grows after it was hashed
            f.write(b"more")
        return result

    monkeypatch.setattr(artifacts_module, "hash_file", hash_then_modify)
    info = store.put_file(big_file)
    # The object holds what the file holds now, under the digest of those bytes.
    assert info.size == big_file.stat().st_size
    assert store.read_bytes(info.digest, verify=True) == big_file.read_bytes()
