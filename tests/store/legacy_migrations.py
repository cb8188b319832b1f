"""fpbot's hand-written migrations as they were before Alembic, to build the databases that
older fpbots left behind.

Until Alembic, a ``schema_version`` table recorded which numbered steps had run. The steps
below are copied unchanged from ``bot/store/migrations.py`` at commit 755a328, the last one
before Alembic; `migrate_legacy` replays them as that code did, minus its lock (tests run it
alone). Revisions 0001..0004 must build exactly what steps 1..4 built, and a database at any
``schema_version`` must upgrade in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import JSONText, UTCDateTime


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step; ``apply`` runs inside the migration transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_requests_approvals_audit(conn: Connection) -> None:
    md = MetaData()
    Table(
        "change_requests",
        md,
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
        Index("ix_change_requests_state_expires_at", "state", "expires_at"),
        Index("ix_change_requests_requester", "requester"),
    )
    Table(
        "approvals",
        md,
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
    Table(
        "audit_events",
        md,
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
    md.create_all(conn)


def _v2_notifications(conn: Connection) -> None:
    md = MetaData()
    Table(
        "notifications",
        md,
        Column("key", String(255), primary_key=True),
        Column("channel", String(64)),
        Column("ts", String(64)),
        Column("count", Integer, nullable=False),
        Column("first_at", UTCDateTime, nullable=False),
        Column("last_at", UTCDateTime, nullable=False),
    )
    md.create_all(conn)


def _v3_execution_heartbeat(conn: Connection) -> None:
    # Adding a nullable column without a default is one statement on both databases and leaves
    # every existing row as it was (NULL: the sweeper then goes by ``executing_since``). The
    # type is written out as v1 created ``executing_since`` (`UTCDateTime` on each database).
    column_type = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text(f"ALTER TABLE change_requests ADD COLUMN heartbeat_at {column_type}"))


def _v4_reconciliation_claim(conn: Connection) -> None:
    # As in v3: one nullable column, NULL on every existing row (no request is being
    # reconciled), typed as v1 typed its timestamps.
    column_type = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text(f"ALTER TABLE change_requests ADD COLUMN reconciling_since {column_type}"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "change requests, approvals and the audit trail", _v1_requests_approvals_audit),
    Migration(2, "grouped failure notifications", _v2_notifications),
    Migration(3, "a lease on executing requests, renewed by a heartbeat", _v3_execution_heartbeat),
    Migration(4, "a sweeper's claim on a stale request it reconciles", _v4_reconciliation_claim),
)

schema_version_table = Table(
    "schema_version",
    MetaData(),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)


async def migrate_legacy(engine: AsyncEngine, *, target: int) -> None:
    """Run steps 1..``target`` on an empty database, recording each in ``schema_version``."""
    async with engine.begin() as conn:
        await conn.run_sync(_migrate, target)


def _migrate(conn: Connection, target: int) -> None:
    schema_version_table.create(conn)
    for step in MIGRATIONS[:target]:
        step.apply(conn)
        conn.execute(
            schema_version_table.insert().values(
                version=step.version, description=step.description, applied_at=datetime.now(UTC)
            )
        )
