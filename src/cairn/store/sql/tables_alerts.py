"""Alert tables (SQLAlchemy Core): rule states, alerts, their actions, workspace secrets.

The Alembic migration ``0010_monitor_alerts`` creates the same tables. The unique
``(rule, model, episode)`` of ``monitor_alerts`` is what keeps two monitors (or one
restarted) from raising one episode twice.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

NAME = sa.String(128)
MODEL = sa.String(255)

monitor_rule_state = sa.Table(
    "monitor_rule_state",
    metadata,
    sa.Column("rule", NAME, primary_key=True),
    sa.Column("model", MODEL, primary_key=True),
    sa.Column("firing", sa.Boolean, nullable=False),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("last_fired_ms", sa.BigInteger, nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("rule", NAME, nullable=False),
    sa.Column("model", MODEL, nullable=False),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("version", sa.String(64), nullable=False, server_default=""),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("fired_ms", sa.BigInteger, nullable=False),
    sa.Column("resolved_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("rule", "model", "episode", name="uq_monitor_alerts_episode"),
    sa.Index("ix_monitor_alerts_fired", "fired_ms"),
)

monitor_actions = sa.Table(
    "monitor_actions",
    metadata,
    sa.Column(
        "alert_id",
        sa.String(64),
        sa.ForeignKey("monitor_alerts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("result", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_monitor_actions_state", "state"),
)

workspace_secrets = sa.Table(
    "workspace_secrets",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)
