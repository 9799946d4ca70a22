"""Read an MLflow tracking database (SQLite or PostgreSQL) directly, without MLflow.

The tables read are MLflow's own (``experiments``, ``runs``, ``params``, ``tags``,
``metrics``, ``registered_models``, ``model_versions`` and their tags, aliases and, from
MLflow 3, ``logged_models``). Before anything is read the schema is checked: a database
that is not MLflow's, or whose revision lacks a column this reader needs, is refused with
the revision named, before a single record is imported.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cairn.errors import InvalidInput
from cairn.imports.common import (
    SourceExperiment,
    SourceLoggedModel,
    SourceModel,
    SourceRun,
    SourceVersion,
)
from cairn.imports.local import local_tree
from cairn.imports.mlflow_status import run_status
from cairn.types import Metric

#: table -> columns this reader needs; any MLflow schema since 2.x has them.
REQUIRED: dict[str, tuple[str, ...]] = {
    "experiments": ("experiment_id", "name", "lifecycle_stage"),
    "runs": (
        "run_uuid", "name", "status", "start_time", "end_time", "lifecycle_stage",
        "artifact_uri", "experiment_id",
    ),
    "params": ("key", "value", "run_uuid"),
    "tags": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
    "registered_models": ("name", "description"),
    "registered_model_tags": ("key", "value", "name"),
    "model_versions": (
        "name", "version", "source", "run_id", "current_stage", "description",
        "creation_time", "user_id",
    ),
    "model_version_tags": ("key", "value", "name", "version"),
}  # fmt: skip
PAGE = 500


class MlflowSqlSource:
    """An MLflow database at ``uri`` (``sqlite:///mlflow.db``, ``postgresql://...``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine = _engine(uri)
        try:
            self._check_schema()
        except BaseException:
            self.engine.dispose()
            raise

    def describe(self) -> str:
        """The URI as given, without its password (a SQLite engine's own URL is blank)."""
        try:
            return sa.engine.make_url(self.uri).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return self.uri

    def _check_schema(self) -> None:
        try:
            inspector = sa.inspect(self.engine)
            tables = set(inspector.get_table_names())
        except sa.exc.SQLAlchemyError as exc:
            raise InvalidInput(
                f"cannot read {self.describe()} as an MLflow database: "
                f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}"
            ) from None
        if "alembic_version" not in tables or not {"experiments", "runs"} <= tables:
            raise InvalidInput(
                f"{self.describe()} is not an MLflow tracking database (no MLflow "
                "experiments, runs and alembic_version tables); give the URI MLflow's "
                "--backend-store-uri points at"
            )
        with self.engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        for table, columns in REQUIRED.items():
            have = {c["name"] for c in inspector.get_columns(table)} if table in tables else set()
            missing = [c for c in columns if c not in have]
            if missing:
                raise InvalidInput(
                    f"MLflow schema revision {revision!r} of {self.describe()} is not one "
                    f"this importer knows: table {table} lacks {', '.join(missing)}; "
                    "upgrade it with `mlflow db upgrade` (MLflow 2 or 3) and import again"
                )
        self.has_aliases = "registered_model_aliases" in tables
        self.has_logged_models = "logged_models" in tables
        self.has_storage = "storage_location" in {
            c["name"] for c in inspector.get_columns("model_versions")
        }

    def close(self) -> None:
        self.engine.dispose()

    def open_tree(self, uri: str) -> contextlib.AbstractContextManager[Path | None]:
        return local_tree(uri)

    def _all(self, sql: str, **params: Any) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def experiments(self) -> list[SourceExperiment]:
        rows = self._all(
            "SELECT experiment_id, name, lifecycle_stage FROM experiments ORDER BY experiment_id"
        )
        tags: dict[str, dict[str, str]] = {}
        for exp_id, key, value in self._all(
            "SELECT experiment_id, key, value FROM experiment_tags ORDER BY experiment_id, key"
        ):
            tags.setdefault(str(exp_id), {})[key] = value or ""
        return [
            SourceExperiment.from_tags(str(r[0]), r[1], r[2] == "deleted", tags.get(str(r[0]), {}))
            for r in rows
        ]

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        """The experiment's runs, oldest first, read a page at a time with their params,
        tags and every metric point."""
        last = (-1, "")
        while True:
            rows = self._all(
                "SELECT run_uuid, name, status, start_time, end_time, lifecycle_stage, "
                "artifact_uri FROM runs WHERE experiment_id = :exp AND "
                "(start_time > :t OR (start_time = :t AND run_uuid > :id)) "
                "ORDER BY start_time, run_uuid LIMIT :n",
                exp=int(experiment_id),
                t=last[0],
                id=last[1],
                n=PAGE,
            )
            if not rows:
                return
            yield from self._hydrate(experiment_id, rows)
            last = (rows[-1][3] or 0, rows[-1][0])

    def _hydrate(self, experiment_id: str, rows: Sequence[Any]) -> Iterator[SourceRun]:
        ids = [r[0] for r in rows]
        bind: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
        params: dict[str, dict[str, str]] = defaultdict(dict)
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        points: dict[str, list[Metric]] = defaultdict(list)
        with self.engine.connect() as conn:
            for table, into in (("params", params), ("tags", tags)):
                sql = sa.text(f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN :ids")
                for rid, key, value in conn.execute(sql.bindparams(bind), {"ids": ids}):
                    into[rid][key] = value or ""
            sql = sa.text(
                "SELECT run_uuid, key, value, step, timestamp, is_nan FROM metrics "
                "WHERE run_uuid IN :ids ORDER BY run_uuid, key, step, timestamp"
            )
            for rid, key, value, step_, ts, is_nan in conn.execute(
                sql.bindparams(bind), {"ids": ids}
            ):
                v = float("nan") if is_nan else float(value)
                points[rid].append(Metric(key, v, int(step_ or 0), int(ts or 0)))
        for r in rows:
            yield SourceRun(
                id=r[0],
                experiment_id=experiment_id,
                name=r[1] or "",
                status=run_status(r[2]),
                start_time=int(r[3] or 0),
                end_time=None if r[4] is None else int(r[4]),
                deleted=r[5] == "deleted",
                params=params[r[0]],
                tags=tags[r[0]],
                metrics=tuple(points[r[0]]),
                artifact_uri=r[6] or "",
            )

    def logged_models(self, run: SourceRun) -> list[SourceLoggedModel]:
        if not self.has_logged_models:
            return []
        rows = self._all(
            "SELECT model_id, name, artifact_location FROM logged_models "
            "WHERE source_run_id = :rid AND (lifecycle_stage IS NULL OR "
            "lifecycle_stage != 'deleted') ORDER BY creation_timestamp_ms",
            rid=run.id,
        )
        return [SourceLoggedModel(r[0], r[1], r[2]) for r in rows]

    def logged_model_uri(self, model_id: str) -> str | None:
        if not self.has_logged_models:
            return None
        rows = self._all(
            "SELECT artifact_location FROM logged_models WHERE model_id = :m", m=model_id
        )
        return rows[0][0] if rows else None

    def models(self) -> list[SourceModel]:
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for name, key, value in self._all("SELECT name, key, value FROM registered_model_tags"):
            tags[name][key] = value or ""
        vtags: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for name, version, key, value in self._all(
            "SELECT name, version, key, value FROM model_version_tags"
        ):
            vtags[(name, int(version))][key] = value or ""
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        if self.has_aliases:
            for name, alias, version in self._all(
                "SELECT name, alias, version FROM registered_model_aliases"
            ):
                aliases[name][alias] = int(version)
        storage = "storage_location" if self.has_storage else "''"
        versions: dict[str, list[SourceVersion]] = defaultdict(list)
        for r in self._all(
            "SELECT name, version, source, run_id, current_stage, description, "
            f"creation_time, user_id, {storage} FROM model_versions "
            "WHERE current_stage IS NULL OR current_stage != 'Deleted_Internal' "
            "ORDER BY name, version"
        ):
            versions[r[0]].append(
                SourceVersion(
                    name=r[0],
                    version=int(r[1]),
                    source=r[2] or "",
                    run_id=r[3] or None,
                    stage=r[4] or "None",
                    description=r[5] or "",
                    tags=vtags[(r[0], int(r[1]))],
                    created_at=int(r[6] or 0),
                    user=r[7] or "",
                    storage_location=r[8] or "",
                )
            )
        return [
            SourceModel(name, desc or "", tags[name], aliases[name], tuple(versions[name]))
            for name, desc in self._all(
                "SELECT name, description FROM registered_models ORDER BY name"
            )
        ]


def _engine(uri: str) -> sa.Engine:
    if uri.startswith("sqlite:"):
        path = Path(uri.split(":///", 1)[1] if ":///" in uri else "")
        if not path.is_file():
            raise InvalidInput(
                f"{uri}: no such SQLite file; give the MLflow database, e.g. sqlite:///mlflow.db"
            )
        # Read-only: an import never writes to (or creates) the source database.
        target = f"file:{path.resolve()}?mode=ro"
        return sa.create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(target, uri=True, check_same_thread=False)
        )
    try:
        return sa.create_engine(uri, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InvalidInput(f"cannot open MLflow database {uri!r}: {exc}") from None
