"""Dataset tables (SQLAlchemy Core): dataset names and their numbered versions.

The Alembic migration ``0002_datasets`` creates the same tables. A dataset row exists so
that version numbering can lock one row per name (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are serialized already) and so that numbers are
never reused after a version is deleted (``next_version``).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

NAME = sa.String(128)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("next_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("name", NAME, sa.ForeignKey("datasets.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("file_count", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=True),
    sa.Column("columns", sa.Text, nullable=False, server_default="[]"),  # JSON [[name, dtype]]
    sa.Column("profile_digest", sa.String(128), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("created_by", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_dataset_versions_digest", "digest"),
    sa.Index("ix_dataset_versions_profile_digest", "profile_digest"),
)
