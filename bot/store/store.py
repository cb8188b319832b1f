"""The durable store: change requests, approvals, the audit trail, notification groups, the
Slack payloads already handled, the account watch's schedule and snapshot, the change log and
incidents.

Everything that must survive a restart or be shared between replicas lives here, behind a
small async API built on SQLAlchemy Core. SQLite (through aiosqlite) is the default and
PostgreSQL (through asyncpg) is used when ``DATABASE_URL`` says so; both run the same
statements.

"Runs exactly once" rests on two operations being atomic on both databases:

* `Store.add_approval` is one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` against a unique
  ``(request_id, user_id)``, selecting only a pending, unexpired request, so a person's
  approval counts once however often they click, and never lands on a finished request.
* `Store.transition` is one ``UPDATE … WHERE id = :id AND state = :expected``: of any number of
  callers racing to move a request out of a state, exactly one sees a row updated. On
  PostgreSQL (READ COMMITTED) a second updater waits for the first and re-checks the ``WHERE``
  against the committed row; on SQLite writers are serialised by the database lock.
* `Store.claim_triggers` is one ``INSERT … ON CONFLICT DO NOTHING`` keyed by Slack's
  ``trigger_id``: of any number of deliveries of one payload, on any replicas, one is handled.
* `Store.create` checks, in the transaction that inserts, that no pending request makes the
  same change and that the requester is under their cap: on SQLite the write lock makes the
  check and the insert one step; on PostgreSQL the transaction first takes advisory locks on
  the change and on the requester, so two replicas asked the same thing at once insert one.

SQLite notes: write transactions begin ``IMMEDIATE`` (taking the write lock up front, so a
transaction never fails trying to upgrade a read lock), the database runs in WAL mode so
readers don't block the writer, and a busy timeout makes waiting writers queue instead of
failing with "database is locked". An in-memory database has a single connection, so its
operations are serialised in-process.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, case, delete, event, func, literal, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import (
    Approval,
    ApprovalResult,
    AuditEvent,
    ChangeRequest,
    GraceState,
    State,
    can_transition,
    refuse_secrets,
)
from bot.domain.account import (
    AccountChange,
    ChangeKind,
    Decision,
    FieldChange,
    LoggedChange,
    Resource,
    Source,
)
from bot.store.migrations import migrate
from bot.store.schema import (
    account_changes,
    approvals,
    audit_events,
    change_requests,
    incidents,
    notifications,
    schedules,
    seen_triggers,
)
from bot.store.url import sqlalchemy_url

# Crockford's base32: no I, L, O or U, so an id read aloud or retyped is unambiguous.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Fields a transition or an update may set; the rest are fixed when the request is made, and
# state and version change only through `Store.transition` and the store itself.
MUTABLE_FIELDS = frozenset(
    {
        "summary",
        "before",
        "after",
        "decided_by",
        "decided_at",
        "executing_since",
        "heartbeat_at",
        "reconciling_since",
        "finished_at",
        "result",
        "error",
        "error_code",
        "correlation_id",
        "approval_channel",
        "approval_ts",
        "decision_note",
        "card_error",
        "grace_ends_at",
        "grace_state",
    }
)
_GUARDED_FIELDS = (
    "params",
    "before",
    "after",
    "result",
    "summary",
    "error",
    "reason",
    "decision_note",
)

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: `Store.claim_triggers`' statement, built once per database.
_CLAIM = {
    name: dialect.insert(seen_triggers)
    .on_conflict_do_nothing(index_elements=["trigger_id"])
    .returning(seen_triggers.c.trigger_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
PING_TIMEOUT = 5.0  # seconds; a health check must answer long before a load balancer gives up


def new_request_id() -> str:
    """A fresh request id such as ``CR-7K2M9Q``: short enough to type, 30 random bits.

    Ids are not the access control (the policy is), so 30 bits only need to make collisions
    rare; `Store.create` refuses a duplicate with `DuplicateRequest` and the caller draws again.
    """
    return "CR-" + "".join(secrets.choice(_CROCKFORD) for _ in range(6))


class StoreError(Exception):
    """Base of the store's own errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused to work; the message says why, without
    credentials."""


class DuplicateRequest(StoreError):
    """A request with this id already exists."""


class PendingDuplicate(StoreError):
    """A pending request already makes the same change (``existing``)."""

    def __init__(self, existing: ChangeRequest) -> None:
        super().__init__(f"change request {existing.id} makes the same change")
        self.existing = existing


class TooManyPending(StoreError):
    """The requester already has ``limit`` requests waiting."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the requester already has {limit} pending requests")
        self.limit = limit


class UnknownRequest(StoreError, LookupError):
    """No request has this id."""


class InvalidTransition(StoreError, ValueError):
    """The state machine does not allow this move (`bot.domain.TRANSITIONS`)."""


@dataclass(frozen=True, slots=True)
class NotificationSlot:
    """Where a failure notification with this key stands in its grouping window.

    Attributes:
        key: "the same failure": operation and error code.
        is_new: this caller claimed a new group and should post the message, then call
            `Store.set_notification_ts`.
        count: how many times the failure happened in this group, this one included.
        channel, ts: the group's message, or ``None`` while its first poster has not yet
            saved it (the count is kept; the next occurrence edits the message).
        first_at: when the group started.
    """

    key: str
    is_new: bool
    count: int
    channel: str | None
    ts: str | None
    first_at: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as its holder sees it (`Store.hold_schedule`).

    Attributes:
        due_at: when its next run is due.
        runs: how many runs were recorded (`Store.record_watch_pass` counts on it).
        read_at, snapshot: when the last run's read of the account began, and what it read.
    """

    name: str
    due_at: datetime
    runs: int
    read_at: datetime | None
    snapshot: Any


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident: a cause of failures, its count, what and who it hit, and its message.

    Attributes:
        is_new: this caller opened it and should post it, then `Store.set_incident_message`.
        operations, users: the commands (or requests) and the people it hit, oldest first.
        resolved_at: when the cause cleared (``None`` while open).
    """

    id: int
    cause: str
    is_new: bool
    count: int
    opened_at: datetime
    last_at: datetime
    operations: tuple[str, ...]
    users: tuple[str, ...]
    error_code: str
    correlation_id: str
    detail: str
    channel: str | None
    ts: str | None
    resolved_at: datetime | None


#: The most commands and people an incident remembers (each list), oldest kept.
INCIDENT_LIST_MAX = 50


