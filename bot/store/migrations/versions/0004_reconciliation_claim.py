"""A sweeper's claim on a stale request it reconciles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Was step 4 of fpbot's hand-written migrations (``schema_version`` 4, commit 705de2e).
As in 0003: one nullable column, NULL on every existing row (no request is being
reconciled).
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("reconciling_since", UTCDateTime))
