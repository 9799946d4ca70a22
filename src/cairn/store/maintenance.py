"""Whole-store operations of the artifact store: verify, garbage collection, copying.

:class:`~cairn.store.artifacts.ArtifactStore` exposes each as a method
(``store.verify(...)``, ``store.gc(...)``, ``store.copy_to(...)``); they live here, apart
from reading and writing single objects, and use the store's blob layer directly.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from cairn.config import ENV_TRACKING_URI
from cairn.errors import ConfigError, IntegrityError, NotFound, StoreError
from cairn.hashing import (
    CHUNK_SIZE,
    CheckedChunks,
    checked_digest,
    hash_bytes,
    is_digest,
    new_hasher,
)
from cairn.store.artifact_reports import GcReport, TransferReport, VerifyReport
from cairn.store.blobs import MARKS, OBJECTS, TMP_PREFIX, TRASH, marked_digest, object_key
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


#: What gc keeps: digests, or a function that reads them (it is then called again at the
#: end of the sweep, so records committed while gc ran count too).
References = Iterable[str] | Callable[[], Iterable[str]]
#: Marks (see ``ArtifactStore._still_stored``) are kept at least this long (seconds).
MARK_RETENTION = 86400.0
#: How long gc waits for the store's clock to tick past its start (seconds).
_CLOCK_DEADLINE = 10.0


def gc(
    store: ArtifactStore,
    referenced: References,
    dry_run: bool = True,
    min_age: float = 0.0,
    *,
    force: bool = False,
) -> GcReport:
    """Remove objects not reachable from ``referenced`` (dry run by default).

    The sweep is safe against puts running at the same time. An object is kept when it
    was stored, or stored again (a put that found it present leaves a *mark*), at or
    after ``min_age`` seconds before gc started, as told by the store's own clock. A
    removal happens in two steps: gc first moves each candidate out of ``objects/``
    into ``trash/`` (a rename locally, a copy and a delete on object stores), and only
    then reads the marks and (when ``referenced`` is a function) the records again;
    a candidate marked since, or now referenced, is moved back, the others are
    deleted. A put marks *before* it checks that the object is still there, so it
    either saw the object before the move, and its mark is in gc's last look, or
    after, and it wrote the object again. Neither way is a recorded object lost.

    What remains: a put that stored its object more than ``min_age`` seconds before
    gc started and commits its record after gc's last look loses that object (the
    record points at nothing); and while a candidate sits in ``trash/`` (between its
    move and gc's last look) a reader of it gets "not found". An object left in
    ``trash/`` by a gc that was killed is put back by the next ``gc`` that deletes.

    Refuses to delete (``ConfigError``) when ``referenced`` is empty while the store
    holds objects, unless ``force``: that is what a wrong or new, empty database looks
    like. Temp files older than an hour (left by killed writers) are removed too.
    """
    first = set(referenced()) if callable(referenced) else set(referenced)
    refs = {checked_digest(d) for d in first}
    if dry_run:
        cut = time.time() - min_age
    else:
        _put_back_trash(store)
        cut = _store_clock(store) - min_age
    keep = reachable(store, refs)
    objects = _object_times(store)
    if not dry_run and not force and not refs and objects:
        raise ConfigError(
            f"no record references any object, yet the artifact store {store.uri} holds "
            f"{len(objects)}: if this is the right metadata database (check "
            f"{ENV_TRACKING_URI} and cairn.toml), pass --force to delete them all"
        )
    marks = _mark_times(store)
    candidates: list[str] = []
    kept = young = 0
    for digest, stamp in objects.items():
        if digest in keep:
            kept += 1
        elif max(stamp, _newest(marks, digest)) >= cut:
            young += 1
        else:
            candidates.append(digest)
    sizes = {d: store.blobs.size(object_key(d)) or 0 for d in candidates}
    temps = [
        key
        for key, stamp in store.blobs.list_modified(TMP_PREFIX)
        if time.time() - stamp > STALE_TEMP_SECONDS
    ]
    if dry_run:
        return GcReport(
            tuple(sorted(candidates)),
            sum(sizes.values()),
            tuple(sorted(temps)),
            kept,
            True,
            young=young,
        )
    removed, rescued = _sweep(store, candidates, referenced, refs, cut)
    for key in temps:
        store.blobs.delete(key)
    return GcReport(
        tuple(sorted(removed)),
        sum(sizes[d] for d in removed),
        tuple(sorted(temps)),
        kept,
        False,
        young=young,
        rescued=len(rescued),
    )


def _sweep(
    store: ArtifactStore,
    candidates: list[str],
    referenced: References,
    refs: set[str],
    cut: float,
) -> tuple[list[str], set[str]]:
    """Move ``candidates`` to the trash, look again, put back what a put or a record
    claimed meanwhile, delete the rest; returns (removed, put back)."""
    run = uuid.uuid4().hex
    moved: list[str] = []
    for digest in candidates:
        try:
            store.blobs.move(object_key(digest), _trash_key(run, digest))
        except FileNotFoundError:
            continue  # removed meanwhile (another gc)
        moved.append(digest)
    # The last look: after every move, so a put that saw an object before its move has
    # left its mark by now, and a record committed by now is read here.
    if callable(referenced):
        refs = {checked_digest(d) for d in referenced()}
    marks_by_key = dict(store.blobs.list_modified(MARKS))
    marks = _newest_by_digest(marks_by_key)
    claimed = {d for d in moved if d in refs or _newest(marks, d) >= cut}
    _put_back(store, run, claimed)
    # Children of a tree recorded meanwhile (its manifest is back in place by now).
    children = reachable(store, refs) & set(moved)
    _put_back(store, run, children - claimed)
    rescued = claimed | children
    removed = [d for d in moved if d not in rescued]
    for digest in removed:
        store.blobs.delete(_trash_key(run, digest))
    gone = set(removed)
    retention = cut - MARK_RETENTION
    for key, stamp in marks_by_key.items():
        if marked_digest(key) in gone or stamp < retention:
            store.blobs.delete(key)  # unique keys: a mark written since is never one of these
    return removed, rescued


def _put_back(store: ArtifactStore, run: str, digests: Iterable[str]) -> None:
    for digest in digests:
        key, trashed = object_key(digest), _trash_key(run, digest)
        if store.blobs.exists(key):
            store.blobs.delete(trashed)  # a put wrote it again meanwhile
            continue
        with contextlib.suppress(FileNotFoundError):  # another gc put it back already
            store.blobs.move(trashed, key)


def _put_back_trash(store: ArtifactStore) -> None:
    """Return what an interrupted gc left in ``trash/`` to ``objects/``.

    The sweep that follows decides about those objects afresh. A gc running at the same
    time then keeps, until the next gc, what it was about to delete: the safe side.
    """
    for key in list(store.blobs.list(TRASH)):
        digest = key[len(TRASH) :].split(".", 1)[0]
        if not is_digest(digest):
            continue
        target = object_key(digest)
        if store.blobs.exists(target):
            store.blobs.delete(key)
        else:
            with contextlib.suppress(FileNotFoundError):
                store.blobs.move(key, target)


def _trash_key(run: str, digest: str) -> str:
    return f"{TRASH}{digest}.{run}"


def _store_clock(store: ArtifactStore) -> float:
    """ "Now" on the store's clock, strictly after everything written before this call.

    Writes small probe files until one is stamped later than the first: the clock of a
    file system or an object store ticks coarsely (a few ms; a second on S3), and an
    object written in the same tick as gc started must not count as written after it.
    """
    prefix = f"{TMP_PREFIX}gc-{uuid.uuid4().hex}-"
    deadline = time.monotonic() + _CLOCK_DEADLINE
    written: list[str] = []
    try:
        start = stamp = _probe(store, f"{prefix}0", written)
        while stamp <= start and time.monotonic() < deadline:
            time.sleep(0.002 if store.blobs.local_path(prefix) is not None else 0.05)
            stamp = _probe(store, f"{prefix}{len(written)}", written)
        return stamp
    finally:
        for key in written:
            store.blobs.delete(key)


def _probe(store: ArtifactStore, key: str, written: list[str]) -> float:
    store.blobs.write_atomic(key, [b""])
    written.append(key)
    for found, stamp in store.blobs.list_modified(TMP_PREFIX):
        if found == key:
            return stamp
    raise StoreError(
        f"the artifact store {store.uri} does not report when {key} was written; "
        "gc cannot tell old objects from new ones there"
    )


def _object_times(store: ArtifactStore) -> dict[str, float]:
    times: dict[str, float] = {}
    for key, stamp in store.blobs.list_modified(OBJECTS):
        parts = key.split("/")
        if len(parts) == 3 and len(parts[1]) == 2 and is_digest(digest := parts[1] + parts[2]):
            times[digest] = stamp
    return times


def _mark_times(store: ArtifactStore) -> dict[str, float]:
    return _newest_by_digest(dict(store.blobs.list_modified(MARKS)))


def _newest_by_digest(marks: dict[str, float]) -> dict[str, float]:
    newest: dict[str, float] = {}
    for key, stamp in marks.items():
        digest = marked_digest(key)
        if digest is not None:
            newest[digest] = max(stamp, newest.get(digest, stamp))
    return newest


def _newest(marks: dict[str, float], digest: str) -> float:
    return marks.get(digest, float("-inf"))


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
    if other._still_stored(digest):
        return None
    with store._open_raw(digest) as source:
        chunks = CheckedChunks(
            source, digest, f"object {digest} is corrupt in {store.uri}; run `cairn verify`"
        )
        other.blobs.write_atomic(key, chunks)
    return chunks.size
