"""``cairn import dvc``: DVC-tracked data as Cairn dataset versions, with its git history.

Every output a ``.dvc`` file or a ``dvc.lock`` stage records becomes a dataset (named
after its path, ``data/train.csv`` -> ``data-train.csv``), and every git commit that
changed that record becomes a version, oldest first, carrying the commit, its author and
its subject. The content comes from DVC's cache (``.dvc/cache/files/md5/``, or the 2.x
layout ``.dvc/cache/<2>/<30>``) or a local remote; directories are rebuilt from DVC's
``.dir`` manifests. Each file is checked against DVC's MD5 before it is re-hashed into
Cairn's store, so a corrupt cache entry is refused, not imported.

Idempotent: a version records ``dvc:<path>@<commit>`` as its source, and a rerun skips
what is already there. Without git, the current records are imported with no commit.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cairn.errors import InvalidInput
from cairn.imports.common import ImportSummary, Progress, step

if TYPE_CHECKING:
    from cairn.workspace import Workspace


@dataclass(frozen=True)
class DvcOutput:
    """One output as one commit recorded it."""

    path: str  # POSIX, relative to the repository root
    md5: str  # ends in ``.dir`` for a directory
    commit: str | None
    author: str = ""
    subject: str = ""

    @property
    def source(self) -> str:
        return f"dvc:{self.path}@{self.commit or 'working-tree'}"


def import_dvc(
    repo: str | os.PathLike[str] = ".",
    *,
    workspace: Workspace | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import every DVC-tracked output of ``repo`` (see the module docs)."""
    from cairn.workspace import resolve

    root = Path(repo).expanduser().resolve()
    if not (root / ".dvc").is_dir():
        raise InvalidInput(
            f"{root} is not a DVC repository (no .dvc folder); give the folder where `dvc init` ran"
        )
    ws = resolve(workspace)
    caches = _caches(root)
    outputs = list(_history(root))
    summary = ImportSummary()
    if not outputs:
        summary.note(f"no .dvc files or dvc.lock outputs found in {root}")
        return summary
    existing: dict[str, set[str]] = {}
    with step(progress, "DVC outputs", len(outputs)) as advance:
        for out in outputs:
            name = dataset_name(out.path)
            if name not in existing:
                existing[name] = _sources(ws, name)
            if out.source in existing[name]:
                summary.add("dataset versions already imported")
            else:
                created = _import_output(ws, root, caches, out, name, summary)
                existing[name].add(out.source)
                summary.add("dataset versions imported" if created else "unchanged (same content)")
            advance(1)
    return summary


def dataset_name(path: str) -> str:
    """The dataset name of an output path: ``data/train.csv`` -> ``data-train.csv``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", path.strip("/").replace("/", "-")).lstrip("._-")
    return name.replace("..", "_")[:128] or "dvc-output"


def _sources(ws: Workspace, name: str) -> set[str]:
    from cairn.errors import NotFound

    try:
        return {v.source for v in ws.datasets.list_versions(name)}
    except NotFound:
        return set()


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _history(root: Path) -> Iterator[DvcOutput]:
    """Every (output, commit) in commit order; the working tree when there is no git."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or _git(root, "rev-parse", "--verify", "HEAD") is None:
        for record in sorted([*root.rglob("*.dvc"), *root.rglob("dvc.lock")]):
            if ".dvc" in record.relative_to(root).parts[:-1]:
                continue
            rel = record.relative_to(root).as_posix()
            yield from _outputs(rel, record.read_text(encoding="utf-8"), None, "", "")
        return
    prefix = root.relative_to(Path(top.strip()).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    log = _git(
        root,
        "log",
        "--reverse",
        "--format=\x01%H\x02%an\x02%s",
        "--name-only",
        "--diff-filter=AMR",
        "--",
        ":(glob)**/*.dvc",
        ":(glob)**/dvc.lock",
    )
    seen: set[tuple[str, str]] = set()
    for block in (log or "").split("\x01")[1:]:
        head, *files = block.strip("\n").split("\n")
        commit, author, subject = head.split("\x02", 2)
        for file in files:
            if not file.startswith(prefix) or not file:
                continue
            rel = file[len(prefix) :]
            text = _git(root, "show", f"{commit}:{file}")
            if text is None:
                continue
            for out in _outputs(rel, text, commit, author, subject):
                if (out.path, out.md5) not in seen:  # a commit that only touched meta
                    seen.add((out.path, out.md5))
                    yield out


def _outputs(
    record: str, text: str, commit: str | None, author: str, subject: str
) -> Iterator[DvcOutput]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"{record} at {commit or 'the working tree'} is not YAML: {exc}"
        ) from None
    base = Path(record).parent
    outs: list[Any] = []
    if record.endswith("dvc.lock"):
        for stage in (data.get("stages") or {}).values():
            outs.extend(stage.get("outs") or [])
    else:
        outs = data.get("outs") or []
    for out in outs:
        md5 = out.get("md5") if isinstance(out, dict) else None
        if not md5 or "path" not in out:
            continue  # a cloud-versioned or a not yet computed output
        path = os.path.normpath(base / str(out["path"])).replace(os.sep, "/")
        if path.startswith(".."):
            raise InvalidInput(f"{record} names an output outside the repository: {out['path']!r}")
        yield DvcOutput(path, str(md5), commit, author, subject)


