"""Access: users, API tokens (stored as digests), grants per resource, the audit log.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_USER = sa.String(128)
_RESOURCE = sa.String(250)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", _USER, primary_key=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user", _USER, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("label", sa.String(128), nullable=False, server_default=""),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user"])
    op.create_table(
        "grants",
        sa.Column("user", _USER, sa.ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", _RESOURCE, primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("granted_by", _USER, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_grants_resource", "grants", ["kind", "name"])
    op.create_table(
        "audit_log",
        sa.Column("seq", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("user", _USER, nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False, server_default=""),
        sa.Column("operation", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("resource", _RESOURCE, nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_user", "audit_log", ["user"])
    op.create_index("ix_audit_log_resource", "audit_log", ["kind", "resource"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("grants")
    op.drop_table("api_tokens")
    op.drop_table("users")
