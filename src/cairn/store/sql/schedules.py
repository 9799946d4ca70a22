"""The schedule store on SQL (SQLite or PostgreSQL).

See :class:`cairn.store.schedules.ScheduleStore` for the contract. Every claim and
retake locks the schedule's row first (``SELECT ... FOR UPDATE`` on PostgreSQL; a
SQLite write transaction holds the database's write lock from ``BEGIN IMMEDIATE``), so
the "is anything of this schedule running?" check and the insert that follows cannot
interleave with another scheduler's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.errors import AlreadyExists, NotFound
from cairn.store.schedules import (
    Claim,
    Firing,
    FiringState,
    NewSchedule,
    Schedule,
    check_schedule_name,
)
from cairn.store.sql.tables_schedules import schedule_firings as sf
from cairn.store.sql.tables_schedules import schedules as sc
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_MAX_ERROR = 5000
#: States in which a firing blocks another of its schedule from starting.
_BLOCKING = ("running", "interrupted")


class _Taken(Exception):
    """The slot's row exists already (raised inside the write to roll it back)."""


class SqlScheduleStore:
    """Schedules and firings in the workspace's SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    # -- schedules -----------------------------------------------------------------

    def add_schedule(self, new: NewSchedule) -> Schedule:
        check_schedule_name(new.name)
        row = {
            "name": new.name,
            "pipeline": new.pipeline,
            "cron": new.cron,
            "timezone": new.timezone,
            "dataset": new.dataset,
            "dataset_param": new.dataset_param,
            "params": json.dumps(dict(new.params), sort_keys=True),
            "executor": new.executor,
            "created_at": now_ms(),
            "created_by": new.created_by,
            "last_fire_time": new.last_fire_time,
            "last_dataset_version": new.last_dataset_version,
        }

        def write(conn: Connection) -> None:
            if conn.execute(sa.select(sc.c.name).where(sc.c.name == new.name)).first():
                raise AlreadyExists(
                    f"a schedule named {new.name!r} exists: pick another name, or remove it "
                    f"first with `cairn schedule rm {new.name}`"
                )
            conn.execute(sc.insert().values(**row))

        try:
            self.db.write(write)
        except IntegrityError:  # inserted by another process in between
            raise AlreadyExists(
                f"a schedule named {new.name!r} exists: pick another name"
            ) from None
        return _schedule(row)

    def get_schedule(self, name: str) -> Schedule:
        with self.db.read() as conn:
            row = conn.execute(sa.select(sc).where(sc.c.name == name)).first()
        if row is None:
            raise NotFound(f"no schedule named {name!r}; see `cairn schedule ls`")
        return _schedule(row._mapping)

    def list_schedules(self) -> list[Schedule]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(sc).order_by(sc.c.name)).all()
        return [_schedule(r._mapping) for r in rows]

    def remove_schedule(self, name: str) -> None:
        def write(conn: Connection) -> int:
            # Firings first: SQLite enforces ON DELETE CASCADE only with foreign keys on.
            conn.execute(sf.delete().where(sf.c.schedule == name))
            return conn.execute(sc.delete().where(sc.c.name == name)).rowcount

        if not self.db.write(write):
            raise NotFound(f"no schedule named {name!r}; see `cairn schedule ls`")

    # -- firings -------------------------------------------------------------------

    def _lock(self, conn: Connection, name: str) -> Mapping[Any, Any]:
        query = sa.select(sc).where(sc.c.name == name)
        if self.db.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no schedule named {name!r}; see `cairn schedule ls`")
        return row._mapping

    @staticmethod
    def _busy(conn: Connection, name: str, except_key: str | None = None) -> bool:
        query = sa.select(sf.c.fire_key).where(sf.c.schedule == name, sf.c.state.in_(_BLOCKING))
        if except_key is not None:
            query = query.where(sf.c.fire_key != except_key)
        return conn.execute(query.limit(1)).first() is not None

    def claim_firing(self, claim: Claim, *, owner: str, now: int) -> Firing | None:
        def write(conn: Connection) -> Firing | None:
            schedule = self._lock(conn, claim.schedule)
            if claim.dataset_version is not None:
                seen = schedule["last_dataset_version"]
                if seen is not None and seen >= claim.dataset_version:
                    return None
                mark: dict[str, Any] = {"last_dataset_version": claim.dataset_version}
            else:
                if schedule["last_fire_time"] >= claim.fire_time:
                    return None
                mark = {"last_fire_time": claim.fire_time}
            if self._busy(conn, claim.schedule):
                return None
            exists = sa.select(sf.c.state).where(
                sf.c.schedule == claim.schedule, sf.c.fire_key == claim.fire_key
            )
            if conn.execute(exists).first() is not None:
                raise _Taken
            firing = Firing(
                schedule=claim.schedule,
                fire_key=claim.fire_key,
                fire_time=claim.fire_time,
                state="running",
                owner=owner,
                attempts=1,
                claimed_at=now,
                heartbeat_at=now,
            )
            conn.execute(sf.insert().values(**_firing_row(firing)))
            conn.execute(sc.update().where(sc.c.name == claim.schedule).values(**mark))
            return firing

        try:
            return self.db.write(write)
        except (_Taken, IntegrityError):
            # The unique (schedule, fire_key) row: another scheduler started this slot.
            return None

    def retake_firing(
        self, schedule: str, fire_key: str, *, owner: str, now: int, max_attempts: int
    ) -> Firing | None:
        def write(conn: Connection) -> Firing | None:
            self._lock(conn, schedule)
            where = (sf.c.schedule == schedule, sf.c.fire_key == fire_key)
            row = conn.execute(sa.select(sf).where(*where)).first()
            if row is None or row.state != "interrupted":
                return None
            if row.attempts >= max_attempts:
                conn.execute(
                    sf.update()
                    .where(*where)
                    .values(
                        state="failed",
                        finished_at=now,
                        error=f"gave up after {row.attempts} interrupted attempts; "
                        + (row.error or ""),
                    )
                )
                return None
            if self._busy(conn, schedule, except_key=fire_key):
                return None
            values = {
                "state": "running",
                "owner": owner,
                "attempts": row.attempts + 1,
                "heartbeat_at": now,
            }
            conn.execute(sf.update().where(*where).values(**values))
            return _firing({**row._mapping, **values})

        return self.db.write(write)

    def heartbeat(self, owner: str, now: int) -> int:
        def write(conn: Connection) -> int:
            result = conn.execute(
                sf.update()
                .where(sf.c.owner == owner, sf.c.state == "running")
                .values(heartbeat_at=now)
            )
            return int(result.rowcount)

        return self.db.write(write)

    def interrupt_firing(self, schedule: str, fire_key: str, *, owner: str, reason: str) -> bool:
        def write(conn: Connection) -> bool:
            result = conn.execute(
                sf.update()
                .where(
                    sf.c.schedule == schedule,
                    sf.c.fire_key == fire_key,
                    sf.c.owner == owner,
                    sf.c.state == "running",
                )
                .values(state="interrupted", error=reason[:_MAX_ERROR])
            )
            return bool(result.rowcount)

        return self.db.write(write)

    def finish_firing(
        self,
        schedule: str,
        fire_key: str,
        *,
        owner: str,
        state: FiringState,
        now: int,
        run_id: str | None = None,
        error: str = "",
    ) -> bool:
        def write(conn: Connection) -> bool:
            # "interrupted" too: a scheduler that handed its firing over on the way out
            # (release) but saw the pipeline end first still owns it, and records the end
            # instead of letting the next scheduler run it again.
            result = conn.execute(
                sf.update()
                .where(
                    sf.c.schedule == schedule,
                    sf.c.fire_key == fire_key,
                    sf.c.owner == owner,
                    sf.c.state.in_(_BLOCKING),
                )
                .values(
                    state=state,
                    finished_at=None if state == "interrupted" else now,
                    run_id=run_id,
                    error=error[:_MAX_ERROR],
                )
            )
            return bool(result.rowcount)

        return self.db.write(write)

    def list_firings(
        self,
        schedule: str | None = None,
        states: Sequence[FiringState] = (),
        limit: int = 100,
    ) -> list[Firing]:
        query = sa.select(sf)
        if schedule is not None:
            query = query.where(sf.c.schedule == schedule)
        if states:
            query = query.where(sf.c.state.in_(list(states)))
        query = query.order_by(sf.c.fire_time.desc(), sf.c.fire_key.desc()).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_firing(r._mapping) for r in rows]


def _schedule(row: Mapping[Any, Any]) -> Schedule:
    return Schedule(
        name=row["name"],
        pipeline=row["pipeline"],
        cron=row["cron"],
        timezone=row["timezone"],
        dataset=row["dataset"],
        dataset_param=row["dataset_param"],
        params=dict(json.loads(row["params"] or "{}")),
        executor=row["executor"],
        created_at=int(row["created_at"]),
        created_by=row["created_by"],
        last_fire_time=int(row["last_fire_time"]),
        last_dataset_version=row["last_dataset_version"],
    )


def _firing_row(firing: Firing) -> dict[str, Any]:
    return firing.to_dict()


def _firing(row: Mapping[Any, Any]) -> Firing:
    return Firing(
        schedule=row["schedule"],
        fire_key=row["fire_key"],
        fire_time=int(row["fire_time"]),
        state=row["state"],
        owner=row["owner"],
        attempts=int(row["attempts"]),
        claimed_at=int(row["claimed_at"]),
        heartbeat_at=int(row["heartbeat_at"]),
        finished_at=row["finished_at"],
        run_id=row["run_id"],
        error=row["error"] or "",
    )
