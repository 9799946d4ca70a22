"""SQL implementation of :class:`~cairn.store.registry.RegistryStore`.

Writes that depend on what is there (numbering a version, moving an alias, archiving)
first lock the model's ``registered_models`` row: ``SELECT ... FOR UPDATE`` on
PostgreSQL, while on SQLite every write transaction already holds the database lock
(``BEGIN IMMEDIATE``). So two processes promoting the same alias are serialized; each
reads the alias *after* the other's commit, and the history rows they write carry
increasing ``seq`` values in commit order. The state change and its history row are one
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.errors import AlreadyExists, InvalidInput, NotFound, StoreError
from cairn.store.redaction import redact_secrets
from cairn.store.registry import (
    AliasAction,
    AliasEvent,
    GateResult,
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    VersionStatus,
    check_alias,
    check_model_name,
)
from cairn.store.sql import tables_registry as t
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

_STATUSES = ("READY", "ARCHIVED")


class SqlRegistryStore:
    """Registered models, versions, aliases and gate results in one SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    # -- models ------------------------------------------------------------------------

    def create_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        check_model_name(name)

        def fn(conn: Connection) -> None:
            if self._model_row(conn, name, lock=False) is not None:
                raise AlreadyExists(f"model {name!r} is already registered")
            self._insert_model(conn, name, description, dict(tags or {}))

        self.db.write(fn)
        return self.get_model(name)

    def get_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._model_row(conn, name, lock=False)
            if row is None:
                raise _unknown_model(conn, name)
            return self._model(conn, row)

    def list_models(self) -> list[RegisteredModel]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.registered_models).order_by(t.registered_models.c.name))
            return [self._model(conn, row) for row in rows.mappings().all()]

    def update_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        def fn(conn: Connection) -> None:
            row = self._model_row(conn, name, lock=True)
            if row is None:
                raise _unknown_model(conn, name)
            values: dict[str, Any] = {"updated_at": now_ms()}
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = _merge_tags(row["tags"], tags)
            conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == name)
                .values(**values)
            )

        self.db.write(fn)
        return self.get_model(name)

    # -- versions ----------------------------------------------------------------------

    def create_version(self, new: NewModelVersion) -> ModelVersion:
        check_model_name(new.name)

        def fn(conn: Connection) -> int:
            row = self._model_row(conn, new.name, lock=True)
            if row is None:
                self._insert_model(conn, new.name, "", {})
                number = 1
            else:
                number = int(row["next_version"])
            now = now_ms()
            conn.execute(
                t.model_versions.insert().values(
                    name=new.name,
                    version=number,
                    digest=new.digest,
                    flavor=new.flavor,
                    source=new.source,
                    run_id=new.run_id,
                    size=new.size,
                    status="READY",
                    description=new.description,
                    tags=json.dumps(redact_secrets(new.tags), sort_keys=True),
                    created_by=new.created_by,
                    created_at=now,
                )
            )
            conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == new.name)
                .values(next_version=number + 1, updated_at=now)
            )
            return number

        number = self.db.write(fn)
        return self.get_version(new.name, number)

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self.db.read() as conn:
            return self._version(conn, name, version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        with self.db.read() as conn:
            if self._model_row(conn, name, lock=False) is None:
                raise _unknown_model(conn, name)
            aliases = self._aliases(conn, name)
            rows = conn.execute(
                sa.select(t.model_versions)
                .where(t.model_versions.c.name == name)
                .order_by(t.model_versions.c.version)
            ).mappings()
            return [_version(row, aliases) for row in rows]

    def update_version(
        self,
        name: str,
        version: int,
        *,
        status: VersionStatus | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        if status is not None and status not in _STATUSES:
            raise InvalidInput(f"unknown version status {status!r}; use one of {_STATUSES}")

        def fn(conn: Connection) -> None:
            if self._model_row(conn, name, lock=True) is None:
                raise _unknown_model(conn, name)
            current = self._version(conn, name, version)
            if status == "ARCHIVED" and current.aliases:
                held = ", ".join(current.aliases)
                raise InvalidInput(
                    f"cannot archive {name}/{version}: alias {held} points at it; "
                    "promote another version to that alias first"
                )
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = status
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = _merge_tags(json.dumps(dict(current.tags)), tags)
            if values:
                conn.execute(
                    t.model_versions.update()
                    .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
                    .values(**values)
                )

        self.db.write(fn)
        return self.get_version(name, version)

    # -- aliases -----------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str = "",
        reason: str = "",
        action: AliasAction = "promote",
        expected: int | Literal["any"] | None = "any",
    ) -> AliasEvent:
        check_alias(alias)

        def fn(conn: Connection) -> int:
            if self._model_row(conn, name, lock=True) is None:
                raise _unknown_model(conn, name)
            current = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if expected != "any" and current != expected:
                raise StoreError(
                    f"alias {alias!r} of {name} moved to {current} while this change was "
                    f"prepared (expected {expected}); retry"
                )
            now = now_ms()
            if version is None:
                if current is None:
                    raise NotFound(f"model {name!r} has no alias {alias!r}")
                conn.execute(
                    t.model_aliases.delete().where(
                        t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                    )
                )
            else:
                target = self._version(conn, name, version)
                if target.status == "ARCHIVED":
                    raise InvalidInput(
                        f"{name}/{version} is archived; an alias cannot point at it "
                        f"(restore it with `cairn models archive {name} {version} --restore`)"
                    )
                if current is None:
                    conn.execute(
                        t.model_aliases.insert().values(
                            name=name, alias=alias, version=version, updated_at=now
                        )
                    )
                else:
                    conn.execute(
                        t.model_aliases.update()
                        .where(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
                        .values(version=version, updated_at=now)
                    )
            result = conn.execute(
                t.alias_events.insert().values(
                    name=name,
                    alias=alias,
                    from_version=current,
                    to_version=version,
                    action=action if version is not None else "remove",
                    actor=actor,
                    reason=reason,
                    created_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        seq = self.db.write(fn)
        with self.db.read() as conn:
            row = (
                conn.execute(sa.select(t.alias_events).where(t.alias_events.c.seq == seq))
                .mappings()
                .one()
            )
            return _event(row)

    def get_alias(self, name: str, alias: str) -> int | None:
        with self.db.read() as conn:
            value = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            return None if value is None else int(value)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        with self.db.read() as conn:
            if self._model_row(conn, name, lock=False) is None:
                raise _unknown_model(conn, name)
            query = sa.select(t.alias_events).where(t.alias_events.c.name == name)
            if alias is not None:
                query = query.where(t.alias_events.c.alias == alias)
            rows = conn.execute(query.order_by(t.alias_events.c.seq)).mappings()
            return [_event(row) for row in rows]

    # -- gates -------------------------------------------------------------------------

    def record_gate_result(self, result: GateResult) -> GateResult:
        created = result.created_at or now_ms()

        def fn(conn: Connection) -> int:
            self._version(conn, result.name, result.version)
            inserted = conn.execute(
                t.gate_results.insert().values(
                    name=result.name,
                    version=result.version,
                    passed=result.passed,
                    rules=json.dumps([dict(r) for r in result.rules], default=str),
                    data=result.data,
                    against=result.against,
                    gates_file=result.gates_file,
                    actor=result.actor,
                    created_at=created,
                )
            )
            return int(inserted.inserted_primary_key[0])  # type: ignore[index]

        new_id = self.db.write(fn)
        with self.db.read() as conn:
            row = (
                conn.execute(sa.select(t.gate_results).where(t.gate_results.c.id == new_id))
                .mappings()
                .one()
            )
            return _gate(row)

    def gate_results(self, name: str, version: int) -> list[GateResult]:
        with self.db.read() as conn:
            self._version(conn, name, version)
            rows = conn.execute(
                sa.select(t.gate_results)
                .where(t.gate_results.c.name == name, t.gate_results.c.version == version)
                .order_by(t.gate_results.c.id)
            ).mappings()
            return [_gate(row) for row in rows]

    def referenced_digests(self) -> Iterator[str]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.model_versions.c.digest).distinct()).scalars().all()
        yield from rows

    # -- helpers -----------------------------------------------------------------------

    def _model_row(self, conn: Connection, name: str, *, lock: bool) -> Any:
        query = sa.select(t.registered_models).where(t.registered_models.c.name == name)
        if lock and self.db.dialect == "postgresql":
            query = query.with_for_update()
        return conn.execute(query).mappings().first()

    def _insert_model(
        self, conn: Connection, name: str, description: str, tags: dict[str, str]
    ) -> None:
        now = now_ms()
        conn.execute(
            t.registered_models.insert().values(
                name=name,
                description=description,
                tags=json.dumps(redact_secrets(tags), sort_keys=True),
                next_version=1,
                created_at=now,
                updated_at=now,
            )
        )

    def _aliases(self, conn: Connection, name: str) -> dict[str, int]:
        rows = conn.execute(
            sa.select(t.model_aliases.c.alias, t.model_aliases.c.version)
            .where(t.model_aliases.c.name == name)
            .order_by(t.model_aliases.c.alias)
        )
        return {alias: int(version) for alias, version in rows}

    def _model(self, conn: Connection, row: Any) -> RegisteredModel:
        latest = conn.execute(
            sa.select(sa.func.max(t.model_versions.c.version)).where(
                t.model_versions.c.name == row["name"]
            )
        ).scalar()
        return RegisteredModel(
            name=row["name"],
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            description=row["description"],
            tags=json.loads(row["tags"]),
            aliases=self._aliases(conn, row["name"]),
            latest_version=None if latest is None else int(latest),
        )

    def _version(self, conn: Connection, name: str, version: int) -> ModelVersion:
        row = (
            conn.execute(
                sa.select(t.model_versions).where(
                    t.model_versions.c.name == name, t.model_versions.c.version == version
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            if self._model_row(conn, name, lock=False) is None:
                raise _unknown_model(conn, name)
            raise NotFound(f"model {name!r} has no version {version}")
        return _version(row, self._aliases(conn, name))


def _unknown_model(conn: Connection, name: str) -> NotFound:
    names = conn.execute(sa.select(t.registered_models.c.name).limit(20)).scalars().all()
    hint = f"; registered: {', '.join(names)}" if names else "; none is registered yet"
    return NotFound(f"no registered model named {name!r}{hint}")


def _merge_tags(stored: str, changes: Mapping[str, str]) -> str:
    tags: dict[str, str] = json.loads(stored)
    for key, value in redact_secrets(changes).items():
        if value == "":
            tags.pop(key, None)
        else:
            tags[key] = value
    return json.dumps(tags, sort_keys=True)


def _version(row: Any, aliases: Mapping[str, int]) -> ModelVersion:
    number = int(row["version"])
    return ModelVersion(
        name=row["name"],
        version=number,
        digest=row["digest"],
        flavor=row["flavor"],
        created_at=int(row["created_at"]),
        source=row["source"],
        run_id=row["run_id"],
        size=int(row["size"]),
        status=row["status"],
        description=row["description"],
        tags=json.loads(row["tags"]),
        created_by=row["created_by"],
        aliases=tuple(sorted(a for a, v in aliases.items() if v == number)),
    )


def _event(row: Any) -> AliasEvent:
    return AliasEvent(
        seq=int(row["seq"]),
        name=row["name"],
        alias=row["alias"],
        from_version=row["from_version"],
        to_version=row["to_version"],
        action=row["action"],
        actor=row["actor"],
        reason=row["reason"],
        created_at=int(row["created_at"]),
    )


def _gate(row: Any) -> GateResult:
    return GateResult(
        id=int(row["id"]),
        name=row["name"],
        version=int(row["version"]),
        passed=bool(row["passed"]),
        rules=tuple(json.loads(row["rules"])),
        data=row["data"],
        against=row["against"],
        gates_file=row["gates_file"],
        actor=row["actor"],
        created_at=int(row["created_at"]),
    )
