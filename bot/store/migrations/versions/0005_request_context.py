"""What a request needs to be decided on and followed up in Slack.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The requester's reason and the decider's note, the environment the change touches (its
approval route; its name for the card) and what it targets (one pending request per action
and target), the reminders posted so far, and Slack's refusal when the card could not be
posted. Every column is nullable or has a default, so existing rows stay valid as they are.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("reason", sa.Text))
    op.add_column("change_requests", sa.Column("decision_note", sa.Text))
    op.add_column("change_requests", sa.Column("environment", sa.String(128)))
    op.add_column("change_requests", sa.Column("environment_name", sa.String(300)))
    op.add_column("change_requests", sa.Column("target", sa.String(512)))
    op.add_column(
        "change_requests",
        sa.Column("reminders_sent", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column("change_requests", sa.Column("reminded_at", UTCDateTime))
    op.add_column("change_requests", sa.Column("card_error", sa.String(128)))
    op.create_index("ix_change_requests_target", "change_requests", ["target"])
