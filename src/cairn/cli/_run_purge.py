"""The run-purging step of ``cairn gc``: its options, and the call before the object sweep.

Deleted runs past their retention are purged first (or listed, for a dry run), so that
the artifacts only they referenced count as unreferenced in the same gc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cairn.cli import _output

if TYPE_CHECKING:
    from cairn.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def purge_options(fn: F) -> F:
    """The options ``cairn gc`` takes for purging deleted runs."""
    from cairn.tracking.lifecycle import DEFAULT_RETENTION_DAYS

    fn = click.option(
        "--force-runs",
        is_flag=True,
        help="Purge expired deleted runs even when model versions, dataset versions or child "
        "runs depend on them.",
    )(fn)
    return click.option(
        "--runs-retention",
        type=click.FloatRange(min=0.0),
        default=DEFAULT_RETENTION_DAYS,
        show_default=True,
        metavar="DAYS",
        help="Purge runs deleted more than this many days ago (their artifacts then count "
        "as unreferenced). 0 purges every deleted run.",
    )(fn)


def purge_for_gc(
    ws: Workspace, *, delete: bool, retention_days: float, force: bool, as_json: bool
) -> tuple[frozenset[str], list[dict[str, Any]]]:
    """Purge expired deleted runs (list them for a dry run) before gc looks for garbage.

    Returns the digests a dry run should count as unreferenced, and the runs as JSON.
    """
    from cairn.tracking.lifecycle import purge_deleted_runs

    result = purge_deleted_runs(retention_days, dry_run=not delete, force=force, workspace=ws)
    records: list[dict[str, Any]] = [
        {"id": r.id, "name": r.name, "deleted_at": _output.iso_time(r.deleted_at),
         "deleted_by": r.deleted_by, "purged": delete, "dependents": []}
        for r in result.purged
    ] + [
        {"id": r.id, "name": r.name, "deleted_at": _output.iso_time(r.deleted_at),
         "deleted_by": r.deleted_by, "purged": False, "dependents": [str(d) for d in deps]}
        for r, deps in result.kept
    ]  # fmt: skip
    if not as_json:
        verb = "purged" if delete else "would purge"
        for r in result.purged:
            click.echo(f"{verb} run {r.id} ({r.name}), deleted by {r.deleted_by}")
        for r, deps in result.kept:
            _output.echo_err(
                f"note: kept deleted run {r.id} ({r.name}): {len(deps)} depend on it "
                f"({'; '.join(str(d) for d in deps)}); --force-runs purges it anyway"
            )
    return result.released, records
