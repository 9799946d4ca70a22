"""The artifacts browser of the run page: a run's output artifacts, the files of a tree
artifact, and a preview of one file (text, image or table).

Only what the run recorded as an output can be opened, by its name (and a path inside
a tree): a request never names a digest, so reading a run's artifacts needs exactly the
right to read the run. A preview reads at most :data:`PREVIEW_BYTES` of the object.
Images are recognised by their first bytes, never by the name, and served only as the
four raster types browsers draw as pictures; everything else downloads as bytes. SVG
is shown as text: it can carry script.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from cairn.store.artifacts import ArtifactStore
    from cairn.types import Run, RunIO, TreeEntry

PREVIEW_BYTES = 256 * 1024
TABLE_ROWS = 100
TREE_LIMIT = 2000
TEXT_SUFFIXES = (
    ".txt", ".md", ".log", ".json", ".yaml", ".yml", ".toml", ".py", ".cfg", ".ini",
    ".html", ".xml", ".svg", ".sql", ".sh", ".r", ".ipynb",
)  # fmt: skip
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def artifact_list(run: Run) -> list[dict[str, Any]]:
    """The run's output artifacts, by name."""
    return [
        {"name": o.name, "role": o.role, "kind": o.kind, "size": o.size, "digest": o.digest}
        for o in sorted(run.outputs, key=lambda o: o.name)
    ]


def _output(run: Run, name: str) -> RunIO:
    for item in run.outputs:
        if item.name == name:
            return item
    raise NotFound(
        f"run {run.id} has no artifact named {name[:200]!r}; see cairn artifacts ls {run.id[:8]}"
    )


def _entry(store: ArtifactStore, item: RunIO, path: str) -> TreeEntry:
    for entry in store.read_tree(item.digest):
        if entry.path == path:
            return entry
    raise NotFound(f"artifact {item.name!r} has no file {path[:200]!r}")


def _target(store: ArtifactStore, item: RunIO, path: str) -> str | TreeEntry:
    """The object to read: the artifact itself, or the file ``path`` of a tree."""
    if item.kind != "tree":
        if path:
            raise InvalidInput(
                f"artifact {item.name!r} is a file; it has no path {path[:200]!r} inside"
            )
        return item.digest
    return _entry(store, item, path)


def browse(store: ArtifactStore, run: Run, name: str, path: str) -> dict[str, Any]:
    """One artifact: the files of a tree (``path`` empty), or a preview of a file."""
    item = _output(run, name)
    data: dict[str, Any] = {"run_id": run.id, "name": name, "path": path, "kind": item.kind}
    if item.kind == "tree" and not path:
        entries = store.read_tree(item.digest)
        data["files"] = [{"path": e.path, "size": e.size} for e in entries[:TREE_LIMIT]]
        data["more_files"] = max(0, len(entries) - TREE_LIMIT)
        return data
    target = _target(store, item, path)
    size = item.size if isinstance(target, str) else target.size
    with store.open(target) as f:
        head = f.read(PREVIEW_BYTES)
    data["size"] = size
    data["preview"] = preview(path or name, head, size)
    return data


def preview(name: str, head: bytes, size: int) -> dict[str, Any]:
    """How to show a file from its first bytes: ``image``, ``table``, ``text`` or
    ``binary``; ``truncated`` when the file holds more than was read."""
    truncated = size > len(head)
    lower = name.lower()
    if image_type(head):
        return {"type": "image", "truncated": False}
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    text = _text(head, truncated)
    if text is not None and suffix in TABLE_SUFFIXES:
        rows = list(csv.reader(io.StringIO(text), delimiter=TABLE_SUFFIXES[suffix]))
        if truncated and rows:
            rows = rows[:-1]  # the last line read may be cut short
        return {
            "type": "table",
            "header": rows[0] if rows else [],
            "rows": rows[1 : TABLE_ROWS + 1],
            "truncated": truncated or len(rows) > TABLE_ROWS + 1,
        }
    if text is not None and (suffix in TEXT_SUFFIXES or "\x00" not in text):
        return {"type": "text", "text": text, "truncated": truncated}
    return {"type": "binary", "truncated": truncated}


def _text(head: bytes, truncated: bool) -> str | None:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of what was read is still text.
        if truncated and exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8")
        return None


def image_type(head: bytes) -> str | None:
    """The MIME type of a PNG, JPEG or GIF from its first bytes (WebP: RIFF....WEBP)."""
    for magic, mime in IMAGE_MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def raw(store: ArtifactStore, run: Run, name: str, path: str) -> tuple[bytes, str, bool]:
    """The file's bytes (a preview's worth for an image, at most 20 MB otherwise), its
    served type, and whether a browser may show it inline (images only)."""
    item = _output(run, name)
    if item.kind == "tree" and not path:
        raise InvalidInput(f"artifact {name!r} is a folder; pick one of its files")
    target = _target(store, item, path)
    with store.open(target) as f:
        data = f.read(RAW_LIMIT + 1)
    if len(data) > RAW_LIMIT:
        raise InvalidInput(
            f"artifact {name!r} is over {RAW_LIMIT // 1_000_000} MB; fetch it with "
            f"cairn artifacts get {run.id[:8]}"
        )
    mime = image_type(data[:16])
    return data, mime or "application/octet-stream", mime is not None


RAW_LIMIT = 20_000_000
