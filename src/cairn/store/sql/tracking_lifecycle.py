"""The run lifecycle on SQL: soft delete, restore, purge, dependents and the event history.

Every function runs inside the caller's write transaction, so the dependents a delete or
purge checks are the ones present when it commits: SQLite serializes writers already
(``BEGIN IMMEDIATE``); on PostgreSQL the run row is locked (``FOR UPDATE``), and a purge
holds ``model_versions`` and ``dataset_versions`` in SHARE mode so no version can be
registered from a run between the check and the delete.

Dependents are found in the other domains' tables of the same database: model versions
whose ``run_id`` is the run, dataset versions whose content the run wrote (an output edge
with the version's digest), and child runs that are not deleted themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.errors import InUse, InvalidInput, NotFound
from cairn.store.base import Deletion, PurgeResult, RunAction, RunDependent, RunEvent
from cairn.store.sql import tables as t
from cairn.store.sql import tables_datasets as td
from cairn.store.sql import tables_registry as tr
from cairn.store.sql.tracking_rows import RUN_COLUMNS, among, hydrate
from cairn.types import EXTERNAL, Run

_RECORDED_ON_RUN = (t.params, t.tags, t.metrics, t.latest_metrics, t.run_io)


def when(ms: int) -> str:
    """``2024-05-01 12:00 UTC``: a time for messages."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def deleted_error(run_id: str, deleted_at: int, deleted_by: str | None) -> InvalidInput:
    return InvalidInput(
        f"run {run_id} was deleted by {deleted_by or 'unknown'} at {when(deleted_at)}; "
        f"nothing can be logged to it until `cairn runs restore {run_id}` brings it back"
    )


def no_run(run_id: str, what: str = "run") -> NotFound:
    return NotFound(f"no {what} with id {run_id!r}; `cairn runs ls` lists runs")


