"""Pipelines: pipeline runs, the states of their steps, and the step cache.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", _ID, primary_key=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("resumed_from", _ID, nullable=True),
    )
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline", "created_at"])
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", _ID, primary_key=True),
        sa.Column("step", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(128), nullable=False, server_default=""),
        sa.Column("components", sa.Text, nullable=False, server_default="{}"),
        sa.Column("outputs", sa.Text, nullable=False, server_default="[]"),
        sa.Column("step_run_id", _ID, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "pipeline_cache",
        sa.Column("cache_key", sa.String(128), primary_key=True),
        sa.Column("step", sa.String(255), nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("step_run_id", _ID, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_pipeline_cache_step", "pipeline_cache", ["step", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_pipeline_cache_step", table_name="pipeline_cache")
    op.drop_table("pipeline_cache")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_pipeline", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
