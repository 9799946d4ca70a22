"""Access tables (SQLAlchemy Core): users, API tokens, grants and the audit log.

The Alembic migration ``0009_access`` creates the same tables. A token row holds the
digest of the secret, never the secret. The audit log is append-only; its entries name
users and resources by name (not by foreign key) so they outlive what they describe.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

USER = sa.String(128)
RESOURCE = sa.String(250)
# SQLite only auto-increments an "INTEGER PRIMARY KEY" (an alias of the rowid).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", USER, primary_key=True),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user", USER, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("label", sa.String(128), nullable=False, server_default=""),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Index("ix_api_tokens_user", "user"),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("user", USER, sa.ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", RESOURCE, primary_key=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("granted_by", USER, nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_grants_resource", "kind", "name"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("user", USER, nullable=False),
    sa.Column("token_id", sa.String(32), nullable=False, server_default=""),
    sa.Column("operation", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("resource", RESOURCE, nullable=False, server_default=""),
    sa.Column("address", sa.String(64), nullable=False, server_default=""),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_user", "user"),
    sa.Index("ix_audit_log_resource", "kind", "resource"),
)
