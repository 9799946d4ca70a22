"""Deleting, restoring and purging runs: the run lifecycle in a workspace.

A delete is soft: the run keeps its row, params, metrics, lineage and artifacts, is
hidden from searches and refuses new records, and can be restored. ``cairn gc`` purges
runs deleted longer ago than the retention period (:data:`DEFAULT_RETENTION_DAYS`);
only then do their artifacts become unreferenced. A run that model versions, dataset
versions or live child runs depend on is neither deleted nor purged without ``force``.
Each delete, restore and purge records who (``CAIRN_USER``, else the login name) and when.

Example:
    >>> from cairn.tracking import lifecycle
    >>> lifecycle.delete_run(run.id)  # doctest: +SKIP
    Deletion(run_id='3f9a...', deleted_at=1714557600000, deleted_by='ana', dependents=())
    >>> lifecycle.restore_run(run.id).is_deleted  # doctest: +SKIP
    False
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from cairn.errors import InvalidInput
from cairn.tracking.environment import current_user
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.base import Deletion, PurgeResult, RunEvent
    from cairn.types import Experiment, Run
    from cairn.workspace import Workspace

#: Days a deleted run is kept, restorable, before ``cairn gc --delete`` purges it.
DEFAULT_RETENTION_DAYS = 30.0
DAY_MS = 86_400_000


def actor(workspace: Workspace) -> str:
    """Who is acting: the workspace's ``CAIRN_USER``, else the login name."""
    return workspace.settings.user or current_user()


def delete_run(run_id: str, *, force: bool = False, workspace: Workspace | None = None) -> Deletion:
    """Soft-delete a run (restorable until purged).

    Raises :class:`~cairn.errors.InUse` listing what depends on the run (model versions
    registered from it, dataset versions it wrote, child runs) unless ``force``.
    """
    ws = _ws(workspace)
    return ws.tracking.delete_run(run_id, actor=actor(ws), force=force)


def restore_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """Bring a soft-deleted run back: searchable again, and open to new records."""
    ws = _ws(workspace)
    return ws.tracking.restore_run(run_id, actor=actor(ws))


def delete_experiment(id_or_name: str, *, workspace: Workspace | None = None) -> Experiment:
    """Soft-delete an experiment: it and its runs are hidden from listings and searches
    and it takes no new runs, until :func:`restore_experiment`. The runs keep their own
    state (nothing is purged)."""
    ws = _ws(workspace)
    return ws.tracking.delete_experiment(id_or_name, actor=actor(ws))


def restore_experiment(id_or_name: str, *, workspace: Workspace | None = None) -> Experiment:
    """Bring a soft-deleted experiment back, with its runs as they were."""
    ws = _ws(workspace)
    return ws.tracking.restore_experiment(id_or_name, actor=actor(ws))


def run_history(run_id: str, *, workspace: Workspace | None = None) -> list[RunEvent]:
    """Who deleted, restored or purged the run, and when; oldest first."""
    return _ws(workspace).tracking.run_events(run_id)


def purge_deleted_runs(
    retention_days: float = DEFAULT_RETENTION_DAYS,
    *,
    dry_run: bool = True,
    force: bool = False,
    workspace: Workspace | None = None,
) -> PurgeResult:
    """Hard-delete runs deleted more than ``retention_days`` ago (0: every deleted run).

    Runs something depends on are kept (``result.kept``, with their dependents) unless
    ``force``. For a dry run, ``result.released`` holds the artifact digests that no
    record would reference any more once the runs are gone, so a dry ``gc`` can count
    them as unreferenced; after a real purge it is empty, because the references are
    gone from the store itself.
    """
    if (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, int | float)
        or not math.isfinite(retention_days)
        or retention_days < 0
    ):
        raise InvalidInput(
            f"runs retention must be a number of days >= 0, not {retention_days!r}; "
            "0 purges every deleted run"
        )
    ws = _ws(workspace)
    cutoff = max(0, now_ms() - int(retention_days * DAY_MS))
    result = ws.tracking.purge_runs(cutoff, actor=actor(ws), force=force, dry_run=dry_run)
    if not dry_run or not result.released:
        return dataclasses.replace(result, released=frozenset())
    held = set()
    for domain in ("datasets", "registry"):
        held.update(getattr(ws, domain).referenced_digests())
    return dataclasses.replace(result, released=result.released - held)


def _ws(workspace: Workspace | None) -> Workspace:
    from cairn.workspace import resolve

    return resolve(workspace)
