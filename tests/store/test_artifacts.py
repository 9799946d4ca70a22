"""The content-addressed ArtifactStore.

The behaviour every backend must share runs over a parametrized ``store`` fixture: a
local folder, and S3 on moto's real server (``-m s3`` selects those cases). Local-only
behaviour (the on-disk layout, packing, symlinks, temp files) follows.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.errors import ConfigError, IntegrityError, InvalidInput, NotFound
from cairn.hashing import CHUNK_SIZE, hash_bytes, hash_file
from cairn.store.artifacts import ArtifactStore
from cairn.store.trees import PACK_THRESHOLD, TREE_HEADER, encode_tree
from cairn.types import ObjectInfo, TreeEntry

StoreFactory = Callable[[], ArtifactStore]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes empty stores of one backend (each call: a new folder or bucket prefix)."""
    base = str(tmp_path) if request.param == "local" else request.getfixturevalue("s3_bucket")
    made = iter(range(100))
    return lambda: ArtifactStore(f"{base}/store{next(made)}")


@pytest.fixture
def store(new_store: StoreFactory) -> ArtifactStore:
    return new_store()


def key(digest: str) -> str:
    return f"objects/{digest[:2]}/{digest[2:]}"


def flip_byte(store: ArtifactStore, digest: str, at: int = 0) -> None:
    """Corrupt a stored object in place: on disk for a local store, by a PUT on S3."""
    path = store.blobs.local_path(key(digest))
    if path is not None:
        with open(path, "r+b") as f:
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 0xFF]))
        return
    with store.blobs.open_read(key(digest)) as f:
        data = bytearray(f.read())
    data[at] ^= 0xFF
    store.blobs.write_atomic(key(digest), [bytes(data)])


def make_tree(root: Path) -> dict[str, bytes]:
    """Nested folders, unicode names, an empty file, duplicates, packed and unpacked files."""
    files = {
        "a.txt": b"alpha\n",
        "empty.bin": b"",
        "données/été.csv": b"x,y\n1,2\n",
        "日本/ファイル.txt": "こんにちは".encode(),
        "deep/er/still/leaf.txt": b"leaf",
        "deep/copy-of-a.txt": b"alpha\n",
        "big/large.bin": os.urandom(PACK_THRESHOLD + 1000),
        "big/chunked.bin": os.urandom(CHUNK_SIZE + 17),
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_all(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- behaviour shared by every backend -------------------------------------------------


def test_put_bytes_round_trips_under_its_blake3_digest(store: ArtifactStore) -> None:
    info = store.put_bytes(b"hello cairn")

    assert info == ObjectInfo(hash_bytes(b"hello cairn"), 11, "file")
    assert store.read_bytes(info.digest, verify=True) == b"hello cairn"
    assert store.info(info.digest) == info
    assert store.exists(info.digest)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 3])
def test_put_file_round_trips_any_size(store: ArtifactStore, tmp_path: Path, size: int) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(size))

    info = store.put_file(source)

    assert info == ObjectInfo(*hash_file(source))
    restored = store.get_file(info.digest, tmp_path / "out" / "restored.bin")
    assert restored.read_bytes() == source.read_bytes()