def require_live_run(conn: Connection, run_id: str, what: str = "run") -> int:
    """The key of run ``run_id``; raise unless it exists and is not deleted.

    On PostgreSQL the row is share-locked until commit, so a concurrent delete waits for
    this write instead of committing between the check and the write.
    """
    r = t.runs
    query = sa.select(r.c.run_key, r.c.deleted_at, r.c.deleted_by).where(r.c.id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = conn.execute(query).first()
    if row is None:
        raise no_run(run_id, what)
    if row.deleted_at is not None:
        raise deleted_error(run_id, row.deleted_at, row.deleted_by)
    return int(row.run_key)


def dependents(conn: Connection, run_ids: list[str]) -> dict[str, list[RunDependent]]:
    """What points at each of ``run_ids``: model versions, dataset versions, live children."""
    found: dict[str, list[RunDependent]] = defaultdict(list)
    if not run_ids:
        return found
    mv, ma = tr.model_versions, tr.model_aliases
    aliases = sa.and_(ma.c.name == mv.c.name, ma.c.version == mv.c.version)
    version_rows = conn.execute(
        sa.select(mv.c.run_id, mv.c.name, mv.c.version, mv.c.status, ma.c.alias)
        .select_from(mv.outerjoin(ma, aliases))
        .where(among(mv.c.run_id, run_ids, conn))
        .order_by(mv.c.name, mv.c.version, ma.c.alias)
    ).all()
    versions: dict[tuple[str, str, int], list[str]] = {}
    statuses: dict[tuple[str, str, int], str] = {}
    for run_id, name, version, status, alias in version_rows:
        key = (run_id, name, version)
        versions.setdefault(key, [])
        statuses[key] = status
        if alias is not None:
            versions[key].append(alias)
    for (run_id, name, version), names in versions.items():
        notes = [f"aliases: {', '.join(names)}"] if names else []
        if statuses[(run_id, name, version)] != "READY":
            notes.append(statuses[(run_id, name, version)].lower())
        found[run_id].append(RunDependent("model version", f"{name}/{version}", "; ".join(notes)))

    io, dv, r = t.run_io, td.dataset_versions, t.runs
    rows = conn.execute(
        sa.select(r.c.id, dv.c.name, dv.c.version)
        .select_from(io.join(r, r.c.run_key == io.c.run_key).join(dv, dv.c.digest == io.c.digest))
        .where(among(r.c.id, run_ids, conn), io.c.direction == "output")
        .distinct()
        .order_by(dv.c.name, dv.c.version)
    ).all()
    for run_id, name, version in rows:
        found[run_id].append(RunDependent("dataset version", f"{name}@v{version}"))

    rows = conn.execute(
        sa.select(r.c.parent_id, r.c.id, r.c.name)
        .where(among(r.c.parent_id, run_ids, conn), r.c.deleted_at.is_(None))
        .order_by(r.c.start_time, r.c.id)
    ).all()
    for parent_id, child_id, name in rows:
        found[parent_id].append(RunDependent("child run", child_id, name))
    return found


def soft_delete(conn: Connection, run_id: str, actor: str, force: bool, now: int) -> Deletion:
    row = _locked_run(conn, run_id)
    if row.deleted_at is not None:
        raise InvalidInput(
            f"run {run_id} is already deleted (by {row.deleted_by or 'unknown'} at "
            f"{when(row.deleted_at)}); `cairn runs restore {run_id}` brings it back"
        )
    found = tuple(dependents(conn, [run_id]).get(run_id, ()))
    if found and not force:
        raise InUse(
            f"run {run_id} ({row.name}) was not deleted: {_count(found)} on it "
            f"({_preview(found)}); pass force=True (`cairn runs delete --force`) to "
            "soft-delete it anyway",
            tuple(str(d) for d in found),
        )
    conn.execute(
        t.runs.update().where(t.runs.c.id == run_id).values(deleted_at=now, deleted_by=actor)
    )
    detail = "forced past: " + "; ".join(str(d) for d in found) if found else ""
    _record(conn, [run_id], "delete", actor, now, detail)
    return Deletion(run_id, now, actor, found)


def restore(conn: Connection, run_id: str, actor: str, now: int) -> Run:
    row = _locked_run(conn, run_id)
    if row.deleted_at is None:
        raise InvalidInput(f"run {run_id} is not deleted: there is nothing to restore")
    conn.execute(
        t.runs.update().where(t.runs.c.id == run_id).values(deleted_at=None, deleted_by=None)
    )
    _record(
        conn,
        [run_id],
        "restore",
        actor,
        now,
        f"deleted by {row.deleted_by} at {when(row.deleted_at)}",
    )
    fresh = conn.execute(sa.select(*RUN_COLUMNS).where(t.runs.c.id == run_id)).all()
    return hydrate(conn, fresh)[0]


def purge(
    conn: Connection, cutoff: int, actor: str, force: bool, dry_run: bool, now: int
) -> PurgeResult:
    r = t.runs
    if conn.dialect.name == "postgresql" and not dry_run:
        # No version may be registered from a run between the dependents check and the
        # delete (see the module docstring).
        conn.exec_driver_sql("LOCK TABLE model_versions, dataset_versions IN SHARE MODE")
    expired = conn.execute(
        sa.select(*RUN_COLUMNS)
        .where(r.c.deleted_at.is_not(None), r.c.deleted_at <= cutoff)
        .order_by(r.c.deleted_at, r.c.id)
    ).all()
    runs = hydrate(conn, expired)
    key_of = {row.id: row.run_key for row in expired}
    found = dependents(conn, [run.id for run in runs])
    kept = tuple((run, tuple(found[run.id])) for run in runs if found.get(run.id) and not force)
    kept_ids = {run.id for run, _ in kept}
    purged = tuple(run for run in runs if run.id not in kept_ids)
    ids = [run.id for run in purged]
    keys = [key_of[run_id] for run_id in ids]
    released = _released(conn, keys)
    if ids and not dry_run:
        # The foreign keys cascade too; deleting explicitly keeps a connection opened
        # without SQLite's foreign_keys pragma from leaving orphans behind.
        for table in _RECORDED_ON_RUN:
            conn.execute(table.delete().where(among(table.c.run_key, keys, conn)))
        conn.execute(r.update().where(among(r.c.parent_id, ids, conn)).values(parent_id=None))
        conn.execute(r.delete().where(among(r.c.run_key, keys, conn)))
        for run in purged:
            forced = found.get(run.id)
            detail = "forced past: " + "; ".join(str(d) for d in forced) if forced else ""
            _record(conn, [run.id], "purge", actor, now, detail)
    return PurgeResult(purged, kept, released)


def events(conn: Connection, run_id: str) -> list[RunEvent]:
    e = t.run_events
    rows = conn.execute(
        sa.select(e.c.seq, e.c.run_id, e.c.action, e.c.actor, e.c.created_at, e.c.detail)
        .where(e.c.run_id == run_id)
        .order_by(e.c.seq)
    ).all()
    return [RunEvent(*row) for row in rows]


def _released(conn: Connection, keys: list[int]) -> frozenset[str]:
    """Digests the runs with ``keys`` point at that no other run's record points at."""
    if not keys:
        return frozenset()
    io = t.run_io
    mine = set(
        conn.execute(
            sa.select(io.c.digest)
            .where(among(io.c.run_key, keys, conn), io.c.kind != EXTERNAL)
            .distinct()
        ).scalars()
    )
    if not mine:
        return frozenset()
    others = set(
        conn.execute(
            sa.select(io.c.digest)
            .where(among(io.c.digest, sorted(mine), conn), sa.not_(among(io.c.run_key, keys, conn)))
            .distinct()
        ).scalars()
    )
    return frozenset(mine - others)


def _locked_run(conn: Connection, run_id: str) -> Any:
    query = sa.select(t.runs.c.name, t.runs.c.deleted_at, t.runs.c.deleted_by).where(
        t.runs.c.id == run_id
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise no_run(run_id)
    return row


def _record(
    conn: Connection, run_ids: Sequence[str], action: RunAction, actor: str, now: int, detail: str
) -> None:
    conn.execute(
        t.run_events.insert(),
        [
            {"run_id": rid, "action": action, "actor": actor, "created_at": now, "detail": detail}
            for rid in run_ids
        ],
    )


def _count(found: Sequence[RunDependent]) -> str:
    return "1 record depends" if len(found) == 1 else f"{len(found)} records depend"


def _preview(found: Sequence[RunDependent], shown: int = 3) -> str:
    names = "; ".join(str(d) for d in found[:shown])
    return names + (f"; and {len(found) - shown} more" if len(found) > shown else "")
