"""Tracking: experiments, runs, params, tags, metric points, latest metrics, lineage.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_id(*, primary_key: bool) -> sa.Column[str]:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column(
            "parent_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("git_dirty", sa.Boolean, nullable=True),
        sa.Column("python_version", sa.String(64), nullable=False, server_default=""),
        sa.Column("packages", sa.Text, nullable=False, server_default="{}"),
        sa.Column("host", sa.String(255), nullable=False, server_default=""),
        sa.Column("user", sa.String(255), nullable=False, server_default=""),
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time", "id"])
    op.create_index("ix_runs_start_time", "runs", ["start_time", "id"])
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])

    for name in ("params", "tags"):
        op.create_table(
            name,
            _run_id(primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{name}_key", name, ["key"])

    op.create_table(
        "metrics",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        _run_id(primary_key=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])

    op.create_table(
        "latest_metrics",
        _run_id(primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])

    op.create_table(
        "run_io",
        _run_id(primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("role", sa.String(250), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_run_io_digest", "run_io", ["digest"])


def downgrade() -> None:
    for name in ("run_io", "latest_metrics", "metrics", "tags", "params", "runs", "experiments"):
        op.drop_table(name)
