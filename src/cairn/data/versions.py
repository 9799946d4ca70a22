"""Adding dataset versions: read, profile, store by content, record.

The order of :func:`add_version` is what makes bad input lose nothing: the data is read
and profiled *before* anything is stored, so a corrupt CSV or Parquet file fails with
nothing written; the content and its profile go into the artifact store next; the
version record comes last, in one transaction. If that last step fails, the stored
objects are referenced by nothing and ``cairn gc`` removes them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.config import STATE_DIR
from cairn.data import tabular
from cairn.data.statcache import Scan, StatCache, scan
from cairn.errors import InvalidInput
from cairn.store.datasets import AddResult, Column, Format, NewVersion, check_name

if TYPE_CHECKING:
    from cairn.types import ObjectInfo
    from cairn.workspace import Workspace

#: Sizes from which ``add`` shows progress on a terminal.
PROGRESS_BYTES = 64 << 20
#: Folders with this many files show progress too.
PROGRESS_FILES = 1000
#: Nice value of the thread that prepares the record while the data is stored.
_PREPARE_NICE = 10


@dataclass(frozen=True)
class Content:
    """What a path holds, as far as versioning is concerned."""

    path: Path
    scan: Scan
    format: Format
    data_files: tuple[str, ...]  # relative paths read as tables ("" for a single file)
    note: str = ""  # why a directory is stored as bytes, if it is


def scan_path(path: Path) -> Scan:
    """Stat the files under ``path``; ``InvalidInput`` if it is missing, unreadable or empty."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist; check the path")
    if not (path.is_file() or path.is_dir()):
        raise InvalidInput(f"{path} is neither a file nor a folder")
    try:
        found = scan(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read {exc.filename or path}: {exc.strerror}") from None
    if not found.files:
        raise InvalidInput(f"{path} is an empty folder; nothing to version")
    return found


def classify(found: Scan) -> Content:
    """Decide the format of scanned content: CSV, Parquet or bytes."""
    path = found.root
    if found.files[0][0] == "":  # a single file
        fmt = _format(tabular.format_of(path.name))
        return Content(path, found, fmt, ("",) if fmt != "bytes" else ())
    data = [rel for rel, _ in found.files if tabular.is_data_file(rel)]
    formats = {tabular.format_of(rel) for rel in data}
    if len(formats) == 1 and (fmt := _format(formats.pop())) != "bytes":
        return Content(path, found, fmt, tuple(data))
    note = "its files are not all CSV or all Parquet" if data else "it has no data files"
    return Content(path, found, "bytes", (), note=f"stored as bytes: {note}")


def inspect(path: Path) -> Content:
    """Scan ``path`` and decide its format; ``InvalidInput`` if it is missing or empty."""
    return classify(scan_path(path))


def _format(name: str) -> Format:
    return "csv" if name == "csv" else "parquet" if name == "parquet" else "bytes"


def sources_of(content: Content) -> list[tabular.Source]:
    if content.data_files == ("",):
        return [tabular.Source(str(content.path), path=content.path)]
    return [tabular.Source(rel, path=content.path / rel) for rel in content.data_files]


def profile_content(
    content: Content, on_rows: Callable[[int], None] | None = None
) -> tuple[dict[str, Any] | None, Content]:
    """The profile of tabular content (``None`` for bytes), and the content as classified.

    A directory whose files have different columns is re-classified as bytes.
    """
    if content.format == "bytes":
        return None, content
    from cairn.data.profile import compute_profile

    sources = sources_of(content)
    try:
        schema = tabular.schema_of(sources, content.format)
    except tabular.SchemaMismatch as exc:
        return None, Content(
            content.path, content.scan, "bytes", (), note=f"stored as bytes: {exc}"
        )
    profile = compute_profile(
        schema,
        lambda cols: tabular.iter_batches(sources, content.format, schema, cols),
        on_rows,
    )
    return profile, content


def add_version(
    ws: Workspace,
    path: str | os.PathLike[str],
    name: str,
    message: str = "",
    *,
    progress: Callable[[str, int | None], Any] | None = None,
) -> tuple[AddResult, str]:
    """Version ``path`` as the next version of ``name``; returns the result and a note.

    ``progress(description, total)`` is a context manager factory yielding ``advance(n)``
    (the CLI passes a Rich progress bar); ``None`` runs quietly.
    """
    check_name(name)
    source = Path(path).expanduser().resolve()
    found = scan_path(source)
    cache = StatCache(ws.root / STATE_DIR if ws.root is not None else None)

    # Fast path: metadata unchanged since this path was last stored as the latest version.
    # It reads no data and, on an embedded workspace, does not load the SQL layer.
    hit = cache.lookup(found)
    if hit is not None:
        from cairn.data.lookup import latest_version

        latest = latest_version(ws, name)
        if (
            latest is not None
            and latest.digest == hit.get("digest")
            and ws.artifacts.exists(latest.digest)
        ):
            return AddResult(version=latest, created=False, previous=latest), ""

    # An embedded workspace records the version through the standard library's sqlite3
    # (importing SQLAlchemy would cost more than storing 10,000 small files); otherwise,
    # or if that declines, the metadata store does. Finding which, and asking git for
    # the commit, run on a thread while the data is profiled and stored, which mostly
    # waits on the kernel and on BLAKE3's threads.
    from concurrent.futures import ThreadPoolExecutor  # here: a no-change add needs none

    with ThreadPoolExecutor(1, thread_name_prefix="cairn-prepare") as pool:
        prepared = pool.submit(_prepare, ws)
        content = classify(found)
        profile, content = _with_progress(
            progress, f"profiling {source.name}", None, lambda adv: profile_content(content, adv)
        )
        stored = _store(ws, content, progress)
        profile_digest = None
        if profile is not None:
            data = json.dumps(profile, separators=(",", ":")).encode()  # keeps column order
            profile_digest = ws.artifacts.put_bytes(data).digest
        recorder, (commit, dirty), user = prepared.result()
    columns = tuple(
        Column(col, info["dtype"]) for col, info in (profile or {}).get("columns", {}).items()
    )
    new = NewVersion(
        name=name,
        digest=stored.digest,
        kind=stored.kind,
        size=stored.size,
        file_count=len(content.scan.files),
        format=content.format,
        rows=None if profile is None else int(profile["rows"]),
        columns=columns,
        profile_digest=profile_digest,
        git_commit=commit,
        git_dirty=dirty,
        created_by=user,
        message=message,
        source=str(source),
    )
    result = recorder.add_version(new)
    if result is None:  # the embedded path declined: the store decides (and explains)
        result = _open_store(ws).add_version(new)
    cache.remember(content.scan, digest=stored.digest, kind=stored.kind)
    return result, content.note


def _prepare(ws: Workspace) -> tuple[Any, tuple[str | None, bool | None], str]:
    """What records the version (the embedded path, else the store: opened, schema
    checked), the git state and the user."""
    _lower_priority()
    from cairn.store.sql.embedded import EmbeddedDatasets
    from cairn.tracking.environment import current_user, git_state

    recorder = EmbeddedDatasets.open(ws.settings.tracking_uri) or _open_store(ws)
    return recorder, git_state(ws.root or Path.cwd()), current_user()


def _lower_priority() -> None:
    """Make the calling thread background work (Linux: a thread has its own nice value).

    Storing a large file keeps every core busy (the kernel copy on one, BLAKE3 on the
    others); preparing the record at a lower priority runs it on the cores they leave
    idle (the hash ends before the copy) instead of slowing the copy down.
    """
    import threading

    with contextlib.suppress(AttributeError, OSError):  # other systems: same priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _PREPARE_NICE)


def _open_store(ws: Workspace) -> Any:
    ensure_schema = getattr(ws.metadata, "ensure_schema", None)
    if ensure_schema is not None:
        ensure_schema()  # a database behind this Cairn fails here, before any record
    return ws.datasets


def _store(ws: Workspace, content: Content, progress: Any) -> ObjectInfo:
    """Put the content in the artifact store (one read: hashed while copied)."""
    store = ws.artifacts
    path = content.path
    size = content.scan.size
    if path.is_dir():
        tree: ObjectInfo = _with_progress(
            progress
            if size >= PROGRESS_BYTES or len(content.scan.files) >= PROGRESS_FILES
            else None,
            f"storing {path.name} ({len(content.scan.files):,} files, {_mib(size)})",
            None,
            lambda _adv: store.put_tree(path, content.scan.listing),
        )
        return tree
    # A large local file is copied in the kernel while it is hashed through a memory map;
    # neither reports progress, so the bar shows activity and the size, not a fraction.
    info: ObjectInfo = _with_progress(
        progress if size >= PROGRESS_BYTES else None,
        f"storing {path.name} ({_mib(size)})",
        None,
        lambda _adv: store.put_file(path),
    )
    return info


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def _with_progress(
    progress: Any, description: str, total: int | None, fn: Callable[[Any], Any]
) -> Any:
    if progress is None:
        return fn(None)
    with progress(description, total) as advance:
        return fn(advance)
