"""Change requests, approvals and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Was step 1 of fpbot's hand-written migrations (``schema_version`` 1, commit b81c83c);
builds the same tables.
"""

import sqlalchemy as sa
from alembic import op

from bot.store.schema import JSONText, UTCDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "change_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("params", JSONText, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("before", JSONText),
        sa.Column("after", JSONText),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("executing_since", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("result", JSONText),
        sa.Column("error", sa.Text),
        sa.Column("error_code", sa.String(128)),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("approval_channel", sa.String(64)),
        sa.Column("approval_ts", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_change_requests_state_expires_at", "change_requests", ["state", "expires_at"]
    )
    op.create_index("ix_change_requests_requester", "change_requests", ["requester"])
    op.create_table(
        "approvals",
        sa.Column(
            "request_id",
            sa.String(32),
            sa.ForeignKey("change_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("request_id", "user_id", name="uq_approvals_request_user"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(32)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_request_id", "audit_events", ["request_id"])
