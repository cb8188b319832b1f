"""The tables as the running code sees them, and the two column types they need.

This is the *current* shape of the database, used to build queries. Creating and changing
tables is the job of the Alembic revisions in `bot.store.migrations`, which are frozen: a
revision never reads these definitions, so editing a table here without adding a revision is
caught by the test that compares the two (Alembic's own autogenerate comparison).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone (``timestamptz``); SQLite has no such type, so values are stored
    as naive UTC text, which still sorts and compares correctly. A naive datetime is refused
    rather than guessed at: a wrong zone would expire requests hours early or late.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; use an aware (UTC) one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON value kept as text, the same on SQLite and PostgreSQL.

    Text rather than ``jsonb`` because nothing queries inside these values, and one encoding
    keeps both databases byte-for-byte comparable. Keys keep their order: the before → after
    table shows fields in the order the change was planned. Non-JSON values fail at write time.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

change_requests = Table(
    "change_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("action", String(64), nullable=False),
    Column("params", JSONText, nullable=False),
    Column("summary", Text, nullable=False),
    Column("requester", String(64), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("required_approvals", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("before", JSONText),
    Column("after", JSONText),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("executing_since", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("result", JSONText),
    Column("error", Text),
    Column("error_code", String(128)),
    Column("correlation_id", String(128), nullable=False),
    Column("approval_channel", String(64)),
    Column("approval_ts", String(64)),
    Column("version", Integer, nullable=False),
    Column("heartbeat_at", UTCDateTime),  # 0003
    Column("reconciling_since", UTCDateTime),  # 0004
    Column("reason", Text),  # 0005
    Column("decision_note", Text),
    Column("environment", String(128)),
    Column("environment_name", String(300)),
    Column("target", String(512)),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Column("reminded_at", UTCDateTime),
    Column("card_error", String(128)),
    Column("grace_ends_at", UTCDateTime),  # 0008
    Column("grace_state", String(16)),
    Column("grace_closed_at", UTCDateTime),  # 0009
    Index("ix_change_requests_state_expires_at", "state", "expires_at"),
    Index("ix_change_requests_grace", "grace_state", "grace_ends_at"),
    Index("ix_change_requests_requester", "requester"),
    Index("ix_change_requests_target", "target"),
)

approvals = Table(
    "approvals",
    metadata,
    Column(
        "request_id",
        String(32),
        ForeignKey("change_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("request_id", "user_id", name="uq_approvals_request_user"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("request_id", String(32)),
    Column("detail", Text, nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_request_id", "request_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("channel", String(64)),
    Column("ts", String(64)),
    Column("count", Integer, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
)

#: Slack payloads already handled, by their ``trigger_id``: a signature proves freshness, not
#: one-time use, so a replayed command or click is recognised here and dropped (0006). Rows are
#: reaped once far older than Slack's five-minute window.
seen_triggers = Table(
    "seen_triggers",
    metadata,
    Column("trigger_id", String(255), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_seen_triggers_seen_at", "seen_at"),
)

# ── 0007: the account watch, the change log, incidents ──────────────────────────────────────

#: Background work done by one replica at a time, on a schedule kept here so a restart neither
#: repeats nor skips it: the account watch (``account``: its lease, when its next pass is due,
#: and the account as its last pass read it) and the daily digest (``digest``: when it is due).
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("holder", String(64)),
    Column("lease_until", UTCDateTime),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("read_at", UTCDateTime),
    Column("snapshot", JSONText),
)

#: The account's change log: every change fpbot made (``source`` fpbot, with its request) and
#: every change the watch found made outside it (``found_in``: the pass), with the message that
#: reported it and what someone decided about it.
account_changes = Table(
    "account_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("resource", String(32), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("name", Text, nullable=False),
    Column("environment", String(128)),
    Column("kind", String(16), nullable=False),
    Column("fields", JSONText, nullable=False),
    Column("request_id", String(32)),
    Column("actor", String(64)),
    Column("found_in", Integer),
    Column("report_channel", String(64)),
    Column("report_ts", String(64)),
    Column("report_claimed_at", UTCDateTime),
    Column("decision", String(32)),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("revert_request", String(32)),
    Index("ix_account_changes_at", "at"),
    Index("ix_account_changes_found_in", "found_in"),
    UniqueConstraint("request_id", "resource", "resource_id", name="uq_account_changes_request"),
)

#: Alerts grouped by cause (the API key rejected, the API unavailable…), whatever command met
#: it: ``open_key`` is the cause while the incident is open, and NULL once resolved, so each
#: cause has at most one open incident and keeps its history.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cause", String(64), nullable=False),
    Column("open_key", String(64), unique=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("operations", JSONText, nullable=False),
    Column("users", JSONText, nullable=False),
    Column("error_code", String(128), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("channel", String(64)),
    Column("ts", String(64)),
    Column("resolved_at", UTCDateTime),
)
