"""Slack payloads already handled, by trigger_id, so a replay is handled once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A new table, empty: nothing seen before this revision is remembered, and nothing needs to be
(a replay must arrive within Slack's five-minute window).
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "seen_triggers",
        sa.Column("trigger_id", sa.String(255), primary_key=True),
        sa.Column("seen_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_seen_triggers_seen_at", "seen_triggers", ["seen_at"])
