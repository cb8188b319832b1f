"""The account watch's schedule and snapshot, the change log, incidents.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Three new tables, empty: the watch takes its first snapshot one interval after it starts, the
change log begins with the first change made or found, and alerts already posted stay as they
are (``notifications``) while new ones are grouped by cause.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import JSONText, UTCDateTime

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("holder", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("read_at", UTCDateTime),
        sa.Column("snapshot", JSONText),
    )
    op.create_table(
        "account_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("environment", sa.String(128)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fields", JSONText, nullable=False),
        sa.Column("request_id", sa.String(32)),
        sa.Column("actor", sa.String(64)),
        sa.Column("found_in", sa.Integer),
        sa.Column("report_channel", sa.String(64)),
        sa.Column("report_ts", sa.String(64)),
        sa.Column("report_claimed_at", UTCDateTime),
        sa.Column("decision", sa.String(32)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("revert_request", sa.String(32)),
        sa.UniqueConstraint(
            "request_id", "resource", "resource_id", name="uq_account_changes_request"
        ),
    )
    op.create_index("ix_account_changes_at", "account_changes", ["at"])
    op.create_index("ix_account_changes_found_in", "account_changes", ["found_in"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cause", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), unique=True),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("last_at", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("operations", JSONText, nullable=False),
        sa.Column("users", JSONText, nullable=False),
        sa.Column("error_code", sa.String(128), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("ts", sa.String(64)),
        sa.Column("resolved_at", UTCDateTime),
    )