class Store:
    """fpbot's durable state. Create with `Store.connect`; close with `Store.close`."""

    def __init__(self, engine: AsyncEngine, *, serialise: bool) -> None:
        self._engine = engine
        self._writer = engine.execution_options(fpbot_write=True)
        self._dialect = engine.dialect.name
        self._lock: asyncio.Lock | None = asyncio.Lock() if serialise else None

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 5) -> Store:
        """Open the database at ``url`` and bring its schema up to date.

        Args:
            url: ``sqlite:///path``, ``postgres://…`` or ``postgresql://…`` (the async drivers
                are chosen here), or a SQLAlchemy ``+aiosqlite``/``+asyncpg`` URL.
            pool_size: connections kept open per process.

        Raises:
            StoreUnavailable: the database cannot be reached or migrated.
        """
        url = sqlalchemy_url(url)
        parsed = make_url(url)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        memory = is_sqlite and parsed.database in (None, "", ":memory:")
        if is_sqlite and not memory:
            _require_sqlite_directory(str(parsed.database))
        kwargs: dict[str, Any] = {"pool_pre_ping": not is_sqlite}
        if not memory:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2)
        if is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["connect_args"] = {"timeout": 10}
        engine = create_async_engine(url, **kwargs)
        if is_sqlite:
            _configure_sqlite(engine, memory=memory)
        store = cls(engine, serialise=memory)
        try:
            async with store._guard():
                if is_sqlite and not memory:
                    await _enable_wal(engine)
                await migrate(store._writer)
        except BaseException:
            await engine.dispose()
            raise
        return store

    @classmethod
    async def probe(cls, url: str) -> str:
        """Check that the database at ``url`` can be reached, changing nothing (``fpbot check``).

        A SQLite file that does not exist yet is fine (fpbot creates it on start) as long as
        its directory does; nothing is created or migrated here.

        Returns:
            A few words on what was found, for the operator.

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        parsed = make_url(sqlalchemy_url(url))
        if parsed.get_backend_name() == "sqlite":
            database = str(parsed.database or "")
            if database in ("", ":memory:"):
                return "in-memory SQLite"
            return await asyncio.to_thread(_describe_sqlite_file, database)
        engine = create_async_engine(parsed, connect_args={"timeout": 10})
        try:
            async with cls(engine, serialise=False)._guard(), engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
        return f"PostgreSQL on {parsed.host or 'localhost'}"

    async def close(self) -> None:
        """Release every connection."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Check the database answers within `PING_TIMEOUT` seconds (for ``/healthz``).

        Raises:
            StoreUnavailable: it does not.
        """
        try:
            async with asyncio.timeout(PING_TIMEOUT), self._read() as conn:
                await conn.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise StoreUnavailable(f"the database did not answer within {PING_TIMEOUT:g}s") from exc

    # ── change requests ─────────────────────────────────────────────────────────────────

    async def create(self, request: ChangeRequest, *, max_pending: int | None = None) -> None:
        """Store a new request (at version 1) with any approvals it already carries — unless a
        pending request with its action and target exists, or its requester already has
        ``max_pending`` requests waiting (a pending ``request`` only).

        The caller has usually asked `pending_duplicate` and `count_pending` already, to spare
        planning; only this check, made where the insert is, holds against a concurrent one.

        Raises:
            DuplicateRequest: the id is taken.
            PendingDuplicate: a pending request makes the same change.
            TooManyPending: the requester has ``max_pending`` requests waiting.
            SecretRefused: a field holds something that looks like a secret.
        """
        _refuse_secrets_in({f: getattr(request, f) for f in _GUARDED_FIELDS})
        row = _row_of(request)
        row["version"] = 1
        try:
            async with self._write() as conn:
                if request.state is State.PENDING:
                    await self._hold_back_twins(conn, request, max_pending)
                await conn.execute(change_requests.insert().values(**row))
                if request.approvals:
                    await conn.execute(
                        approvals.insert(),
                        [
                            {"request_id": request.id, "user_id": a.user_id, "at": a.at}
                            for a in request.approvals
                        ],
                    )
        except sa_exc.IntegrityError as exc:
            raise DuplicateRequest(f"change request {request.id} already exists") from exc

    async def _hold_back_twins(
        self, conn: AsyncConnection, request: ChangeRequest, max_pending: int | None
    ) -> None:
        """Raise if a pending request makes ``request``'s change or its requester is at the
        cap, holding (on PostgreSQL) the locks that keep it so until the insert commits."""
        if self._dialect == "postgresql":
            keys = {_lock_key("requester", request.requester)}
            if request.target is not None:
                keys.add(_lock_key("change", request.action, request.target))
            for key in sorted(keys):  # one order everywhere: no deadlock between two creates
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        if request.target is not None:
            twin = await _load_many(conn, _pending_twins(request.action, request.target))
            if twin:
                raise PendingDuplicate(twin[0])
        if max_pending is not None:
            waiting = await conn.execute(_pending_of(request.requester))
            if int(waiting.scalar_one()) >= max_pending:
                raise TooManyPending(max_pending)

    async def get(self, request_id: str) -> ChangeRequest | None:
        """The request with its approvals (oldest first), or ``None``."""
        async with self._read() as conn:
            return await _load(conn, request_id)

    async def add_approval(self, request_id: str, user_id: str, at: datetime) -> ApprovalResult:
        """Record ``user_id``'s approval of a request that is pending and unexpired at ``at``.

        One ``INSERT … SELECT … ON CONFLICT DO NOTHING`` whose ``SELECT`` is the request row,
        still ``pending`` and not yet expired: of concurrent calls for the same person exactly
        one records it, and an approval is never written on a request that was denied, expired
        or completed meanwhile. On PostgreSQL the row is read ``FOR SHARE``, so a deny or
        approval racing this insert waits for it (or it for them) and the state is re-checked
        against the committed row; on SQLite writers are serialised anyway.

        Returns:
            `ApprovalResult.RECORDED`, `ApprovalResult.ALREADY_APPROVED` (this person's
            approval was already there), or `ApprovalResult.NOT_PENDING` (the request is no
            longer waiting for approval, or expired at ``at``; nothing was written).

        Raises:
            UnknownRequest: no request has this id.
        """
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        eligible = (
            select(
                literal(request_id, approvals.c.request_id.type),
                literal(user_id, approvals.c.user_id.type),
                literal(at, approvals.c.at.type),
            )
            .where(
                change_requests.c.id == request_id,
                change_requests.c.state == State.PENDING.value,
                change_requests.c.expires_at > at,
            )
            .with_for_update(read=True)
        )
        statement = (
            insert(approvals)
            .from_select(["request_id", "user_id", "at"], eligible)
            .on_conflict_do_nothing(index_elements=["request_id", "user_id"])
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
            if result.rowcount == 1:
                return ApprovalResult.RECORDED
            row = (
                await conn.execute(
                    select(change_requests.c.state, change_requests.c.expires_at).where(
                        change_requests.c.id == request_id
                    )
                )
            ).one_or_none()
        if row is None:
            raise UnknownRequest(f"no change request {request_id}")
        if row.state != State.PENDING.value or row.expires_at <= at:
            return ApprovalResult.NOT_PENDING
        return ApprovalResult.ALREADY_APPROVED

    async def transition(
        self, request_id: str, expected: State, new: State, **fields: Any
    ) -> ChangeRequest | None:
        """Move the request from ``expected`` to ``new`` if it is still in ``expected``.

        One conditional ``UPDATE``, so among concurrent callers exactly one wins. The winner
        gets the updated request (version bumped, ``fields`` set); everyone else gets ``None``
        — the request was in another state, or does not exist.

        Args:
            fields: any of `MUTABLE_FIELDS`, e.g. ``decided_by``, ``executing_since``, ``result``.

        Raises:
            InvalidTransition: the state machine forbids ``expected`` → ``new``.
            TypeError: a field that cannot be changed.
            SecretRefused: a field holds something that looks like a secret.
        """
        if not can_transition(expected, new):
            raise InvalidTransition(f"a request cannot go from {expected} to {new}")
        values = _checked_fields(fields)
        statement = (
            update(change_requests)
            .where(change_requests.c.id == request_id, change_requests.c.state == expected.value)
            .values(state=new.value, version=change_requests.c.version + 1, **values)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
            if result.rowcount != 1:
                return None
            return await _load(conn, request_id)

    async def update_fields(self, request_id: str, **fields: Any) -> ChangeRequest | None:
        """Set fields without changing state (e.g. the approval message's channel and ts).

        Returns:
            The updated request (version bumped), or ``None`` if there is no such request.

        Raises:
            TypeError: a field that cannot be changed.
            SecretRefused: a field holds something that looks like a secret.
        """
        values = _checked_fields(fields)
        statement = (
            update(change_requests)
            .where(change_requests.c.id == request_id)
            .values(version=change_requests.c.version + 1, **values)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
            if result.rowcount != 1:
                return None
            return await _load(conn, request_id)

    async def list_requests(
        self,
        *,
        states: Iterable[State] | None = None,
        requester: str | None = None,
        limit: int | None = 50,
    ) -> list[ChangeRequest]:
        """Requests, newest first, optionally only in ``states`` or made by ``requester``.

        ``limit=None`` returns every match (for counts a person reads, like ``/fp requests``).
        """
        query = select(change_requests)
        if states is not None:
            query = query.where(change_requests.c.state.in_([s.value for s in states]))
        if requester is not None:
            query = query.where(change_requests.c.requester == requester)
        query = query.order_by(change_requests.c.created_at.desc(), change_requests.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def due_for_expiry(self, now: datetime) -> list[ChangeRequest]:
        """Pending requests whose ``expires_at`` is at or before ``now``, oldest expiry first."""
        query = (
            select(change_requests)
            .where(
                change_requests.c.state == State.PENDING.value,
                change_requests.c.expires_at <= now,
            )
            .order_by(change_requests.c.expires_at)
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def pending_duplicate(self, action: str, target: str) -> ChangeRequest | None:
        """A pending request for the same action on the same target, if there is one."""
        async with self._read() as conn:
            found = await _load_many(conn, _pending_twins(action, target))
        return found[0] if found else None

    async def count_pending(self, requester: str) -> int:
        """How many requests ``requester`` has waiting for approval."""
        async with self._read() as conn:
            return int((await conn.execute(_pending_of(requester))).scalar_one())

    async def due_for_reminder(
        self, now: datetime, after: timedelta, limit: int
    ) -> list[ChangeRequest]:
        """Pending, unexpired requests with a card, fewer than ``limit`` reminders, and
        ``after`` gone by since they were made or last reminded of."""
        last = func.coalesce(change_requests.c.reminded_at, change_requests.c.created_at)
        query = select(change_requests).where(
            change_requests.c.state == State.PENDING.value,
            change_requests.c.expires_at > now,
            change_requests.c.approval_ts.is_not(None),
            change_requests.c.reminders_sent < limit,
            last <= now - after,
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def claim_reminder(self, request_id: str, sent: int, at: datetime) -> bool:
        """Count one more reminder, if none was counted since ``sent``: of replicas racing to
        remind, exactly one wins (and posts it)."""
        statement = (
            update(change_requests)
            .where(
                change_requests.c.id == request_id,
                change_requests.c.state == State.PENDING.value,
                change_requests.c.reminders_sent == sent,
            )
            .values(reminders_sent=sent + 1, reminded_at=at)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount == 1)

    async def graces_due(self, until: datetime) -> list[ChangeRequest]:
        """Rotations whose grace period is still open and ends at or before ``until``,
        soonest first (the sweeper warns an hour ahead, and acts once it has ended)."""
        query = (
            select(change_requests)
            .where(
                change_requests.c.grace_state.in_([GraceState.OPEN.value, GraceState.WARNED.value]),
                change_requests.c.grace_ends_at <= until,
            )
            .order_by(change_requests.c.grace_ends_at)
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def open_graces(self, requester: str) -> list[ChangeRequest]:
        """``requester``'s rotations whose grace period is still open, soonest end first
        (their App Home offers the grace's buttons, however old the rotation)."""
        query = (
            select(change_requests)
            .where(
                change_requests.c.grace_state.in_([GraceState.OPEN.value, GraceState.WARNED.value]),
                change_requests.c.requester == requester,
            )
            .order_by(change_requests.c.grace_ends_at)
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def move_grace(
        self, request_id: str, expected: Iterable[GraceState], new: GraceState, *, at: datetime
    ) -> ChangeRequest | None:
        """Move a rotation's grace period on if it is still in one of ``expected``: of
        replicas (or a Revert and the sweeper) racing, exactly one wins and gets the request;
        the others get ``None``. A grace that closes records ``at`` (`requests_run_since`)."""
        closed = {"grace_closed_at": at} if not new.is_open else {}
        statement = (
            update(change_requests)
            .where(
                change_requests.c.id == request_id,
                change_requests.c.grace_state.in_([g.value for g in expected]),
            )
            .values(grace_state=new.value, version=change_requests.c.version + 1, **closed)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
            if result.rowcount != 1:
                return None
            return await _load(conn, request_id)

    async def without_card(self, older_than: datetime) -> list[ChangeRequest]:
        """Pending requests made at or before ``older_than`` whose card is still not posted."""
        query = select(change_requests).where(
            change_requests.c.state == State.PENDING.value,
            change_requests.c.approval_ts.is_(None),
            change_requests.c.created_at <= older_than,
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    async def set_card(self, request_id: str, channel: str, ts: str) -> bool:
        """Record where the request's card is, unless a card was recorded already (a click
        that carried it may beat the post's answer); whether this call recorded it."""
        statement = (
            update(change_requests)
            .where(change_requests.c.id == request_id, change_requests.c.approval_ts.is_(None))
            .values(
                approval_channel=channel,
                approval_ts=ts,
                card_error=None,
                version=change_requests.c.version + 1,
            )
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount == 1)

    async def release_claim(self, request_id: str) -> None:
        """Give up a reconciler's claim that could not finish (the API did not answer), so
        the next sweep may try again instead of a lease later. The process that ran the
        change stays shut out (``reconciling_since`` is kept)."""
        async with self._write() as conn:
            await conn.execute(
                update(change_requests)
                .where(
                    change_requests.c.id == request_id,
                    change_requests.c.state == State.EXECUTING.value,
                )
                .values(heartbeat_at=None)
            )

    async def renew_lease(
        self, request_id: str, at: datetime, *, lapsed_at: datetime | None = None
    ) -> bool:
        """Record that the process running the request is alive at ``at`` (its heartbeat).

        One conditional ``UPDATE`` of ``heartbeat_at`` alone, and only while the request is
        executing: the version is not bumped (nothing a person sees has changed) and a request
        that has finished, or was reconciled meanwhile, is left as it is. Nor is a request a
        sweeper has claimed (`claim_stale`): that lease is the reconciler's, never revived.

        Args:
            lapsed_at: when given, a lease last taken or renewed at or before this time has
                lapsed (`stale_executing` would list it: another replica may be reconciling
                it) and is not renewed — a lapsed lease is never revived.

        Returns:
            Whether the lease was renewed; ``False`` if the request is not executing (or does
            not exist), its lease had lapsed, or a sweeper claimed it.
        """
        conditions = [
            change_requests.c.id == request_id,
            change_requests.c.state == State.EXECUTING.value,
            change_requests.c.reconciling_since.is_(None),
        ]
        if lapsed_at is not None:
            leased_at = func.coalesce(
                change_requests.c.heartbeat_at, change_requests.c.executing_since
            )
            conditions.append(leased_at > lapsed_at)
        statement = update(change_requests).where(*conditions).values(heartbeat_at=at)
        async with self._write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount == 1)

    async def claim_stale(self, request_id: str, *, lapsed_at: datetime, at: datetime) -> bool:
        """Claim a stale executing request to reconcile it: of any number of callers (on any
        replica) exactly one wins, and only the winner may reconcile.

        One conditional ``UPDATE`` that takes the lease (``heartbeat_at = at``) and marks it a
        reconciler's (``reconciling_since = at``), only while the request is executing and its
        lease was last taken or renewed at or before ``lapsed_at`` (or never). Racing callers
        re-check that against the winner's committed row and find the lease fresh. From then
        on the process that ran the change cannot renew it (`renew_lease`), and
        `stale_executing` leaves it out until the claim itself is older than a lease, so a
        reconciler that dies is retried, by a fresh claim, a lease later.

        Returns:
            Whether this caller claimed it; ``False`` if the request is not executing (or
            does not exist), or its lease is fresh (renewed, or claimed by another caller).
        """
        leased_at = func.coalesce(change_requests.c.heartbeat_at, change_requests.c.executing_since)
        statement = (
            update(change_requests)
            .where(
                change_requests.c.id == request_id,
                change_requests.c.state == State.EXECUTING.value,
                or_(leased_at.is_(None), leased_at <= lapsed_at),
            )
            .values(heartbeat_at=at, reconciling_since=at)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount == 1)

    async def stale_executing(self, older_than: datetime) -> list[ChangeRequest]:
        """Executing requests whose lease was last taken or renewed at ``older_than`` or
        earlier: the process running them died mid-change.

        The lease dates from the last heartbeat or, before the first one, from
        ``executing_since``; a request with neither is stale. A sweeper's claim
        (`claim_stale`) takes the lease too, so a request claimed after ``older_than`` is
        not listed while its reconciler works on it.
        """
        leased_at = func.coalesce(change_requests.c.heartbeat_at, change_requests.c.executing_since)
        query = (
            select(change_requests)
            .where(
                change_requests.c.state == State.EXECUTING.value,
                or_(leased_at.is_(None), leased_at <= older_than),
            )
            .order_by(leased_at)
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    # ── the audit trail ─────────────────────────────────────────────────────────────────

    async def record(self, event: AuditEvent) -> None:
        """Append ``event`` to the trail (its ``id`` is assigned here).

        Raises:
            SecretRefused: the detail holds something that looks like a secret.
        """
        refuse_secrets("audit.detail", event.detail)
        async with self._write() as conn:
            await conn.execute(
                audit_events.insert().values(
                    at=event.at,
                    kind=event.kind,
                    actor=event.actor,
                    request_id=event.request_id,
                    detail=event.detail,
                    correlation_id=event.correlation_id,
                )
            )

    async def audit(
        self, limit: int = 20, request_id: str | None = None, kind: str | None = None
    ) -> list[AuditEvent]:
        """The last ``limit`` events (of one request, of one kind, if given), newest first."""
        query = select(audit_events)
        if request_id is not None:
            query = query.where(audit_events.c.request_id == request_id)
        if kind is not None:
            query = query.where(audit_events.c.kind == kind)
        query = query.order_by(audit_events.c.at.desc(), audit_events.c.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_event(row) for row in rows]

    async def audit_stories(
        self,
        limit: int = 20,
        *,
        request_id: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> list[list[AuditEvent]]:
        """The stories of the ``limit`` requests most recently active: each request's events,
        oldest first, newest story first. An event about no request is a story of its own.

        Args:
            request_id: that request's story only.
            user: only requests ``user`` took part in (asked, approved, denied, clicked…).
            since: only requests active since then (their whole story is still told).
        """
        wanted = select(audit_events.c.request_id, func.max(audit_events.c.at).label("last")).where(
            audit_events.c.request_id.is_not(None)
        )
        strays = select(audit_events).where(audit_events.c.request_id.is_(None))
        if request_id is not None:
            wanted = wanted.where(audit_events.c.request_id == request_id)
            strays = strays.where(literal(False))
        if user is not None:
            wanted = wanted.where(audit_events.c.actor == user)
            strays = strays.where(audit_events.c.actor == user)
        if since is not None:
            wanted = wanted.where(audit_events.c.at >= since)
            strays = strays.where(audit_events.c.at >= since)
        wanted = wanted.group_by(audit_events.c.request_id).order_by(
            func.max(audit_events.c.at).desc()
        )
        strays = strays.order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        async with self._read() as conn:
            latest = (await conn.execute(wanted.limit(limit))).all()
            ids = [row.request_id for row in latest]
            events = (
                await conn.execute(
                    select(audit_events)
                    .where(audit_events.c.request_id.in_(ids))
                    .order_by(audit_events.c.at, audit_events.c.id)
                )
            ).all()
            loose = (await conn.execute(strays.limit(limit))).all()
        by_request: dict[str, list[AuditEvent]] = {i: [] for i in ids}
        for row in events:
            by_request[row.request_id].append(_event(row))
        stories = [(row.last, by_request[row.request_id]) for row in latest]
        stories += [(row.at, [_event(row)]) for row in loose]
        stories.sort(key=lambda story: story[0], reverse=True)
        return [story for _, story in stories[:limit]]

    # ── notification groups ─────────────────────────────────────────────────────────────

    async def notification_slot(
        self, key: str, now: datetime, window: timedelta
    ) -> NotificationSlot:
        """Join the group of failures with this key, or start a new one.

        One atomic upsert: if a group with this key started less than ``window`` before
        ``now``, its count goes up by one and its message (if saved yet) is returned;
        otherwise this caller claims a fresh group (``is_new``, count 1) and should post,
        then call `set_notification_ts`.
        """
        cutoff = now - window
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        base = insert(notifications).values(
            key=key, channel=None, ts=None, count=1, first_at=now, last_at=now
        )
        current = notifications.c.first_at > cutoff
        statement = base.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((current, notifications.c.count + 1), else_=1),
                "channel": case((current, notifications.c.channel), else_=None),
                "ts": case((current, notifications.c.ts), else_=None),
                "first_at": case((current, notifications.c.first_at), else_=base.excluded.first_at),
                "last_at": base.excluded.last_at,
            },
        ).returning(
            notifications.c.count,
            notifications.c.channel,
            notifications.c.ts,
            notifications.c.first_at,
        )
        async with self._write() as conn:
            count, channel, ts, first_at = (await conn.execute(statement)).one()
        return NotificationSlot(
            key=key, is_new=count == 1, count=count, channel=channel, ts=ts, first_at=first_at
        )

    async def set_notification_ts(self, key: str, channel: str, ts: str) -> None:
        """Remember the message a new group was posted as, so later occurrences edit it."""
        async with self._write() as conn:
            await conn.execute(
                update(notifications)
                .where(notifications.c.key == key)
                .values(channel=channel, ts=ts)
            )

    # ── Slack payloads already handled ──────────────────────────────────────────────────

    async def claim_triggers(self, trigger_ids: Iterable[str], at: datetime) -> set[str]:
        """Record that the payloads with these ``trigger_id``s are being handled, seen ``at``;
        the ids this caller is the first to record.

        ``INSERT … ON CONFLICT DO NOTHING RETURNING``, in one transaction: of concurrent callers
        recording the same id, on any replica, exactly one gets it back; everyone later does
        not, until it is forgotten (`forget_triggers`). Taking many ids at once lets a burst of
        requests cost one transaction instead of one each (`handlers.guard.Replays`); the rows
        go as parameters of one cached statement (SQLAlchemy's "insertmanyvalues"), which is
        several times cheaper than compiling a statement with a hundred ``VALUES``.
        """
        rows = [{"trigger_id": trigger_id, "seen_at": at} for trigger_id in set(trigger_ids)]
        if not rows:
            return set()
        async with self._write() as conn:
            return set((await conn.execute(_CLAIM[self._dialect], rows)).scalars())

    async def forget_triggers(self, seen_before: datetime) -> int:
        """Forget the payloads seen before ``seen_before``; how many were forgotten."""
        async with self._write() as conn:
            result = await conn.execute(
                delete(seen_triggers).where(seen_triggers.c.seen_at < seen_before)
            )
        return int(result.rowcount)

    # ── schedules: the account watch, the digest ────────────────────────────────────────

    async def hold_schedule(
        self, name: str, holder: str, *, now: datetime, lease: timedelta, first_due: datetime
    ) -> Schedule | None:
        """Take or renew the lease of schedule ``name`` for ``holder``, creating it (first run
        due at ``first_due``) if it does not exist yet.

        One conditional ``UPDATE``: the lease is taken when nobody holds it, its holder let it
        lapse, or ``holder`` holds it already; of replicas racing for it, one wins.

        Returns:
            The schedule, if ``holder`` holds it until ``now + lease``; else ``None``.
        """
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        create = (
            insert(schedules)
            .values(name=name, due_at=first_due, runs=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        take = (
            update(schedules)
            .where(
                schedules.c.name == name,
                or_(
                    schedules.c.holder.is_(None),
                    schedules.c.holder == holder,
                    schedules.c.lease_until < now,
                ),
            )
            .values(holder=holder, lease_until=now + lease)
            .returning(
                schedules.c.due_at, schedules.c.runs, schedules.c.read_at, schedules.c.snapshot
            )
        )
        async with self._write() as conn:
            await conn.execute(create)
            row = (await conn.execute(take)).one_or_none()
        if row is None:
            return None
        return Schedule(name, row.due_at, row.runs, row.read_at, row.snapshot)

    async def release_schedule(self, name: str, holder: str) -> None:
        """Give the lease up (shutdown), so another replica takes over at once."""
        async with self._write() as conn:
            await conn.execute(
                update(schedules)
                .where(schedules.c.name == name, schedules.c.holder == holder)
                .values(holder=None, lease_until=None)
            )

    async def schedule_due(self, name: str, *, first_due: datetime) -> datetime:
        """When schedule ``name`` is due next; a new schedule is first due at ``first_due``."""
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        async with self._write() as conn:
            await conn.execute(
                insert(schedules)
                .values(name=name, due_at=first_due, runs=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            due: datetime = (
                await conn.execute(select(schedules.c.due_at).where(schedules.c.name == name))
            ).scalar_one()
        return due

    async def claim_run(self, name: str, *, due_at: datetime, next_due: datetime) -> bool:
        """Claim the run of ``name`` due at ``due_at`` and schedule the next at ``next_due``:
        of replicas racing for it, exactly one wins (and runs it)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(schedules)
                .where(schedules.c.name == name, schedules.c.due_at == due_at)
                .values(due_at=next_due, runs=schedules.c.runs + 1)
            )
        return bool(result.rowcount == 1)

    async def record_watch_pass(
        self,
        name: str,
        holder: str,
        *,
        runs: int,
        snapshot: dict[str, Any],
        read_at: datetime,
        due_at: datetime,
        found: Sequence[AccountChange],
        at: datetime,
    ) -> int | None:
        """Record a pass of the watch: the account as read, when the next pass is due, and the
        outside changes it found — in one transaction, and only if ``holder`` still holds the
        schedule and no pass was recorded since the one it diffed against (``runs``).

        So a pass is recorded once or not at all: a replica that lost the lease mid-pass
        records nothing, and the next pass diffs against the same snapshot — no change
        reported twice, none missed.

        Returns:
            The pass's number (the outside changes' ``found_in``), or ``None`` when nothing
            was recorded.

        Raises:
            SecretRefused: a value looks like a secret (the watch redacts them first).
        """
        refuse_secrets("snapshot", snapshot)
        rows = [_change_row(change, Source.OUTSIDE, at) for change in found]
        for row in rows:
            refuse_secrets("account_changes", {k: row[k] for k in ("name", "fields")})
        async with self._write() as conn:
            result = await conn.execute(
                update(schedules)
                .where(
                    schedules.c.name == name,
                    schedules.c.holder == holder,
                    schedules.c.runs == runs,
                )
                .values(snapshot=snapshot, read_at=read_at, due_at=due_at, runs=runs + 1)
            )
            if result.rowcount != 1:
                return None
            if rows:
                await conn.execute(
                    account_changes.insert(), [{**row, "found_in": runs + 1} for row in rows]
                )
        return runs + 1

    async def requests_run_since(
        self, since: datetime, *, graces_due_by: datetime | None = None
    ) -> list[ChangeRequest]:
        """Requests that may have written to the account since ``since``: executing now, or
        finished (succeeded or failed) since then — and rotations whose grace period closed
        since then, or is due to by ``graces_due_by`` (the sweeper may be disabling the old
        key this moment, before it records that the grace ended)."""
        grace_open = change_requests.c.grace_state.in_(
            [GraceState.OPEN.value, GraceState.WARNED.value]
        )
        query = select(change_requests).where(
            or_(
                change_requests.c.state == State.EXECUTING.value,
                (change_requests.c.state.in_([State.SUCCEEDED.value, State.FAILED.value]))
                & (change_requests.c.finished_at >= since),
                change_requests.c.grace_closed_at >= since,
                grace_open & (change_requests.c.grace_ends_at <= graces_due_by)
                if graces_due_by is not None
                else literal(False),
            )
        )
        async with self._read() as conn:
            return await _load_many(conn, query)

    # ── the change log ──────────────────────────────────────────────────────────────────

    async def log_own_changes(
        self,
        changes: Sequence[AccountChange],
        *,
        request_id: str,
        actor: str,
        at: datetime,
    ) -> None:
        """Log what a succeeded request changed; logging the same request again adds
        nothing (a reconciliation after a check, say)."""
        rows = [
            {**_change_row(change, Source.FPBOT, at), "request_id": request_id, "actor": actor}
            for change in changes
        ]
        if not rows:
            return
        for row in rows:
            refuse_secrets("account_changes", {k: row[k] for k in ("name", "fields")})
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = insert(account_changes).on_conflict_do_nothing(
            index_elements=["request_id", "resource", "resource_id"]
        )
        async with self._write() as conn:
            await conn.execute(statement, rows)

    async def change_log(
        self,
        *,
        limit: int | None = 20,
        since: datetime | None = None,
        environment: str | None = None,
        source: Source | None = None,
    ) -> list[LoggedChange]:
        """The change log, newest first, optionally only since ``since``, of one environment
        (its own changes and its keys' and webhooks'), or from one source."""
        query = select(account_changes)
        if since is not None:
            query = query.where(account_changes.c.at >= since)
        if environment is not None:
            query = query.where(account_changes.c.environment == environment)
        if source is not None:
            query = query.where(account_changes.c.source == source.value)
        query = query.order_by(account_changes.c.at.desc(), account_changes.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            return [_logged(row) for row in await conn.execute(query)]

    async def logged_change(self, change_id: int) -> LoggedChange | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(account_changes).where(account_changes.c.id == change_id))
            ).one_or_none()
        return None if row is None else _logged(row)

    async def found_in(self, found_in: int) -> list[LoggedChange]:
        """The outside changes one pass of the watch found (one message), in order."""
        query = (
            select(account_changes)
            .where(account_changes.c.found_in == found_in)
            .order_by(account_changes.c.id)
        )
        async with self._read() as conn:
            return [_logged(row) for row in await conn.execute(query)]

    async def claim_report(self, *, now: datetime, grace: timedelta) -> int | None:
        """Claim the oldest pass whose outside changes are not reported yet, to post them.

        A claim older than ``grace`` without a saved message is taken over (its claimant
        died, or Slack refused its post). Of replicas racing, one wins.

        Returns:
            The pass's number (`found_in`), or ``None`` when nothing waits.
        """
        waiting = and_(
            account_changes.c.source == Source.OUTSIDE.value,
            account_changes.c.report_ts.is_(None),
            or_(
                account_changes.c.report_claimed_at.is_(None),
                account_changes.c.report_claimed_at < now - grace,
            ),
        )
        async with self._write() as conn:
            found = (
                await conn.execute(select(func.min(account_changes.c.found_in)).where(waiting))
            ).scalar_one_or_none()
            if found is None:
                return None
            result = await conn.execute(
                update(account_changes)
                .where(waiting, account_changes.c.found_in == found)
                .values(report_claimed_at=now)
            )
        return int(found) if result.rowcount else None

    async def set_report(self, found_in: int, channel: str, ts: str) -> None:
        """Remember the message that reported a pass's outside changes."""
        async with self._write() as conn:
            await conn.execute(
                update(account_changes)
                .where(account_changes.c.found_in == found_in)
                .values(report_channel=channel, report_ts=ts)
            )

    async def decide_change(
        self,
        change_id: int,
        decision: Decision,
        *,
        user: str,
        at: datetime,
        revert_request: str | None = None,
    ) -> LoggedChange | None:
        """Record what ``user`` decided about an outside change, if that is still open: an
        acknowledgement only once, and keeping or reverting only once (after an
        acknowledgement or not). One conditional ``UPDATE``: of racing clicks, one counts.

        Returns:
            The change as decided, or ``None`` when it was decided already.
        """
        still_open: ColumnElement[bool] = account_changes.c.decision.is_(None)
        if decision is not Decision.ACKNOWLEDGED:
            still_open = or_(still_open, account_changes.c.decision == Decision.ACKNOWLEDGED.value)
        async with self._write() as conn:
            result = await conn.execute(
                update(account_changes)
                .where(
                    account_changes.c.id == change_id,
                    account_changes.c.source == Source.OUTSIDE.value,
                    still_open,
                )
                .values(
                    decision=decision.value,
                    decided_by=user,
                    decided_at=at,
                    revert_request=revert_request,
                )
            )
            if result.rowcount != 1:
                return None
            row = (
                await conn.execute(select(account_changes).where(account_changes.c.id == change_id))
            ).one()
        return _logged(row)

    # ── incidents ───────────────────────────────────────────────────────────────────────

    async def incident_hit(
        self,
        cause: str,
        *,
        operation: str,
        user: str | None,
        error_code: str,
        correlation_id: str,
        detail: str,
        now: datetime,
        reopen_within: timedelta = timedelta(0),
    ) -> Incident:
        """Count one more failure of ``cause``: in its open incident; else in the one resolved
        less than ``reopen_within`` ago, opened again (a flapping cause keeps one card); else
        in a new one (``is_new``: this caller posts it). The commands and people it hit are
        remembered, each once.

        One transaction; on PostgreSQL the open incident's row is locked while it is counted,
        so racing replicas count every hit once.
        """
        for attempt in (1, 2):
            try:
                return await self._incident_hit(
                    cause, operation, user, error_code, correlation_id, detail, now, reopen_within
                )
            except sa_exc.IntegrityError:
                # Another replica opened it between our look and our reopening: count in it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _incident_hit(
        self,
        cause: str,
        operation: str,
        user: str | None,
        error_code: str,
        correlation_id: str,
        detail: str,
        now: datetime,
        reopen_within: timedelta,
    ) -> Incident:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        resolved, still_open = incidents.alias("resolved"), incidents.alias("still_open")
        recent = (
            select(func.max(resolved.c.id))
            .where(resolved.c.cause == cause, resolved.c.resolved_at >= now - reopen_within)
            .scalar_subquery()
        )
        reopening = (
            update(incidents)
            .where(
                incidents.c.id == recent,
                incidents.c.open_key.is_(None),
                ~select(still_open.c.id).where(still_open.c.open_key == cause).exists(),
            )
            .values(open_key=cause, resolved_at=None)
        )
        opening = (
            insert(incidents)
            .values(
                cause=cause,
                open_key=cause,
                opened_at=now,
                last_at=now,
                count=0,
                operations=[],
                users=[],
                error_code=error_code,
                correlation_id=correlation_id,
                detail=detail,
            )
            .on_conflict_do_nothing(index_elements=["open_key"])
            .returning(incidents.c.id)
        )
        async with self._write() as conn:
            if reopen_within > timedelta(0):
                await conn.execute(reopening)
            opened = (await conn.execute(opening)).scalar_one_or_none()
            row = (
                await conn.execute(
                    select(incidents).where(incidents.c.open_key == cause).with_for_update()
                )
            ).one()
            operations = _remember(row.operations, operation)
            users = _remember(row.users, user)
            await conn.execute(
                update(incidents)
                .where(incidents.c.id == row.id)
                .values(
                    count=row._mapping["count"] + 1,
                    last_at=now,
                    operations=operations,
                    users=users,
                    error_code=error_code,
                    correlation_id=correlation_id,
                    detail=detail,
                )
            )
        return Incident(
            id=row.id,
            cause=cause,
            is_new=opened is not None,
            count=row._mapping["count"] + 1,
            opened_at=row.opened_at,
            last_at=now,
            operations=tuple(operations),
            users=tuple(users),
            error_code=error_code,
            correlation_id=correlation_id,
            detail=detail,
            channel=row.channel,
            ts=row.ts,
            resolved_at=None,
        )

    async def set_incident_message(self, incident_id: int, channel: str, ts: str) -> None:
        """Remember the message an incident was posted as, so later hits edit it."""
        async with self._write() as conn:
            await conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(channel=channel, ts=ts)
            )

    async def resolve_incident(self, cause: str, now: datetime) -> Incident | None:
        """Close the open incident of ``cause``: the cause cleared. Of racing callers one
        gets the incident (and edits its message); the others, and any caller when none is
        open, get ``None``."""
        async with self._write() as conn:
            row = (
                await conn.execute(
                    update(incidents)
                    .where(incidents.c.open_key == cause)
                    .values(open_key=None, resolved_at=now)
                    .returning(*incidents.c)
                )
            ).one_or_none()
        return None if row is None else _incident(row)

    async def open_incidents(self) -> list[Incident]:
        """The incidents not resolved yet, oldest first."""
        query = select(incidents).where(incidents.c.open_key.is_not(None)).order_by(incidents.c.id)
        async with self._read() as conn:
            return [_incident(row) for row in await conn.execute(query)]

    async def incident(self, incident_id: int) -> Incident | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(incidents).where(incidents.c.id == incident_id))
            ).one_or_none()
        return None if row is None else _incident(row)

    # ── plumbing ────────────────────────────────────────────────────────────────────────

    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._transaction(self._engine)

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._transaction(self._writer)

    @asynccontextmanager
    async def _transaction(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        serial: AbstractAsyncContextManager[Any] = self._lock or nullcontext()
        async with self._guard(), serial, engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Turn "the database is not there" into `StoreUnavailable`, whatever the driver."""
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated or _is_unavailable(exc):
                raise StoreUnavailable(_describe(exc)) from exc
            raise
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach the database: {type(exc).__name__}") from exc


#: PostgreSQL error classes that mean "the database is not there to work with": connection
#: exceptions, the database missing, authentication, too many connections, a shutdown.
_UNAVAILABLE_SQLSTATES = ("08", "3D", "28", "53", "57P")


def _is_unavailable(exc: sa_exc.DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _describe(exc: sa_exc.SQLAlchemyError) -> str:
    # The original driver message, without SQLAlchemy's statement and parameters (which may
    # hold user data); connection URLs are never part of these messages.
    original = getattr(exc, "orig", None) or exc
    return f"the database is unavailable: {type(original).__name__}: {original}".strip()


def _describe_sqlite_file(database: str) -> str:
    _require_sqlite_directory(database)
    exists = Path(database).expanduser().exists()
    return f"SQLite {database}" + ("" if exists else " (created on first start)")


def _require_sqlite_directory(database: str) -> None:
    """Say plainly that the SQLite file's directory is missing, before the driver fails."""
    if database.startswith("file:"):
        return  # a URI filename; sqlite3 interprets it
    directory = Path(database).expanduser().absolute().parent
    if not directory.is_dir():
        raise StoreUnavailable(
            f"cannot open the SQLite database: the directory {directory} does not exist"
        )


async def _enable_wal(engine: AsyncEngine) -> None:
    """Put the SQLite file in WAL mode (it stays so: the mode is stored in the file).

    Switching the mode needs the file to itself and SQLite answers "database is locked" at
    once, without waiting out the busy timeout, when several processes or stores open a new
    file together. So the switch is retried for a while, off the connect hook where no
    waiting is possible.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            async with engine.connect() as conn:
                # Outside any transaction (the mode can't change inside one): the driver's own.
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                cursor = await driver.execute("PRAGMA journal_mode = WAL")
                row = await cursor.fetchone()
            if row is not None and str(row[0]).lower() == "wal":
                return
        except (sa_exc.OperationalError, sqlite3.OperationalError) as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


def _configure_sqlite(engine: AsyncEngine, *, memory: bool) -> None:
    """WAL, a busy timeout, enforced foreign keys, and fpbot's own BEGIN statements."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours.
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not memory:
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: SyncConnection) -> None:
        write = conn.get_execution_options().get("fpbot_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _checked_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - MUTABLE_FIELDS)
    if unknown:
        raise TypeError(f"cannot set {', '.join(unknown)} on a change request")
    _refuse_secrets_in({k: v for k, v in fields.items() if k in _GUARDED_FIELDS})
    return dict(fields)


def _refuse_secrets_in(values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        refuse_secrets(name, value)


def _row_of(request: ChangeRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "action": request.action,
        "params": request.params,
        "summary": request.summary,
        "requester": request.requester,
        "channel_id": request.channel_id,
        "state": request.state.value,
        "required_approvals": request.required_approvals,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "before": request.before,
        "after": request.after,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "executing_since": request.executing_since,
        "heartbeat_at": request.heartbeat_at,
        "reconciling_since": request.reconciling_since,
        "finished_at": request.finished_at,
        "result": request.result,
        "error": request.error,
        "error_code": request.error_code,
        "correlation_id": request.correlation_id,
        "approval_channel": request.approval_channel,
        "approval_ts": request.approval_ts,
        "reason": request.reason,
        "decision_note": request.decision_note,
        "environment": request.environment,
        "environment_name": request.environment_name,
        "target": request.target,
        "reminders_sent": request.reminders_sent,
        "reminded_at": request.reminded_at,
        "card_error": request.card_error,
        "grace_ends_at": request.grace_ends_at,
        "grace_state": request.grace_state.value if request.grace_state else None,
        "grace_closed_at": request.grace_closed_at,
    }


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        at=row.at,
        kind=row.kind,
        actor=row.actor,
        request_id=row.request_id,
        detail=row.detail,
        correlation_id=row.correlation_id,
        id=row.id,
    )


def _change_row(change: AccountChange, source: Source, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "source": source.value,
        "resource": change.resource.value,
        "resource_id": change.id,
        "name": change.name,
        "environment": change.environment,
        "kind": change.kind.value,
        "fields": [[f.field, f.before, f.after] for f in change.fields],
    }


def _logged(row: Row[Any]) -> LoggedChange:
    return LoggedChange(
        id=row.id,
        at=row.at,
        source=Source(row.source),
        change=AccountChange(
            resource=Resource(row.resource),
            id=row.resource_id,
            name=row.name,
            environment=row.environment,
            kind=ChangeKind(row.kind),
            fields=tuple(FieldChange(f, before, after) for f, before, after in row.fields),
        ),
        request_id=row.request_id,
        actor=row.actor,
        found_in=row.found_in,
        report_channel=row.report_channel,
        report_ts=row.report_ts,
        decision=Decision(row.decision) if row.decision else None,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        revert_request=row.revert_request,
    )


def _remember(known: list[str], value: str | None) -> list[str]:
    """``known`` with ``value`` added once, the list bounded (the oldest are kept)."""
    if not value or value in known or len(known) >= INCIDENT_LIST_MAX:
        return list(known)
    return [*known, value]


def _incident(row: Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        cause=row.cause,
        is_new=False,
        count=row._mapping["count"],
        opened_at=row.opened_at,
        last_at=row.last_at,
        operations=tuple(row.operations),
        users=tuple(row.users),
        error_code=row.error_code,
        correlation_id=row.correlation_id,
        detail=row.detail,
        channel=row.channel,
        ts=row.ts,
        resolved_at=row.resolved_at,
    )


def _request_of(row: Row[Any], approved: Sequence[Approval]) -> ChangeRequest:
    return ChangeRequest(
        id=row.id,
        action=row.action,
        params=row.params,
        summary=row.summary,
        requester=row.requester,
        channel_id=row.channel_id,
        state=State(row.state),
        required_approvals=row.required_approvals,
        created_at=row.created_at,
        expires_at=row.expires_at,
        before=row.before,
        after=row.after,
        approvals=tuple(approved),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        executing_since=row.executing_since,
        heartbeat_at=row.heartbeat_at,
        reconciling_since=row.reconciling_since,
        finished_at=row.finished_at,
        result=row.result,
        error=row.error,
        error_code=row.error_code,
        correlation_id=row.correlation_id,
        approval_channel=row.approval_channel,
        approval_ts=row.approval_ts,
        reason=row.reason,
        decision_note=row.decision_note,
        environment=row.environment,
        environment_name=row.environment_name,
        target=row.target,
        reminders_sent=row.reminders_sent,
        reminded_at=row.reminded_at,
        card_error=row.card_error,
        grace_ends_at=row.grace_ends_at,
        grace_state=GraceState(row.grace_state) if row.grace_state else None,
        grace_closed_at=row.grace_closed_at,
        version=row.version,
    )


async def _load(conn: AsyncConnection, request_id: str) -> ChangeRequest | None:
    query = select(change_requests).where(change_requests.c.id == request_id)
    found = await _load_many(conn, query)
    return found[0] if found else None


def _pending_twins(action: str, target: str) -> Any:
    """The pending requests for ``action`` on ``target``, the oldest first."""
    return (
        select(change_requests)
        .where(
            change_requests.c.state == State.PENDING.value,
            change_requests.c.action == action,
            change_requests.c.target == target,
        )
        .order_by(change_requests.c.created_at)
        .limit(1)
    )


def _pending_of(requester: str) -> Any:
    """How many requests ``requester`` has waiting."""
    return select(func.count()).where(
        change_requests.c.state == State.PENDING.value,
        change_requests.c.requester == requester,
    )


def _lock_key(*parts: str) -> int:
    """A PostgreSQL advisory-lock key (a signed 64-bit integer) for ``parts``."""
    digest = hashlib.blake2b("\0".join(("fpbot", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _load_many(conn: AsyncConnection, query: Any) -> list[ChangeRequest]:
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    by_request: dict[str, list[Approval]] = {row.id: [] for row in rows}
    approval_rows = await conn.execute(
        select(approvals)
        .where(approvals.c.request_id.in_(list(by_request)))
        .order_by(approvals.c.at, approvals.c.user_id)
    )
    for a in approval_rows:
        by_request[a.request_id].append(Approval(user_id=a.user_id, at=a.at))
    return [_request_of(row, by_request[row.id]) for row in rows]
