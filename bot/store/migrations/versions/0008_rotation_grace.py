"""Rotations with a grace period: when the old key's grace ends, and where it stands.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Two nullable columns on change requests, set only on a rotation that keeps the old key usable
for a while (``keys rotate --grace``), and an index the sweeper's look for graces that end
uses. Existing rows stay as they are: no rotation made before had a grace period.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("grace_ends_at", UTCDateTime))
    op.add_column("change_requests", sa.Column("grace_state", sa.String(16)))
    op.create_index("ix_change_requests_grace", "change_requests", ["grace_state", "grace_ends_at"])
