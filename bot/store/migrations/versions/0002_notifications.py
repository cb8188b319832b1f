"""Grouped failure notifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Was step 2 of fpbot's hand-written migrations (``schema_version`` 2, commit b81c83c).
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(64)),
        sa.Column("ts", sa.String(64)),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_at", UTCDateTime, nullable=False),
        sa.Column("last_at", UTCDateTime, nullable=False),
    )
