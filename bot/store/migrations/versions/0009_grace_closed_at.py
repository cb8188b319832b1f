"""When a rotation's grace period closed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

The sweeper disables an old key when its grace ends, a day or more after the rotation ran; the
account watch must know that write is fpbot's, and it asks for the requests that may have
written since its last pass. A nullable column: rotations whose grace closed before this
revision are older than any pass that could still ask.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("grace_closed_at", UTCDateTime))
