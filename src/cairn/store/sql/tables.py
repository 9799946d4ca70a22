"""Tracking tables (SQLAlchemy Core): experiments, runs and what is recorded on runs.

This module describes the schema the code expects; the Alembic migrations
``0001_tracking``, ``0004_run_lifecycle``, ``0007_search_plan``, ``0008_run_keys`` and
``0012_experiment_lifecycle`` create the same tables and ``tests/store/test_migrations.py``
checks that the two agree. Other domains keep their tables in their own modules.

Times are integer milliseconds since the Unix epoch. A metric value of NULL stands for
NaN: SQLite cannot store NaN (it turns it into NULL), so both backends use NULL for it
and the store converts on the way in and out.

A run has two identifiers: ``id``, the 32-character hex id users see, and ``run_key``, an
integer surrogate key that every table recorded on runs references (0008). A search finds
runs and fetches what is recorded on them by comparing integers, not 32-character
strings, and each index entry is a few bytes instead of 33.

Tables keyed by (run_key, ...) are SQLite WITHOUT ROWID tables: rows are stored in key
order, so fetching everything recorded on a page of runs reads a few contiguous ranges.

Parameter and tag values are indexed by key only: PostgreSQL refuses B-tree entries
larger than about 2.7 kB, and values may be up to 6,000 characters.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only auto-increments an "INTEGER PRIMARY KEY" (an alias of the rowid).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

RUN_ID = sa.String(32)
KEY = sa.String(250)
VALUE = sa.Text()


def _run_key(*, primary_key: bool) -> sa.Column[int]:
    return sa.Column(
        "run_key",
        sa.BigInteger,
        sa.ForeignKey("runs.run_key", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # A soft-deleted experiment keeps its row, its tags and its runs (hidden from the
    # default listings and searches) until it is restored (0012).
    sa.Column("deleted_at", sa.BigInteger, nullable=True),
    sa.Column("deleted_by", sa.String(255), nullable=True),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", VALUE, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    # SQLite: INTEGER PRIMARY KEY, the rowid itself, so a probe by key is one B-tree search.
    sa.Column("run_key", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", RUN_ID, nullable=False),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("parent_id", RUN_ID, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("python_version", sa.String(64), nullable=False, server_default=""),
    sa.Column("packages", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("host", sa.String(255), nullable=False, server_default=""),
    sa.Column("user", sa.String(255), nullable=False, server_default=""),
    # A soft-deleted run keeps its row and everything recorded on it until gc purges it.
    sa.Column("deleted_at", sa.BigInteger, nullable=True),
    sa.Column("deleted_by", sa.String(255), nullable=True),
    # Search order is (start_time desc, id desc): these indexes hold it, so a page of an
    # experiment's runs is read in order from the index, without a sort.
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time", "id"),
    sa.Index("ix_runs_start_time", "start_time", "id"),
    sa.Index("ix_runs_parent_id", "parent_id"),
    sa.UniqueConstraint("id", name="uq_runs_id"),
    # Partial: only soft-deleted runs. A full index on a column that is NULL for almost
    # every run lured SQLite into walking it for every search of live runs (0007).
    sa.Index(
        "ix_runs_deleted",
        "deleted_at",
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    ),
)

params = sa.Table(
    "params",
    metadata,
    _run_key(primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", VALUE, nullable=False),
    sa.Index("ix_params_key", "key"),
    sqlite_with_rowid=False,
)

tags = sa.Table(
    "tags",
    metadata,
    _run_key(primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", VALUE, nullable=False),
    sa.Index("ix_tags_key", "key"),
    sqlite_with_rowid=False,
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _run_key(primary_key=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("value", sa.Double, nullable=True),  # NULL = NaN
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_key", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    _run_key(primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Double, nullable=True),  # NULL = NaN
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    # Covering on both backends: a metric filter reads the run keys from the index alone.
    sa.Index("ix_latest_metrics_key_value", "key", "value", "run_key"),
    sqlite_with_rowid=False,
)

run_io = sa.Table(
    "run_io",
    metadata,
    _run_key(primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("role", sa.String(250), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Index("ix_run_io_digest", "digest"),
    sqlite_with_rowid=False,
)

# Who deleted, restored or purged which run, and when. No foreign key, and the run's id
# rather than its key: the history of a run outlives its purge.
run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # delete | restore | purge
    sa.Column("actor", sa.String(255), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_run_events_run_id", "run_id", "seq"),
)
