"""The pipeline store on SQL (SQLite or PostgreSQL); see
:class:`cairn.store.pipelines.PipelineStore` for the contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.errors import InvalidInput, NotFound
from cairn.store.pipelines import CacheEntry, PipelineRun, StepRecord
from cairn.store.sql.tables_pipelines import pipeline_cache as pc
from cairn.store.sql.tables_pipelines import pipeline_runs as pr
from cairn.store.sql.tables_pipelines import pipeline_steps as ps
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase


def _run(row: Any) -> PipelineRun:
    return PipelineRun(**{k: row[k] for k in PipelineRun.__dataclass_fields__})


def _step(row: Any) -> StepRecord:
    return StepRecord(**{k: row[k] for k in StepRecord.__dataclass_fields__})


class SqlPipelineStore:
    """Pipeline runs, step states and the step cache in the workspace's SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def create_run(self, run: PipelineRun) -> None:
        now = now_ms()
        row = asdict(run) | {"created_at": run.created_at or now, "updated_at": now}
        self.db.write(lambda conn: conn.execute(pr.insert().values(**row)))

    def set_run_state(self, run_id: str, state: str) -> None:
        query = pr.update().where(pr.c.run_id == run_id).values(state=state, updated_at=now_ms())
        self.db.write(lambda conn: conn.execute(query))

    def get_run(self, run_id: str) -> PipelineRun:
        if not run_id or not all(c in "0123456789abcdef" for c in run_id):
            raise InvalidInput(
                f"{run_id!r} is not a run id (hex characters); see `cairn pipeline ls`"
            )
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(pr).where(pr.c.run_id.startswith(run_id, autoescape=True)).limit(2)
            ).all()
        if not rows:
            raise NotFound(f"no pipeline run id starts with {run_id!r}; see `cairn pipeline ls`")
        if len(rows) > 1:
            raise InvalidInput(
                f"more than one pipeline run id starts with {run_id!r}; give more characters"
            )
        return _run(rows[0]._mapping)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
        query = sa.select(pr).order_by(pr.c.created_at.desc(), pr.c.run_id.desc()).limit(limit)
        if pipeline:
            query = query.where(pr.c.pipeline == pipeline)
        with self.db.read() as conn:
            return [_run(r._mapping) for r in conn.execute(query)]

    def save_steps(self, records: Sequence[StepRecord]) -> None:
        if not records:
            return
        now = now_ms()
        rows = [asdict(r) | {"updated_at": now} for r in records]

        def write(conn: Connection) -> None:
            for row in rows:
                # Delete-then-insert is an upsert both dialects run the same way.
                conn.execute(
                    ps.delete().where((ps.c.run_id == row["run_id"]) & (ps.c.step == row["step"]))
                )
            conn.execute(ps.insert(), rows)

        self.db.write(write)

    def list_steps(self, run_id: str) -> list[StepRecord]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(ps).where(ps.c.run_id == run_id)).all()
        return [_step(r._mapping) for r in rows]

    def previous_step(self, pipeline: str, step: str, before_run_id: str) -> StepRecord | None:
        with self.db.read() as conn:
            before = conn.execute(
                sa.select(pr.c.created_at).where(pr.c.run_id == before_run_id)
            ).scalar()
            if before is None:
                return None
            row = conn.execute(
                sa.select(ps)
                .join(pr, pr.c.run_id == ps.c.run_id)
                .where(
                    (pr.c.pipeline == pipeline)
                    & (ps.c.step == step)
                    & (ps.c.cache_key != "")
                    & (pr.c.run_id != before_run_id)
                    & (pr.c.created_at <= before)
                )
                .order_by(pr.c.created_at.desc())
                .limit(1)
            ).first()
        return None if row is None else _step(row._mapping)

    def get_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        if not keys:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(sa.select(pc).where(pc.c.cache_key.in_(list(keys)))).all()
        fields = CacheEntry.__dataclass_fields__
        return {r.cache_key: CacheEntry(**{k: r._mapping[k] for k in fields}) for r in rows}

    def recent_cache(self, steps: Sequence[str], limit: int) -> dict[str, CacheEntry]:
        if not steps or limit < 1:
            return {}
        query = (
            sa.select(pc)
            .where(pc.c.step.in_(list(steps)))
            .order_by(pc.c.created_at.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        fields = CacheEntry.__dataclass_fields__
        return {r.cache_key: CacheEntry(**{k: r._mapping[k] for k in fields}) for r in rows}

    def put_cache(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        now = now_ms()
        rows = [asdict(e) | {"created_at": e.created_at or now} for e in entries]

        if self.db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        # An upsert, not delete-then-insert: two runs storing the same key at once (the
        # same pipeline started twice) must both succeed on PostgreSQL, where two
        # transactions can both find no row and then both insert it.
        statement = insert(pc)
        statement = statement.on_conflict_do_update(
            index_elements=[pc.c.cache_key],
            set_={
                c: statement.excluded[c] for c in ("step", "outputs", "step_run_id", "created_at")
            },
        )
        self.db.write(lambda conn: conn.execute(statement, rows))
