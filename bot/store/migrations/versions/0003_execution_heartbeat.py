"""A lease on executing requests, renewed by a heartbeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Was step 3 of fpbot's hand-written migrations (``schema_version`` 3, commit 1da9819).
A nullable column without a default is one ``ALTER TABLE … ADD COLUMN`` on both databases
and leaves every existing row as it was (NULL: the sweeper then goes by
``executing_since``).
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("heartbeat_at", UTCDateTime))
