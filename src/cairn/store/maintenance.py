"""Whole-store operations of the artifact store: verify, garbage collection, copying.

:class:`~cairn.store.artifacts.ArtifactStore` exposes each as a method
(``store.verify(...)``, ``store.gc(...)``, ``store.copy_to(...)``); they live here, apart
from reading and writing single objects, and use the store's blob layer directly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from cairn.errors import IntegrityError, NotFound
from cairn.hashing import CHUNK_SIZE, CheckedChunks, checked_digest, hash_bytes, new_hasher
from cairn.store.artifact_reports import GcReport, TransferReport, VerifyReport
from cairn.store.blobs import TMP_PREFIX, object_key
from cairn.store.trees import TREE_HEADER, decode_tree
from cairn.types import TreeEntry

if TYPE_CHECKING:
    from cairn.store.artifacts import ArtifactStore

#: Temp files older than this are leftovers of killed writers; gc removes them.
STALE_TEMP_SECONDS = 3600.0
#: Objects hashed or transferred at once (I/O latency, not CPU, is the limit).
_WORKERS = 4


def verify(store: ArtifactStore, referenced: Iterable[str] = ()) -> VerifyReport:
    """Re-hash every object and every packed file; find missing references.

    ``missing`` lists digests of ``referenced`` that are absent, and children (files
    or packs) of stored trees that are absent.
    """
    wanted = [checked_digest(d) for d in referenced]
    present = list(store.iter_objects())
    corrupt: set[str] = set()
    trees: dict[str, bytes] = {}
    checked = total = 0
    with ThreadPoolExecutor(_WORKERS) as pool:
        for digest, result in zip(
            present, pool.map(lambda d: _scan(store, d), present), strict=True
        ):
            if result is None:
                continue  # removed meanwhile
            actual, size, manifest = result
            checked, total = checked + 1, total + size
            if actual != digest:
                corrupt.add(digest)
            elif manifest is not None:
                trees[digest] = manifest
    have = set(present)
    missing = {d for d in wanted if d not in have}
    packs: dict[str, set[TreeEntry]] = {}
    for digest, manifest in trees.items():
        try:
            entries = decode_tree(manifest, digest)
        except IntegrityError:
            continue  # a file that merely starts like a manifest
        for entry in entries:
            holder = entry.pack or entry.digest
            if holder not in have:
                missing.add(holder)
            elif entry.pack is not None and entry.pack not in corrupt:
                packs.setdefault(entry.pack, set()).add(entry)
    members = 0
    for pack, entries_in_pack in packs.items():
        with contextlib.suppress(NotFound), store._open_raw(pack) as f:
            data = memoryview(f.read())
            for entry in entries_in_pack:
                members, total = members + 1, total + entry.size
                if hash_bytes(data[entry.offset : entry.offset + entry.size]) != entry.digest:
                    corrupt.add(entry.digest)
    return VerifyReport(checked, tuple(sorted(corrupt)), tuple(sorted(missing)), total, members)


def _scan(store: ArtifactStore, digest: str) -> tuple[str, int, bytes | None] | None:
    """Digest, size and (for a tree manifest) bytes of a stored object; None if gone."""
    hasher, size = new_hasher(), 0
    kept: list[bytes] | None = None
    try:
        with store.blobs.open_read(object_key(digest)) as f:
            while chunk := f.read(CHUNK_SIZE):
                if size == 0 and chunk.startswith(TREE_HEADER):
                    kept = []
                if kept is not None:
                    kept.append(chunk)
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return hasher.hexdigest(), size, None if kept is None else b"".join(kept)


def reachable(store: ArtifactStore, referenced: Iterable[str]) -> set[str]:
    """``referenced`` plus the files and packs of every referenced tree."""
    keep = {checked_digest(d) for d in referenced}
    for digest in list(keep):
        if store.blobs.exists(object_key(digest)) and store._is_tree(digest):
            # read_tree verifies the manifest: gc must not guess children from bad bytes.
            keep.update(e.pack or e.digest for e in store.read_tree(digest))
    return keep


def gc(
    store: ArtifactStore, referenced: Iterable[str], dry_run: bool = True, min_age: float = 0.0
) -> GcReport:
    """Remove objects not reachable from ``referenced`` (dry run by default).

    Objects modified less than ``min_age`` seconds ago are kept, so a write whose
    record is not committed yet survives a concurrent gc. Temp files older than an
    hour (left by killed writers) are removed too.
    """
    keep = reachable(store, referenced)
    now = time.time()
    removed: list[str] = []
    freed = kept = young = 0
    for digest in store.iter_objects():
        key = object_key(digest)
        if digest in keep:
            kept += 1
            continue
        if min_age > 0 and now - (store.blobs.modified(key) or now) < min_age:
            young += 1
            continue
        removed.append(digest)
        freed += store.blobs.size(key) or 0
    temps = [
        key
        for key in store.blobs.list(TMP_PREFIX)
        if now - (store.blobs.modified(key) or now) > STALE_TEMP_SECONDS
    ]
    if not dry_run:
        for key in [*map(object_key, removed), *temps]:
            store.blobs.delete(key)
    return GcReport(tuple(sorted(removed)), freed, tuple(sorted(temps)), kept, dry_run, young=young)


def copy_to(store: ArtifactStore, other: ArtifactStore, digests: Iterable[str]) -> TransferReport:
    """Copy objects (with tree children) that ``other`` lacks; used by push and pull.

    A tree is copied after all its children, and not at all if one of them is
    missing here, so ``other`` never holds a tree it cannot check out. Bytes are
    verified on the way: a corrupt source object raises :class:`IntegrityError`.
    """
    files: dict[str, None] = {}
    trees: list[str] = []
    missing: list[str] = []
    for digest in map(checked_digest, digests):
        if not store.blobs.exists(object_key(digest)):
            missing.append(digest)
        elif store._is_tree(digest):
            children = {e.pack or e.digest for e in store.read_tree(digest)}
            absent = sorted(c for c in children if not store.blobs.exists(object_key(c)))
            if absent:
                missing.extend(absent)
            else:
                files.update(dict.fromkeys(sorted(children)))
                trees.append(digest)
        else:
            files[digest] = None
    copied: list[str] = []
    moved = skipped = 0
    for batch in (list(files), trees):
        with ThreadPoolExecutor(_WORKERS) as pool:
            for digest, size in zip(
                batch, pool.map(lambda d: _transfer(store, other, d), batch), strict=True
            ):
                if size is None:
                    skipped += 1
                else:
                    copied.append(digest)
                    moved += size
    return TransferReport(tuple(copied), skipped, tuple(sorted(set(missing))), moved)


def _transfer(store: ArtifactStore, other: ArtifactStore, digest: str) -> int | None:
    key = object_key(digest)
    if other.blobs.exists(key):
        return None
    with store._open_raw(digest) as source:
        chunks = CheckedChunks(
            source, digest, f"object {digest} is corrupt in {store.uri}; run `cairn verify`"
        )
        other.blobs.write_atomic(key, chunks)
    return chunks.size
