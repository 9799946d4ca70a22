"""The alert store on SQL (SQLite or PostgreSQL).

See :class:`cairn.store.alerts.AlertStore` for the contract. ``open_alert`` reads the
rule's state and writes the alert in one write transaction (SQLite's ``BEGIN
IMMEDIATE`` serializes writers; on PostgreSQL the state row is locked ``FOR UPDATE`` and
the unique episode catches two first alerts racing), so an episode is raised once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.errors import NotFound
from cairn.store.alerts import ActionRecord, ActionState, Alert, NewAlert, RuleState
from cairn.store.sql.tables_alerts import monitor_actions as ma
from cairn.store.sql.tables_alerts import monitor_alerts as al
from cairn.store.sql.tables_alerts import monitor_rule_state as rs
from cairn.store.sql.tables_alerts import workspace_secrets as ws

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_MAX_TEXT = 10_000


class _Raced(Exception):
    """The rule's state moved under us (raised inside the write to roll it back)."""


class SqlAlertStore:
    """Rule states, alerts and actions in the workspace's SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def rule_state(self, rule: str, model: str) -> RuleState | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(rs).where(rs.c.rule == rule, rs.c.model == model)).first()
        return None if row is None else _state(row._mapping)

    def open_alert(self, new: NewAlert) -> Alert | None:
        def write(conn: Connection) -> Alert:
            query = sa.select(rs).where(rs.c.rule == new.rule, rs.c.model == new.model)
            if self.db.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            episode = 0 if row is None else int(row.episode)
            if episode != new.episode - 1:
                raise _Raced
            state = {
                "firing": True,
                "episode": new.episode,
                "last_fired_ms": new.fired_ms,
                "updated_ms": new.fired_ms,
            }
            if row is None:
                conn.execute(rs.insert().values(rule=new.rule, model=new.model, **state))
            else:
                conn.execute(
                    rs.update()
                    .where(rs.c.rule == new.rule, rs.c.model == new.model)
                    .values(**state)
                )
            conn.execute(
                al.insert().values(
                    id=new.id,
                    rule=new.rule,
                    model=new.model,
                    episode=new.episode,
                    version=new.version,
                    message=new.message[:_MAX_TEXT],
                    evidence=json.dumps(dict(new.evidence), sort_keys=True, default=str),
                    fired_ms=new.fired_ms,
                )
            )
            for position, (name, kind) in enumerate(new.actions):
                conn.execute(
                    ma.insert().values(
                        alert_id=new.id,
                        position=position,
                        name=name,
                        kind=kind,
                        state="pending",
                        attempts=0,
                        updated_ms=new.fired_ms,
                    )
                )
            return Alert(
                id=new.id,
                rule=new.rule,
                model=new.model,
                episode=new.episode,
                version=new.version,
                message=new.message[:_MAX_TEXT],
                evidence=json.loads(json.dumps(dict(new.evidence), default=str)),
                fired_ms=new.fired_ms,
            )

        try:
            return self.db.write(write)
        except (_Raced, IntegrityError):
            return None

    def resolve(self, rule: str, model: str, now: int) -> bool:
        def write(conn: Connection) -> bool:
            where = (rs.c.rule == rule, rs.c.model == model, rs.c.firing.is_(True))
            row = conn.execute(sa.select(rs.c.episode).where(*where)).first()
            if row is None:
                return False
            conn.execute(rs.update().where(*where).values(firing=False, updated_ms=now))
            conn.execute(
                al.update()
                .where(al.c.rule == rule, al.c.model == model, al.c.episode == row.episode)
                .values(resolved_ms=now)
            )
            return True

        return self.db.write(write)

    def pending_actions(self, limit: int = 100) -> list[ActionRecord]:
        query = (
            sa.select(ma)
            .join(al, al.c.id == ma.c.alert_id)
            .where(ma.c.state == "pending")
            .order_by(al.c.fired_ms, ma.c.alert_id, ma.c.position)
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_action(r._mapping) for r in rows]

    def finish_action(
        self,
        alert_id: str,
        position: int,
        *,
        state: ActionState,
        attempts: int,
        detail: str,
        result: Mapping[str, Any],
        now: int,
    ) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                ma.update()
                .where(ma.c.alert_id == alert_id, ma.c.position == position)
                .values(
                    state=state,
                    attempts=attempts,
                    detail=detail[:_MAX_TEXT],
                    result=json.dumps(dict(result), sort_keys=True, default=str),
                    updated_ms=now,
                )
            )

        self.db.write(write)

    def list_alerts(
        self, model: str | None = None, rule: str | None = None, limit: int = 100
    ) -> list[Alert]:
        query = sa.select(al)
        if model is not None:
            query = query.where(al.c.model == model)
        if rule is not None:
            query = query.where(al.c.rule == rule)
        query = query.order_by(al.c.fired_ms.desc(), al.c.id).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_alert(r._mapping) for r in rows]

    def get_alert(self, alert_id: str) -> Alert:
        with self.db.read() as conn:
            row = conn.execute(sa.select(al).where(al.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert with id {alert_id!r}; see `cairn monitor alerts`")
        return _alert(row._mapping)

    def list_actions(self, alert_id: str) -> list[ActionRecord]:
        query = sa.select(ma).where(ma.c.alert_id == alert_id).order_by(ma.c.position)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_action(r._mapping) for r in rows]

    def secret(self, name: str, make: bytes) -> bytes:
        def write(conn: Connection) -> bytes:
            row = conn.execute(sa.select(ws.c.value).where(ws.c.name == name)).first()
            if row is not None:
                return bytes(row.value)
            from cairn.types import now_ms

            conn.execute(ws.insert().values(name=name, value=make, created_ms=now_ms()))
            return make

        try:
            return self.db.write(write)
        except IntegrityError:  # another process stored it first: theirs wins
            with self.db.read() as conn:
                return bytes(
                    conn.execute(sa.select(ws.c.value).where(ws.c.name == name)).scalar_one()
                )


def _state(row: Mapping[Any, Any]) -> RuleState:
    return RuleState(
        rule=row["rule"],
        model=row["model"],
        firing=bool(row["firing"]),
        episode=int(row["episode"]),
        last_fired_ms=None if row["last_fired_ms"] is None else int(row["last_fired_ms"]),
        updated_ms=int(row["updated_ms"]),
    )


def _alert(row: Mapping[Any, Any]) -> Alert:
    return Alert(
        id=row["id"],
        rule=row["rule"],
        model=row["model"],
        episode=int(row["episode"]),
        version=row["version"] or "",
        message=row["message"] or "",
        evidence=dict(json.loads(row["evidence"] or "{}")),
        fired_ms=int(row["fired_ms"]),
        resolved_ms=None if row["resolved_ms"] is None else int(row["resolved_ms"]),
    )


def _action(row: Mapping[Any, Any]) -> ActionRecord:
    return ActionRecord(
        alert_id=row["alert_id"],
        position=int(row["position"]),
        name=row["name"],
        kind=row["kind"],
        state=row["state"],
        attempts=int(row["attempts"]),
        detail=row["detail"] or "",
        result=dict(json.loads(row["result"] or "{}")),
        updated_ms=int(row["updated_ms"]),
    )
