"""Schedules: pipelines started by cron expressions or new dataset versions, and the
firings that claimed each slot.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_NAME = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("pipeline", sa.Text, nullable=False),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("dataset", _NAME, nullable=True),
        sa.Column("dataset_param", sa.String(128), nullable=False, server_default="dataset"),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("executor", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False, server_default=""),
        sa.Column("last_fire_time", sa.BigInteger, nullable=False),
        sa.Column("last_dataset_version", sa.Integer, nullable=True),
    )
    op.create_table(
        "schedule_firings",
        sa.Column(
            "schedule",
            _NAME,
            sa.ForeignKey("schedules.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("fire_key", sa.String(255), primary_key=True),
        sa.Column("fire_time", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_schedule_firings_state", "schedule_firings", ["state"])


def downgrade() -> None:
    op.drop_index("ix_schedule_firings_state", table_name="schedule_firings")
    op.drop_table("schedule_firings")
    op.drop_table("schedules")
