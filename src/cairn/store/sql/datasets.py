"""The dataset store on SQL (SQLite or PostgreSQL).

See :class:`cairn.store.datasets.DatasetStore` for the contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.errors import NotFound
from cairn.store.datasets import (
    AddResult,
    DatasetSummary,
    DatasetVersion,
    NewVersion,
    check_name,
    version_from_row,
    version_row,
)
from cairn.store.sql.tables_datasets import dataset_versions as dv
from cairn.store.sql.tables_datasets import datasets as ds
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase


class SqlDatasetStore:
    """Dataset names and versions in the workspace's SQL database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def add_version(self, new: NewVersion) -> AddResult:
        check_name(new.name)

        def write(conn: Connection) -> AddResult:
            now = now_ms()
            next_version = self._lock_dataset(conn, new.name, now)
            latest_row = conn.execute(
                sa.select(dv).where(dv.c.name == new.name).order_by(dv.c.version.desc()).limit(1)
            ).first()
            latest = version_from_row(latest_row._mapping) if latest_row is not None else None
            if latest is not None and latest.digest == new.digest:
                return AddResult(version=latest, created=False, previous=latest)
            row = version_row(new, next_version, now)
            conn.execute(dv.insert().values(**row))
            conn.execute(
                ds.update().where(ds.c.name == new.name).values(next_version=next_version + 1)
            )
            return AddResult(version=version_from_row(row), created=True, previous=latest)

        return self.db.write(write)

    def _lock_dataset(self, conn: Connection, name: str, now: int) -> int:
        """Create the dataset row if needed and lock it; returns the next version number."""
        if self.db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(
                pg_insert(ds)
                .values(name=name, next_version=1, created_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            query = sa.select(ds.c.next_version).where(ds.c.name == name).with_for_update()
            return int(conn.execute(query).scalar_one())
        # SQLite: the write transaction began IMMEDIATE, so it holds the write lock.
        found = conn.execute(sa.select(ds.c.next_version).where(ds.c.name == name)).scalar()
        if found is None:
            conn.execute(ds.insert().values(name=name, next_version=1, created_at=now))
            return 1
        return int(found)

    def get_version(self, name: str, version: int | None = None) -> DatasetVersion:
        check_name(name)
        query = sa.select(dv).where(dv.c.name == name)
        if version is None:
            query = query.order_by(dv.c.version.desc()).limit(1)
        else:
            query = query.where(dv.c.version == version)
        with self.db.read() as conn:
            row = conn.execute(query).first()
            if row is not None:
                return version_from_row(row._mapping)
            known = (
                conn.execute(
                    sa.select(dv.c.version).where(dv.c.name == name).order_by(dv.c.version)
                )
                .scalars()
                .all()
            )
        if not known:
            raise NotFound(f"no dataset named {name!r}; `cairn data ls` lists the datasets")
        listed = ", ".join(f"v{v}" for v in known)
        raise NotFound(f"dataset {name!r} has no version v{version}; it has {listed}")

    def list_versions(self, name: str) -> list[DatasetVersion]:
        check_name(name)
        with self.db.read() as conn:
            rows = conn.execute(sa.select(dv).where(dv.c.name == name).order_by(dv.c.version)).all()
        if not rows:
            raise NotFound(f"no dataset named {name!r}; `cairn data ls` lists the datasets")
        return [version_from_row(r._mapping) for r in rows]

    def list_datasets(self) -> list[DatasetSummary]:
        counts = (
            sa.select(
                dv.c.name,
                sa.func.count().label("n"),
                sa.func.max(dv.c.version).label("latest"),
                sa.func.min(dv.c.created_at).label("first"),
            )
            .group_by(dv.c.name)
            .subquery()
        )
        query = (
            sa.select(dv, counts.c.n, counts.c.first)
            .join(counts, sa.and_(dv.c.name == counts.c.name, dv.c.version == counts.c.latest))
            .order_by(dv.c.name)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            DatasetSummary(
                name=r.name,
                versions=int(r.n),
                latest=version_from_row(r._mapping),
                created_at=int(r.first),
            )
            for r in rows
        ]

    def find_digest(self, digest: str) -> list[DatasetVersion]:
        query = (
            sa.select(dv)
            .where(sa.or_(dv.c.digest == digest, dv.c.profile_digest == digest))
            .order_by(dv.c.name, dv.c.version)
        )
        with self.db.read() as conn:
            return [version_from_row(r._mapping) for r in conn.execute(query)]

    def delete_version(self, name: str, version: int) -> None:
        check_name(name)

        def write(conn: Connection) -> None:
            done = conn.execute(dv.delete().where(dv.c.name == name, dv.c.version == version))
            if done.rowcount == 0:
                raise NotFound(f"dataset {name!r} has no version v{version}")

        self.db.write(write)

    def referenced_digests(self) -> Iterator[str]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(dv.c.digest, dv.c.profile_digest)).all()
        for digest, profile in rows:
            yield digest
            if profile:
                yield profile
