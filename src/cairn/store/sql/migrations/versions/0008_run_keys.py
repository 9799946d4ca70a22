"""Run keys: an integer surrogate key on runs, referenced by everything recorded on a run.

``runs`` gains ``run_key`` (its primary key; SQLite's rowid) and keeps ``id`` as a unique
column. ``params``, ``tags``, ``metrics``, ``latest_metrics`` and ``run_io`` reference
``runs.run_key`` instead of ``runs.id``: a search then joins and probes on integers, with
index entries of a few bytes instead of 33. ``runs.parent_id`` and ``run_events`` keep
the run's id (the events outlive a purged run).

Every table is rebuilt under a new name, filled from the old one, and renamed into place,
in the one transaction the upgrade runs in: a failure leaves the database at 0007 as it
was. Rows keep their order and metric points their ids; a row recorded on a run that no
longer exists (possible only where foreign keys were not enforced) has nothing to point
at and is not carried over.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.schema import SchemaItem

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CHILDREN = ("params", "tags", "metrics", "latest_metrics", "run_io")
_DELETED = sa.text("deleted_at IS NOT NULL")


def _runs_columns(keyed: bool, table: str) -> list[SchemaItem]:
    """The columns of ``runs``; with ``keyed``, led by ``run_key`` (0008) or not (0007)."""
    first: list[SchemaItem] = (
        [
            sa.Column("run_key", _BIG_ID, primary_key=True, autoincrement=True),
            sa.Column("id", sa.String(32), nullable=False),
        ]
        if keyed
        else [sa.Column("id", sa.String(32), primary_key=True)]
    )
    rest: list[SchemaItem] = [
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column(
            "parent_id",
            sa.String(32),
            sa.ForeignKey(f"{table}.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("git_dirty", sa.Boolean, nullable=True),
        sa.Column("python_version", sa.String(64), nullable=False, server_default=""),
        sa.Column("packages", sa.Text, nullable=False, server_default="{}"),
        sa.Column("host", sa.String(255), nullable=False, server_default=""),
        sa.Column("user", sa.String(255), nullable=False, server_default=""),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
        sa.Column("deleted_by", sa.String(255), nullable=True),
    ]
    unique: list[SchemaItem] = [sa.UniqueConstraint("id", name="uq_runs_id")] if keyed else []
    return first + rest + unique


def _run_ref(keyed: bool, runs: str, *, primary_key: bool) -> sa.Column[Any]:
    kind: sa.types.TypeEngine[Any]
    if keyed:
        name, kind, target = "run_key", sa.BigInteger(), f"{runs}.run_key"
    else:
        name, kind, target = "run_id", sa.String(32), f"{runs}.id"
    fk = sa.ForeignKey(target, ondelete="CASCADE")
    return sa.Column(name, kind, fk, primary_key=primary_key, nullable=False)


def _child_columns(keyed: bool, runs: str) -> dict[str, Callable[[], list[sa.Column[Any]]]]:
    def keyed_values() -> list[sa.Column[Any]]:
        return [
            _run_ref(keyed, runs, primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        ]

    return {
        "params": keyed_values,
        "tags": keyed_values,
        "metrics": lambda: [
            sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
            _run_ref(keyed, runs, primary_key=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Double, nullable=True),
            sa.Column("step", sa.BigInteger, nullable=False),
            sa.Column("timestamp", sa.BigInteger, nullable=False),
        ],
        "latest_metrics": lambda: [
            _run_ref(keyed, runs, primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Double, nullable=True),
            sa.Column("step", sa.BigInteger, nullable=False),
            sa.Column("timestamp", sa.BigInteger, nullable=False),
        ],
        "run_io": lambda: [
            _run_ref(keyed, runs, primary_key=True),
            sa.Column("direction", sa.String(8), primary_key=True),
            sa.Column("name", sa.String(500), primary_key=True),
            sa.Column("role", sa.String(250), nullable=False),
            sa.Column("digest", sa.String(128), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
        ],
    }


def _indexes(keyed: bool) -> None:
    ref = "run_key" if keyed else "run_id"
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time", "id"])
    op.create_index("ix_runs_start_time", "runs", ["start_time", "id"])
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])
    op.create_index(
        "ix_runs_deleted", "runs", ["deleted_at"], sqlite_where=_DELETED, postgresql_where=_DELETED
    )
    op.create_index("ix_params_key", "params", ["key"])
    op.create_index("ix_tags_key", "tags", ["key"])
    op.create_index("ix_metrics_run_key_step", "metrics", [ref, "key", "step"])
    value_index = ["key", "value", "run_key"] if keyed else ["key", "value"]
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", value_index)
    op.create_index("ix_run_io_digest", "run_io", ["digest"])


def _rebuild(keyed: bool) -> None:
    """Rebuild runs and the tables recorded on runs, keyed by ``run_key`` or by ``run_id``.

    New tables are created as ``*_new`` (the children referencing ``runs_new``), filled
    from the old ones, the old ones dropped (children first, so dropping ``runs`` cascades
    into nothing), and the new ones renamed: SQLite and PostgreSQL both carry the foreign
    keys over to the renamed ``runs``.
    """
    dialect = op.get_bind().dialect.name
    runs_columns = [
        "id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id",
        "git_commit", "git_dirty", "python_version", "packages", "host", "user",
        "deleted_at", "deleted_by",
    ]  # fmt: skip
    quoted = ", ".join(f'"{c}"' for c in runs_columns)
    op.create_table("runs_new", *_runs_columns(keyed, "runs_new"))
    # Oldest first, so keys follow the order runs were recorded in. Parents come before
    # their children that way, and the foreign key on parent_id is checked per statement.
    order = "rowid" if dialect == "sqlite" else "start_time, id"
    op.execute(f"INSERT INTO runs_new ({quoted}) SELECT {quoted} FROM runs ORDER BY {order}")
    children = _child_columns(keyed, "runs_new")
    for table in _CHILDREN:
        op.create_table(f"{table}_new", *children[table](), sqlite_with_rowid=table == "metrics")
        columns = [c.name for c in children[table]() if c.name not in ("run_key", "run_id")]
        names = ", ".join(f'"{c}"' for c in columns)
        picked = ", ".join(f'c."{c}"' for c in columns)
        if keyed:  # the run's new key, found by the id the row holds
            ref, source, join = "run_key", "r.run_key", "runs_new AS r ON r.id = c.run_id"
        else:  # the run's id, found by the key the row holds
            ref, source, join = "run_id", "r.id", "runs AS r ON r.run_key = c.run_key"
        op.execute(
            f"INSERT INTO {table}_new ({ref}, {names}) SELECT {source}, {picked} "
            f"FROM {table} AS c JOIN {join}" + (" ORDER BY c.id" if table == "metrics" else "")
        )
    for table in _CHILDREN:
        op.drop_table(table)
    op.drop_table("runs")
    op.rename_table("runs_new", "runs")
    for table in _CHILDREN:
        op.rename_table(f"{table}_new", table)
    if dialect == "postgresql":
        # Renaming a table keeps the names derived from the old one; a database made by
        # this migration should read like one created at this revision.
        ref = "run_key" if keyed else "run_id"
        renamed = [(table, "pkey") for table in ("runs", *_CHILDREN)]
        renamed += [("runs", "experiment_id_fkey"), ("runs", "parent_id_fkey")]
        renamed += [(table, f"{ref}_fkey") for table in _CHILDREN]
        for table, suffix in renamed:
            op.execute(
                f"ALTER TABLE {table} RENAME CONSTRAINT {table}_new_{suffix} TO {table}_{suffix}"
            )
        for table, column in (("runs", "run_key"), ("metrics", "id")):
            if table == "runs" and not keyed:
                continue
            op.execute(f"ALTER SEQUENCE {table}_new_{column}_seq RENAME TO {table}_{column}_seq")
        # Metric points kept their ids: the sequence continues after the highest.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('metrics', 'id'), "
            "COALESCE((SELECT MAX(id) FROM metrics), 0) + 1, false)"
        )
    _indexes(keyed)


def upgrade() -> None:
    _rebuild(keyed=True)


def downgrade() -> None:
    _rebuild(keyed=False)
