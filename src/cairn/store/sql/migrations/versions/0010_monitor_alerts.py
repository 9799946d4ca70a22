"""Monitor alerts: rule states, alerts with their evidence, the actions they started,
and workspace secrets (the key that hashes prediction-log columns).

Revision ID: 0010
Revises: 0007 (re-chained after the migrations numbered before it when they merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision: never import the live table modules here.
_NAME = sa.String(128)
_MODEL = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "monitor_rule_state",
        sa.Column("rule", _NAME, primary_key=True),
        sa.Column("model", _MODEL, primary_key=True),
        sa.Column("firing", sa.Boolean, nullable=False),
        sa.Column("episode", sa.Integer, nullable=False),
        sa.Column("last_fired_ms", sa.BigInteger, nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule", _NAME, nullable=False),
        sa.Column("model", _MODEL, nullable=False),
        sa.Column("episode", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),
        sa.Column("fired_ms", sa.BigInteger, nullable=False),
        sa.Column("resolved_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("rule", "model", "episode", name="uq_monitor_alerts_episode"),
    )
    op.create_index("ix_monitor_alerts_fired", "monitor_alerts", ["fired_ms"])
    op.create_table(
        "monitor_actions",
        sa.Column(
            "alert_id",
            sa.String(64),
            sa.ForeignKey("monitor_alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("result", sa.Text, nullable=False, server_default="{}"),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_monitor_actions_state", "monitor_actions", ["state"])
    op.create_table(
        "workspace_secrets",
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workspace_secrets")
    op.drop_index("ix_monitor_actions_state", table_name="monitor_actions")
    op.drop_table("monitor_actions")
    op.drop_index("ix_monitor_alerts_fired", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_rule_state")
