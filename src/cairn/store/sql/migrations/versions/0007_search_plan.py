"""Search plan: the index on runs.deleted_at holds only soft-deleted runs.

A full index on ``deleted_at`` made SQLite answer every search of live runs
(``deleted_at IS NULL``, almost every row) by walking that index and sorting all runs,
instead of probing the runs a filter matched or reading the ``start_time`` index in
order: 3-4x slower on 10,000 runs. A partial index on the soft-deleted runs still serves
``view="deleted"`` and gc, and the planner can no longer pick it for live runs.
No data changes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_DELETED = sa.text("deleted_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_runs_deleted_at", table_name="runs")
    op.create_index(
        "ix_runs_deleted",
        "runs",
        ["deleted_at"],
        sqlite_where=_DELETED,
        postgresql_where=_DELETED,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_deleted", table_name="runs")
    op.create_index("ix_runs_deleted_at", "runs", ["deleted_at"])
