"""Server tables (SQLAlchemy Core): the idempotency keys of ``cairn server`` writes.

The Alembic migration ``0011_idempotency_keys`` creates the same table. A keyed write
inserts its key in the same transaction as the change (see
:mod:`cairn.store.sql.idempotency`); the primary key makes a second attempt of the same
request fail before it changes anything.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("operation", sa.String(128), nullable=False),
    sa.Column("request_digest", sa.String(64), nullable=False),
    # NULL while the change is committed but its answer is not yet recorded.
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)
