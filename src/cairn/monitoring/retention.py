"""Retention of the prediction log: delete the hourly partitions older than a period.

``cairn monitor prune --older-than 30d`` (and every cycle of ``cairn monitor run`` when
``monitor.yaml`` sets ``retention``) removes each ``date=/hour=`` folder whose hour ended
before ``now - older_than``. Whole hours only: an hour still being written is never
touched, and what remains is a complete window monitoring reads as before.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.workspace import Workspace

HOUR_MS = 3_600_000
#: Anything shorter could race the writer's last flush into the current hour.
MIN_RETENTION_MS = HOUR_MS


def prune(
    models: Sequence[str] | None = None,
    *,
    older_than_ms: int,
    workspace: Workspace | None = None,
    now_ms: int | None = None,
    root: str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete (or with ``dry_run`` only list) the partitions older than ``older_than_ms``
    of ``models`` (names or references like ``churn@production``; default: every model
    in the log). Returns the partition folders, oldest first."""
    import cairn.workspace
    from cairn.serving.predlog import _hour_of, default_root
    from cairn.store.tables import PartitionedFiles

    if older_than_ms < MIN_RETENTION_MS:
        raise InvalidInput(
            f"--older-than must be at least 1h (got {older_than_ms / 1000:g}s): the current "
            "hour is still being written"
        )
    ws = cairn.workspace.resolve(workspace)
    files = PartitionedFiles(root or default_root(ws), ws.settings.storage_options)
    names = ["*"] if not models else sorted({_model_name(m) for m in models})
    cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - older_than_ms
    old: list[tuple[int, str]] = []
    for name in names:
        found = files.glob(f"{name}/model_version=*/date=*/hour=*")
        found += files.glob(f"{name}/date=*/hour=*")
        for path in found:
            hour = _hour_of(path)
            if hour is not None and (hour + 1) * HOUR_MS <= cutoff:
                old.append((hour, path))
    old.sort()
    if not dry_run:
        for _, path in old:
            files.remove(path)
    return [p for _, p in old]


def _model_name(ref: str) -> str:
    """``churn`` from ``churn@production``, ``churn/3`` or ``churn``; refuses paths."""
    name = ref.split("@", 1)[0].split("/", 1)[0]
    if not name or name in (".", "..") or any(c in name for c in "*?[]\\"):
        raise InvalidInput(f"{ref!r} names no model: use a model name such as churn")
    return name
