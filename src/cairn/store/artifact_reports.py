"""What the artifact store's maintenance operations report: verify, gc, copy_to.

Frozen dataclasses with a one-line ``summary()`` for a terminal and ``to_dict()`` for
``--json`` output; digests are sorted so reports compare and print stably.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``ArtifactStore.verify`` found. ``checked`` objects and ``members`` packed files
    were re-hashed (``bytes`` in all); ``corrupt`` digests no longer match their bytes;
    ``missing`` digests are referenced (by the caller or by a stored tree) but absent."""

    checked: int
    corrupt: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    bytes: int = 0
    members: int = 0

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing

    def summary(self) -> str:
        state = "ok" if self.ok else f"{len(self.corrupt)} corrupt, {len(self.missing)} missing"
        counts = f"{self.checked} objects, {self.members} packed files, {self.bytes} bytes"
        return f"checked {counts}: {state}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "members": self.members,
            "bytes": self.bytes,
            "corrupt": list(self.corrupt),
            "missing": list(self.missing),
        }


@dataclass(frozen=True, slots=True)
class GcReport:
    """What ``ArtifactStore.gc`` removed, or in a dry run would remove.

    ``removed`` digests were not reachable from the references; ``bytes`` is their
    total size; ``temps`` are stale temp files left by interrupted writes; ``kept``
    objects were reachable; ``young`` objects were not, but were written (or stored
    again) less than ``min_age`` seconds before gc started, or during it, and so were
    spared; ``rescued`` objects were about to go but were stored again or recorded
    while gc ran, and were put back."""

    removed: tuple[str, ...]
    bytes: int
    temps: tuple[str, ...]
    kept: int
    dry_run: bool
    young: int = 0
    rescued: int = 0

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        spared = f", spared {self.young} unreferenced recent objects" if self.young else ""
        rescued = f", put back {self.rescued} stored again meanwhile" if self.rescued else ""
        return (
            f"{verb} {len(self.removed)} objects ({self.bytes} bytes) and {len(self.temps)} "
            f"stale temp files; kept {self.kept} objects{spared}{rescued}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed": list(self.removed),
            "bytes": self.bytes,
            "temps": list(self.temps),
            "kept": self.kept,
            "young": self.young,
            "rescued": self.rescued,
        }


@dataclass(frozen=True, slots=True)
class TransferReport:
    """What ``ArtifactStore.copy_to`` did: ``copied`` digests (``bytes`` in all), objects
    ``skipped`` because the destination had them, digests ``missing`` at the source."""

    copied: tuple[str, ...]
    skipped: int
    missing: tuple[str, ...]
    bytes: int

    def summary(self) -> str:
        missing = f"; {len(self.missing)} missing at the source" if self.missing else ""
        copied = f"copied {len(self.copied)} objects ({self.bytes} bytes)"
        return f"{copied}, {self.skipped} already there{missing}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "copied": list(self.copied),
            "skipped": self.skipped,
            "missing": list(self.missing),
            "bytes": self.bytes,
        }