def test_put_stream_stores_what_put_file_stores(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "s.bin"
    source.write_bytes(os.urandom(CHUNK_SIZE + 5))

    with open(source, "rb") as f:
        streamed = store.put_stream(f)

    assert streamed == store.put_file(source)
    assert store.read_bytes(streamed.digest) == source.read_bytes()


def test_same_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(1000)
    (tmp_path / "one").write_bytes(data)
    (tmp_path / "two").write_bytes(data)

    digests = {
        store.put_bytes(data).digest,
        store.put_bytes(data).digest,
        store.put_file(tmp_path / "one").digest,
        store.put(tmp_path / "two").digest,
    }

    assert len(digests) == 1
    assert list(store.iter_objects()) == list(digests)


def test_tree_checkout_restores_exact_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    (tmp_path / "src" / "empty-dir").mkdir()

    info = store.put(tmp_path / "src")
    restored = store.checkout(info.digest, tmp_path / "out")

    assert info.kind == "tree"
    assert info.size == sum(len(b) for b in files.values())
    assert store.info(info.digest) == info
    assert read_all(restored) == files
    assert not (restored / "empty-dir").exists()  # empty folders are not recorded


def test_tree_packs_small_files_and_stores_large_ones_whole(
    store: ArtifactStore, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")

    entries = {e.path: e for e in store.read_tree(store.put_tree(tmp_path / "src").digest)}

    assert sorted(entries) == sorted(files)
    assert entries["big/large.bin"].pack is None
    assert store.exists(entries["big/large.bin"].digest)
    packed = entries["données/été.csv"]
    assert packed.pack is not None and not store.exists(packed.digest)
    assert entries["a.txt"].pack == entries["deep/copy-of-a.txt"].pack  # duplicates share bytes
    assert entries["a.txt"].offset == entries["deep/copy-of-a.txt"].offset
    for path, entry in entries.items():
        assert entry.digest == hash_bytes(files[path])
        assert store.read_bytes(entry, verify=True) == files[path]


def test_storing_an_unchanged_tree_again_writes_nothing(
    store: ArtifactStore, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src")
    first = store.put_tree(tmp_path / "src")
    objects = sorted(store.iter_objects())

    assert store.put_tree(tmp_path / "src") == first
    assert sorted(store.iter_objects()) == objects


def test_open_verify_refuses_a_corrupted_object(store: ArtifactStore) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = store.put_bytes(data).digest
    flip_byte(store, digest, at=2 * 1024 * 1024)

    with store.open(digest) as f:
        assert f.read() != data  # without verify the damage goes unnoticed
    with pytest.raises(IntegrityError, match=digest), store.open(digest, verify=True) as f:
        f.read()
    with pytest.raises(IntegrityError, match=digest):
        store.read_bytes(digest, verify=True)


def test_get_file_refuses_a_corrupted_object_and_keeps_the_old_dest(
    store: ArtifactStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(b"model weights v2").digest
    flip_byte(store, digest)
    dest = tmp_path / "work" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"model weights v1")

    with pytest.raises(IntegrityError, match=digest):
        store.get_file(digest, dest)

    assert dest.read_bytes() == b"model weights v1"
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]  # no temp file left


def test_checkout_refuses_a_tree_whose_pack_is_corrupt(
    store: ArtifactStore, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src")
    tree = store.put_tree(tmp_path / "src").digest
    pack = next(e.pack for e in store.read_tree(tree) if e.pack)
    assert pack is not None
    flip_byte(store, pack)

    (tmp_path / "work").mkdir()
    with pytest.raises(IntegrityError, match=pack):
        store.checkout(tree, tmp_path / "work" / "out")

    assert list((tmp_path / "work").iterdir()) == []  # neither dest nor a staging folder


def test_verify_reports_corrupt_objects_and_missing_references(
    store: ArtifactStore, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src")
    good = store.put_bytes(b"good").digest
    bad = store.put_bytes(b"bad").digest
    tree = store.put_tree(tmp_path / "src").digest
    entries = store.read_tree(tree)
    clean = store.verify([good, bad, tree])
    assert clean.ok and clean.corrupt == () and clean.missing == ()
    assert clean.checked == len(list(store.iter_objects()))
    assert clean.members == sum(1 for e in entries if e.pack)

    flip_byte(store, bad)
    lost_pack = next(e.pack for e in entries if e.pack)
    assert lost_pack is not None
    store.blobs.delete(key(lost_pack))
    never_stored = hash_bytes(b"never stored")
    report = store.verify([good, bad, tree, never_stored])

    assert not report.ok
    assert report.corrupt == (bad,)
    assert report.missing == tuple(sorted([lost_pack, never_stored]))


def test_verify_rehashes_each_packed_file(store: ArtifactStore) -> None:
    pack = store.put_bytes(b"aaaabbbb").digest
    lying = encode_tree(
        [
            TreeEntry("a", hash_bytes(b"aaaa"), 4, pack=pack, offset=0),
            TreeEntry("b", hash_bytes(b"cccc"), 4, pack=pack, offset=4),  # not what is there
        ]
    )
    store.put_bytes(lying)

    report = store.verify()

    assert report.members == 2
    assert report.corrupt == (hash_bytes(b"cccc"),)


def test_gc_dry_run_lists_and_gc_removes_only_unreferenced_objects(
    store: ArtifactStore, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "src")
    tree = store.put_tree(tmp_path / "src").digest
    kept = store.put_bytes(b"kept").digest
    dropped = store.put_bytes(b"dropped").digest
    old_tree = store.put_tree(tmp_path / "src" / "deep").digest
    before = sorted(store.iter_objects())

    preview = store.gc([tree, kept])

    def children(digest: str) -> set[str]:
        return {e.pack or e.digest for e in store.read_tree(digest)}

    garbage = {dropped, old_tree} | (children(old_tree) - children(tree))
    assert preview.dry_run
    assert set(preview.removed) == garbage
    assert preview.bytes == sum(store.blobs.size(key(d)) or 0 for d in garbage)
    assert sorted(store.iter_objects()) == before

    done = store.gc([tree, kept], dry_run=False)

    assert done.removed == preview.removed and done.kept == len(before) - len(garbage)
    assert sorted(store.iter_objects()) == sorted(set(before) - garbage)
    assert read_all(store.checkout(tree, tmp_path / "out")) == files
    assert store.verify([tree, kept]).ok


def test_copy_to_transfers_only_missing_objects(new_store: StoreFactory, tmp_path: Path) -> None:
    source, dest = new_store(), new_store()
    files = make_tree(tmp_path / "src")
    tree = source.put_tree(tmp_path / "src").digest
    shared = source.put_bytes(b"both have it").digest
    only_here = source.put_bytes(b"only the source has it").digest
    dest.put_bytes(b"both have it")

    report = source.copy_to(dest, [tree, shared, only_here])

    assert shared not in report.copied and report.skipped == 1
    assert set(report.copied) == set(source.iter_objects()) - {shared}
    assert report.copied[-1] == tree  # children first: dest never holds a tree it cannot restore
    assert report.bytes == sum(source.blobs.size(key(d)) or 0 for d in report.copied)
    assert dest.verify([tree, shared, only_here]).ok
    assert read_all(dest.checkout(tree, tmp_path / "out")) == files
    again = source.copy_to(dest, [tree, shared, only_here])
    assert again.copied == () and again.bytes == 0


def test_copy_to_refuses_to_spread_corruption(new_store: StoreFactory) -> None:
    source, dest = new_store(), new_store()
    digest = source.put_bytes(b"precious").digest
    flip_byte(source, digest)

    with pytest.raises(IntegrityError, match=digest):
        source.copy_to(dest, [digest])

    assert list(dest.iter_objects()) == []
    assert list(dest.blobs.list("tmp/")) == []  # nothing half-written left behind


def test_copy_to_skips_a_tree_with_a_missing_child(new_store: StoreFactory, tmp_path: Path) -> None:
    source, dest = new_store(), new_store()
    make_tree(tmp_path / "src")
    tree = source.put_tree(tmp_path / "src").digest
    lost = next(e.digest for e in source.read_tree(tree) if e.pack is None)
    source.blobs.delete(key(lost))

    report = source.copy_to(dest, [tree, hash_bytes(b"absent")])

    assert set(report.missing) == {lost, hash_bytes(b"absent")}
    assert not dest.exists(tree)


def test_concurrent_puts_of_the_same_content_leave_one_valid_object(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "same.bin"
    source.write_bytes(os.urandom(CHUNK_SIZE + 99))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.put_file(source).digest))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [hash_file(source)[0]] * 4
    assert list(store.iter_objects()) == results[:1]
    assert store.verify().ok


def test_bad_digests_and_paths_get_clear_errors(store: ArtifactStore, tmp_path: Path) -> None:
    absent = hash_bytes(b"absent")
    with pytest.raises(InvalidInput, match="'not-a-digest'"):
        store.exists("not-a-digest")
    with pytest.raises(NotFound, match=absent):
        store.open(absent)
    with pytest.raises(NotFound, match=absent):
        store.checkout(absent, tmp_path / "out")
    with pytest.raises(InvalidInput, match=r"nowhere\.csv"):
        store.put(tmp_path / "nowhere.csv")
    with pytest.raises(InvalidInput, match="is a file, not a tree"):
        store.read_tree(store.put_bytes(b"plain").digest)


def test_checkout_refuses_to_clobber_unless_asked(store: ArtifactStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    tree = store.put_tree(tmp_path / "src").digest
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")

    with pytest.raises(InvalidInput, match="overwrite"):
        store.checkout(tree, dest)
    assert (dest / "keep.txt").read_text() == "mine"

    store.checkout(tree, dest, overwrite=True)
    assert read_all(dest) == read_all(tmp_path / "src")


# -- local folder ----------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


def test_local_layout_is_fanned_out_objects_and_an_empty_tmp(
    local: ArtifactStore, tmp_path: Path
) -> None:
    digest = local.put_bytes(b"layout").digest
    root = tmp_path / "store"

    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    assert found == [f"objects/{digest[:2]}/{digest[2:]}"]
    assert sorted(p.name for p in root.iterdir()) == ["objects", "tmp"]


def test_tree_manifest_is_canonical_json(local: ArtifactStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    raw = local.read_bytes(local.put_tree(tmp_path / "src").digest)

    document = json.loads(raw)

    assert raw.startswith(TREE_HEADER)
    assert (
        raw
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert [e["path"] for e in document["entries"]] == sorted(
        e["path"] for e in document["entries"]
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),  # quotes, backslashes, controls, any Unicode
            st.integers(0, 2**40),
            st.booleans(),
            st.integers(0, 2**40),
        ),
        max_size=8,
    )
)
def test_manifest_bytes_equal_canonical_json_for_any_path(
    rows: list[tuple[str, int, bool, int]],
) -> None:
    entries = [
        TreeEntry(path, "a" * 64, size, "b" * 64 if packed else None, offset if packed else 0)
        for path, size, packed, offset in rows
    ]

    raw = encode_tree(entries)

    document = json.loads(raw)
    assert (
        raw
        == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert [e["path"] for e in document["entries"]] == sorted(path for path, *_ in rows)


def test_many_small_files_become_few_objects(local: ArtifactStore, tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(10_000):
        folder = root / f"d{i % 40:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.bin").write_bytes(i.to_bytes(4, "little") * 1024)

    tree = local.put_tree(root)

    assert tree.size == 10_000 * 4096
    assert len(list(local.iter_objects())) < 100  # not one object per file
    assert local.verify([tree.digest]).members == 10_000


def test_changing_one_small_file_rewrites_about_one_pack(
    local: ArtifactStore, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    for i in range(3000):
        (root / f"{i:05d}.bin").write_bytes(os.urandom(4096))
    first = local.put_tree(root)
    before = set(local.iter_objects())
    packs = {e.pack for e in local.read_tree(first.digest)}
    assert len(packs) >= 4

    (root / "01500.bin").write_bytes(os.urandom(4096))
    second = local.put_tree(root)

    added = set(local.iter_objects()) - before
    assert second.digest in added
    assert len(added) <= 3  # the new manifest and one or two packs


def test_symlinks_are_followed_and_loops_refused(local: ArtifactStore, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"linked content")
    root = tmp_path / "src"
    root.mkdir()
    (root / "link.txt").symlink_to(target)

    entries = local.read_tree(local.put_tree(root).digest)
    assert [(e.path, local.read_bytes(e)) for e in entries] == [("link.txt", b"linked content")]

    (root / "loop").symlink_to(root)
    with pytest.raises(InvalidInput, match="loop"):
        local.put_tree(root)
    (root / "loop").unlink()
    (root / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(InvalidInput, match="dangling"):
        local.put_tree(root)


def test_special_files_are_refused(local: ArtifactStore, tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    os.mkfifo(root / "pipe")

    with pytest.raises(InvalidInput, match="pipe"):
        local.put_tree(root)


def test_checkout_refuses_a_manifest_that_escapes_dest(
    local: ArtifactStore, tmp_path: Path
) -> None:
    payload = local.put_bytes(b"owned").digest
    evil = (
        b'{"cairn":"tree/1","entries":[{"digest":"'
        + payload.encode()
        + b'","path":"../evil","size":5}]}'
    )
    tree = local.put_bytes(evil).digest

    with pytest.raises(IntegrityError, match="unsafe path"):
        local.checkout(tree, tmp_path / "out" / "inner")

    assert not (tmp_path / "out" / "evil").exists()


def test_gc_removes_only_stale_temp_files(local: ArtifactStore, tmp_path: Path) -> None:
    tmp = tmp_path / "store" / "tmp"
    (tmp / "stale.tmp").write_bytes(b"left by a killed writer")
    (tmp / "fresh.tmp").write_bytes(b"a write in progress")
    two_hours_ago = time.time() - 7200
    os.utime(tmp / "stale.tmp", (two_hours_ago, two_hours_ago))

    assert local.gc([]).temps == ("tmp/stale.tmp",)
    local.gc([], dry_run=False)

    assert sorted(p.name for p in tmp.iterdir()) == ["fresh.tmp"]


def test_gc_min_age_spares_recent_writes(local: ArtifactStore) -> None:
    digest = local.put_bytes(b"just written, not recorded yet").digest

    assert local.gc([], dry_run=False, min_age=600, force=True).removed == ()
    assert local.exists(digest)
    assert local.gc([], dry_run=False, force=True).removed == (digest,)


def test_gc_refuses_to_empty_a_store_when_no_record_references_anything(
    store: ArtifactStore,
) -> None:
    # What a mistyped or recreated (empty) metadata database looks like to gc.
    digests = {store.put_bytes(b"one").digest, store.put_bytes(b"two").digest}

    with pytest.raises(ConfigError, match=r"no record references any object.*--force"):
        store.gc([], dry_run=False)

    assert set(store.iter_objects()) == digests
    assert set(store.gc([]).removed) == digests  # a dry run still shows what would go
    assert set(store.gc([], dry_run=False, force=True).removed) == digests
    assert list(store.iter_objects()) == []


def test_gc_puts_back_what_a_killed_gc_left_in_the_trash(local: ArtifactStore) -> None:
    recorded = local.put_bytes(b"recorded while the killed gc held it").digest
    garbage = local.put_bytes(b"garbage").digest
    anchor = local.put_bytes(b"anchor").digest
    # A gc killed between moving candidates to the trash and its last look.
    local.blobs.move(key(recorded), f"trash/{recorded}.deadbeef")
    local.blobs.move(key(garbage), f"trash/{garbage}.deadbeef")
    assert not local.exists(recorded)

    report = local.gc([anchor, recorded], dry_run=False)

    assert report.removed == (garbage,)
    assert local.read_bytes(recorded, verify=True) == b"recorded while the killed gc held it"
    assert list(local.blobs.list("trash/")) == []


def test_put_file_memory_does_not_grow_with_file_size(local: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "sparse.bin"
    with open(source, "wb") as f:
        f.truncate(128 * 1024 * 1024)  # sparse: instant to create, real bytes to read

    tracemalloc.start()
    try:
        info = local.put_file(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert info.size == 128 * 1024 * 1024
    assert peak < 6 * CHUNK_SIZE


def test_open_verify_reader_is_a_normal_binary_file(local: ArtifactStore) -> None:
    data = os.urandom(100_000)
    digest = local.put_bytes(data).digest

    with local.open(digest, verify=True) as f:
        head = f.read(10)
        rest = f.read()

    assert head + rest == data
