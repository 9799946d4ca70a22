"""Experiment lifecycle: soft-deleted experiments (deleted_at, deleted_by) and their tags.

Existing experiments stay as they are: both new columns are NULL, which means "not
deleted", and they have no tags.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without a default: both databases add them without a rewrite.
    op.add_column("experiments", sa.Column("deleted_at", sa.BigInteger, nullable=True))
    op.add_column("experiments", sa.Column("deleted_by", sa.String(255), nullable=True))
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("experiment_tags")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