def _caches(root: Path) -> list[Path]:
    """Where objects may be: the cache (default or configured), then local remotes."""
    config = configparser.ConfigParser()
    config.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    found = []
    cache_dir = config.get("cache", "dir", fallback=None)
    found.append((root / ".dvc" / cache_dir).resolve() if cache_dir else root / ".dvc" / "cache")
    for section in config.sections():
        url = config.get(section, "url", fallback="")
        if section.startswith("remote ") and url and "://" not in url:
            found.append((root / ".dvc" / url).resolve())
    return found


def _object(caches: list[Path], md5: str) -> Path | None:
    for cache in caches:
        for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
            if candidate.is_file():
                return candidate
    return None


def _materialize(caches: list[Path], out: DvcOutput, into: Path) -> Path:
    """Rebuild the output under ``into`` from the cache, checking every MD5."""
    target = into / Path(out.path).name
    if not out.md5.endswith(".dir"):
        _place(caches, out.md5, target, out)
        return target
    manifest = _object(caches, out.md5)
    if manifest is None:
        raise _missing(out, out.md5)
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    target.mkdir()
    for entry in entries:
        rel = Path(entry["relpath"])
        if rel.is_absolute() or ".." in rel.parts:
            raise InvalidInput(f"DVC manifest {manifest} has an unsafe path {entry['relpath']!r}")
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        _place(caches, entry["md5"], dest, out)
    return target


def _place(caches: list[Path], md5: str, dest: Path, out: DvcOutput) -> None:
    found = _object(caches, md5)
    if found is None:
        raise _missing(out, md5)
    digest = hashlib.md5(usedforsecurity=False)
    legacy = hashlib.md5(usedforsecurity=False)  # DVC 2 hashed text with CRLF as LF
    with found.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            legacy.update(chunk.replace(b"\r\n", b"\n"))
    if md5 not in (digest.hexdigest(), legacy.hexdigest()):
        raise InvalidInput(
            f"DVC cache object {found} does not match its MD5 {md5} (corrupt cache); "
            f"restore it with `dvc fetch` and import again; {out.path} not imported"
        )
    try:
        os.link(found, dest)
    except OSError:  # another file system, or links refused: copy
        shutil.copyfile(found, dest)


def _missing(out: DvcOutput, md5: str) -> InvalidInput:
    return InvalidInput(
        f"{out.path} at {out.commit or 'the working tree'}: object {md5} is in neither the "
        "DVC cache nor a local remote; run `dvc fetch --all-commits` and import again"
    )


def _import_output(
    ws: Workspace, root: Path, caches: list[Path], out: DvcOutput, name: str, summary: ImportSummary
) -> bool:
    """Store one output as the next version of ``name``; False when its content equals
    the latest version's (nothing new recorded)."""
    import json as _json

    from cairn.data.versions import inspect, profile_content
    from cairn.store.datasets import Column, NewVersion

    with tempfile.TemporaryDirectory(prefix="cairn-dvc-", dir=root / ".dvc") as tmp:
        try:
            path = _materialize(caches, out, Path(tmp))
        except InvalidInput as exc:
            summary.add("dataset versions skipped (content not available)")
            summary.note(str(exc))
            return False
        content = inspect(path)
        profile, content = profile_content(content)
        stored = ws.artifacts.put(path)
        profile_digest = None
        if profile is not None:
            data = _json.dumps(profile, separators=(",", ":")).encode()
            profile_digest = ws.artifacts.put_bytes(data).digest
    result = ws.datasets.add_version(
        NewVersion(
            name=name,
            digest=stored.digest,
            kind=stored.kind,
            size=stored.size,
            file_count=len(content.scan.files),
            format=content.format,
            rows=None if profile is None else int(profile["rows"]),
            columns=tuple(
                Column(c, i["dtype"]) for c, i in (profile or {}).get("columns", {}).items()
            ),
            profile_digest=profile_digest,
            git_commit=out.commit,
            git_dirty=None if out.commit is None else False,
            created_by=out.author,
            message=out.subject,
            source=out.source,
        )
    )
    return result.created
