"""Pipeline tables (SQLAlchemy Core): runs, their steps' states, and the step cache.

The Alembic migration ``0005_pipelines`` creates the same tables.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(32)
KEY = sa.String(128)

pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("run_id", ID, primary_key=True),
    sa.Column("pipeline", sa.String(255), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("executor", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("resumed_from", ID, nullable=True),
    sa.Index("ix_pipeline_runs_pipeline", "pipeline", "created_at"),
)

pipeline_steps = sa.Table(
    "pipeline_steps",
    metadata,
    sa.Column("run_id", ID, primary_key=True),
    sa.Column("step", sa.String(255), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("cache_key", KEY, nullable=False, server_default=""),
    sa.Column("components", sa.Text, nullable=False, server_default="{}"),
    sa.Column("outputs", sa.Text, nullable=False, server_default="[]"),
    sa.Column("step_run_id", ID, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duration_ms", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

pipeline_cache = sa.Table(
    "pipeline_cache",
    metadata,
    sa.Column("cache_key", KEY, primary_key=True),
    sa.Column("step", sa.String(255), nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("step_run_id", ID, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_pipeline_cache_step", "step", "created_at"),
)
