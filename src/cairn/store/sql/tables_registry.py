"""Registry tables (SQLAlchemy Core): models, versions, aliases, alias history, gates.

The Alembic migration ``0003_registry`` creates the same tables. The ``registered_models``
row is what concurrent writers lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
write transactions are serialized already): version numbering and alias moves of one
model therefore happen one at a time, and ``alias_events.seq`` gives their order.
Tags are JSON objects in a text column: they are shown, never searched.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

NAME = sa.String(128)
# SQLite only auto-increments an "INTEGER PRIMARY KEY" (an alias of the rowid).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.Text, nullable=False, server_default="{}"),
    sa.Column("next_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "name", NAME, sa.ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_by", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_model_versions_digest", "digest"),
    sa.Index("ix_model_versions_run_id", "run_id"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
)

alias_events = sa.Table(
    "alias_events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "name", NAME, sa.ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_alias_events_name_alias", "name", "alias", "seq"),
)

gate_results = sa.Table(
    "gate_results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("rules", sa.Text, nullable=False),  # JSON array
    sa.Column("data", sa.Text, nullable=False, server_default=""),
    sa.Column("against", sa.String(64), nullable=True),
    sa.Column("gates_file", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
    sa.Index("ix_gate_results_name_version", "name", "version"),
)
