"""Schedule tables (SQLAlchemy Core): schedules and their firings.

The Alembic migration ``0006_schedules`` creates the same tables. A firing is claimed by
inserting its ``(schedule, fire_key)`` row in the transaction that also advances the
schedule's ``last_fire_time`` (or ``last_dataset_version``): the primary key is what
makes two schedulers on one database start a slot once, and locking the ``schedules``
row in that transaction (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write
transactions are serialized already) is what keeps two firings of one schedule from
running at once.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

NAME = sa.String(128)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("pipeline", sa.Text, nullable=False),
    sa.Column("cron", sa.String(128), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("dataset", NAME, nullable=True),
    sa.Column("dataset_param", sa.String(128), nullable=False, server_default="dataset"),
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),  # JSON {str: str}
    sa.Column("executor", sa.String(64), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False, server_default=""),
    sa.Column("last_fire_time", sa.BigInteger, nullable=False),
    sa.Column("last_dataset_version", sa.Integer, nullable=True),
)

schedule_firings = sa.Table(
    "schedule_firings",
    metadata,
    sa.Column(
        "schedule", NAME, sa.ForeignKey("schedules.name", ondelete="CASCADE"), primary_key=True
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
    sa.Index("ix_schedule_firings_state", "state"),
)
