"""Run lifecycle: soft-deleted runs (deleted_at, deleted_by) and the run_events history.

Existing runs stay as they are: both new columns are NULL, which means "not deleted".

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns without a default: SQLite's ALTER TABLE ADD COLUMN and
    # PostgreSQL's both add them without rewriting the table.
    op.add_column("runs", sa.Column("deleted_at", sa.BigInteger, nullable=True))
    op.add_column("runs", sa.Column("deleted_by", sa.String(255), nullable=True))
    op.create_index("ix_runs_deleted_at", "runs", ["deleted_at"])
    op.create_table(
        "run_events",
        sa.Column("seq", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_run_events_run_id", "run_events", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_run_events_run_id", table_name="run_events")
    op.drop_table("run_events")
    op.drop_index("ix_runs_deleted_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
