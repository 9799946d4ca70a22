"""Experiments on SQL: create, look up, list, tag, soft-delete and restore.

A deleted experiment keeps its row, its tags and its runs. The runs keep their own
state: they are hidden from the default (``active``) searches while the experiment is
deleted and come back as they were when it is restored (a run deleted on its own stays
deleted). A deleted experiment takes no new runs, and its name stays taken until it is
restored, so a restore never meets a clash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.errors import AlreadyExists, InvalidInput, NotFound
from cairn.store.base import DEFAULT_EXPERIMENT, RunView, check_view
from cairn.store.redaction import redact_secrets
from cairn.store.sql import tables as t
from cairn.store.tracking_validation import INT64_MAX, check_experiment_name, check_strings
from cairn.types import Experiment, now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_E = t.experiments
_RUN_EXPERIMENT = (
    sa.select(_E)
    .join(t.runs, t.runs.c.experiment_id == _E.c.id)
    .where(t.runs.c.id == sa.bindparam("run_id"))
)
# Built once: create_run reads it on every run start (statement caching keys on it).
_LIVE_CHECK = sa.select(_E.c.name, _E.c.deleted_at).where(_E.c.id == sa.bindparam("id"))


class SqlExperimentStore:
    """The experiment half of :class:`~cairn.store.sql.tracking.SqlTrackingStore`."""

    db: SqlDatabase

    def create_experiment(
        self, name: str, description: str = "", tags: dict[str, str] | None = None
    ) -> Experiment:
        check_experiment_name(name)
        if not isinstance(description, str):
            raise InvalidInput(f"experiment description must be a string, not {description!r}")
        tags = dict(tags or {})
        check_strings("experiment tag", tags)
        tags = redact_secrets(tags)
        created = now_ms()

        def insert(conn: Connection) -> int:
            taken = conn.execute(sa.select(_E).where(_E.c.name == name)).first()
            if taken is not None:
                raise experiment_exists(name, taken.deleted_at is not None)
            result = conn.execute(
                _E.insert().values(name=name, description=description, created_at=created)
            )
            key = result.inserted_primary_key
            assert key is not None
            if tags:
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": key[0], "key": k, "value": v} for k, v in tags.items()],
                )
            return int(key[0])

        try:
            new_id = self.db.write(insert)
        except IntegrityError:  # another writer took the name between our check and insert
            raise experiment_exists(name, False) from None
        return Experiment(str(new_id), name, created, description, tags)

    def get_experiment(self, id_or_name: str) -> Experiment:
        with self.db.read() as conn:
            return _with_tags(conn, [_find(conn, str(id_or_name))])[0]

    def run_experiment(self, run_id: str) -> Experiment:
        with self.db.read() as conn:
            row = conn.execute(_RUN_EXPERIMENT, {"run_id": run_id}).first()
            if row is None:
                raise NotFound(f"no run with id {run_id!r}; `cairn runs ls` lists them")
            return _with_tags(conn, [row])[0]

    def list_experiments(self, view: RunView = "active") -> list[Experiment]:
        check_view(view)
        stmt = sa.select(_E).order_by(_E.c.id)
        if view == "active":
            stmt = stmt.where(_E.c.deleted_at.is_(None))
        elif view == "deleted":
            stmt = stmt.where(_E.c.deleted_at.is_not(None))
        with self.db.read() as conn:
            return _with_tags(conn, conn.execute(stmt).all())

    def set_experiment_tag(self, id_or_name: str, key: str, value: str) -> None:
        check_strings("experiment tag", {key: value})
        value = redact_secrets({key: value})[key]

        def write(conn: Connection) -> None:
            row = _find(conn, str(id_or_name))
            table = t.experiment_tags
            where = (table.c.experiment_id == row.id) & (table.c.key == key)
            if conn.execute(table.update().where(where).values(value=value)).rowcount == 0:
                conn.execute(table.insert().values(experiment_id=row.id, key=key, value=value))

        self.db.write(write)

    def delete_experiment(self, id_or_name: str, *, actor: str) -> Experiment:
        who = _actor(actor)
        now = now_ms()

        def delete(conn: Connection) -> Experiment:
            row = _find(conn, str(id_or_name))
            if row.name == DEFAULT_EXPERIMENT:
                raise InvalidInput(
                    f"the {DEFAULT_EXPERIMENT!r} experiment cannot be deleted: runs started "
                    "without an experiment go there; delete its runs instead "
                    "(cairn runs delete)"
                )
            if row.deleted_at is not None:
                raise InvalidInput(
                    f"experiment {row.name!r} is already deleted (by {row.deleted_by or '?'}); "
                    f"`cairn experiments restore {row.name}` brings it back"
                )
            conn.execute(
                _E.update()
                .where(_E.c.id == row.id, _E.c.deleted_at.is_(None))
                .values(deleted_at=now, deleted_by=who)
            )
            return _with_tags(conn, [_find(conn, str(row.id))])[0]

        return self.db.write(delete)

    def restore_experiment(self, id_or_name: str, *, actor: str) -> Experiment:
        _actor(actor)

        def restore(conn: Connection) -> Experiment:
            row = _find(conn, str(id_or_name))
            if row.deleted_at is None:
                raise InvalidInput(
                    f"experiment {row.name!r} is not deleted; nothing to restore "
                    "(`cairn experiments ls --deleted` lists deleted ones)"
                )
            conn.execute(
                _E.update().where(_E.c.id == row.id).values(deleted_at=None, deleted_by=None)
            )
            return _with_tags(conn, [_find(conn, str(row.id))])[0]

        return self.db.write(restore)


# -- helpers used by the run half ---------------------------------------------------------


def require_live_experiment(conn: Connection, experiment_id: int, given: str) -> None:
    """Inside a write: NotFound if there is no such experiment, InvalidInput if deleted."""
    row = conn.execute(_LIVE_CHECK, {"id": experiment_id}).first()
    if row is None:
        raise NotFound(
            f"no experiment with id {given!r}; create it first or pass the id from "
            "get_experiment(name)"
        )
    if row.deleted_at is not None:
        raise InvalidInput(
            f"experiment {row.name!r} is deleted and takes no new runs; restore it first "
            f"(cairn experiments restore {row.name})"
        )


def deleted_experiment_ids(conn: Connection) -> list[int]:
    """Ids of the soft-deleted experiments (a handful at most; read once per search)."""
    return list(conn.execute(sa.select(_E.c.id).where(_E.c.deleted_at.is_not(None))).scalars())


def experiment_exists(name: str, deleted: bool) -> AlreadyExists:
    if deleted:
        return AlreadyExists(
            f"experiment {name!r} already exists and is deleted; restore it with "
            f"`cairn experiments restore {name}` or choose another name"
        )
    return AlreadyExists(
        f"experiment {name!r} already exists; choose another name or use get_experiment({name!r})"
    )


def as_id(text: str) -> int | None:
    """An experiment id as stored, or None when ``text`` cannot be one."""
    if text.isascii() and text.isdigit() and int(text) <= INT64_MAX:
        return int(text)
    return None


def _find(conn: Connection, key: str) -> Any:
    """The experiment row with id ``key`` or, failing that, name ``key``."""
    row = None
    exp_id = as_id(key)
    if exp_id is not None:
        row = conn.execute(sa.select(_E).where(_E.c.id == exp_id)).first()
    if row is None:
        row = conn.execute(sa.select(_E).where(_E.c.name == key)).first()
    if row is None:
        raise NotFound(f"no experiment with id or name {key!r}; `cairn experiments ls` lists them")
    return row


def _with_tags(conn: Connection, rows: Any) -> list[Experiment]:
    rows = list(rows)
    tags: dict[int, dict[str, str]] = {}
    if rows:
        table = t.experiment_tags
        query = sa.select(table).order_by(table.c.experiment_id, table.c.key)
        if len(rows) < 500:
            query = query.where(table.c.experiment_id.in_([r.id for r in rows]))
        for tag in conn.execute(query):
            tags.setdefault(tag.experiment_id, {})[tag.key] = tag.value
    return [
        Experiment(
            str(r.id),
            r.name,
            r.created_at,
            r.description,
            tags.get(r.id, {}),
            r.deleted_at,
            r.deleted_by,
        )
        for r in rows
    ]


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or len(actor) > 255:
        raise InvalidInput(f"actor must be a string of at most 255 characters: {actor!r}")
    return actor
