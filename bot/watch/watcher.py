"""The account watch: read the account every ``watch.interval``, report what changed outside
fpbot.

One replica at a time holds the watch (a lease in the store, renewed while it lives and given
up when it stops, so another replica takes over). When a pass is due, the holder reads the
environments, API keys and webhooks — and under ``2025-11-20`` the filtering rules, encryption
keys and custom subdomains, one listing each — as background reads (a fifth of the rate
budget, behind every command), asks the store which of fpbot's requests may have written
since the last pass, and diffs (`bot.domain.account`). The new snapshot, when the next pass
is due, and what no request explains are recorded in one transaction, and only if the holder
still holds the watch and nobody recorded a pass since: a pass is recorded once or not at
all, so across restarts and replicas no change is reported twice and none is missed. The
requests are asked for *after* the read: a change fpbot was writing while the pass read is
executing, or finished, by then.

Under ``2024-05-20`` nothing more is read: its filtering rules are origin lists, readable one
environment at a time, which would cost a request per environment every pass. Each snapshot
records what it covers, so changing ``FP_API_VERSION`` reports nothing for what appears or
vanishes with it.

What a pass found is then posted, one message per pass, by whoever claims it in the store — at
once, or after a restart if the process died between recording and posting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.domain import refuse_secrets
from bot.domain.account import (
    BASE,
    Item,
    Resource,
    Snapshot,
    diff,
    outside,
    own_writes,
    text_of,
)
from bot.domain.incidents import API_CAUSES, Cause
from bot.domain.secrets import SecretRefused
from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    Subdomain,
    Webhook,
)
from bot.log import get_logger, new_correlation_id
from bot.metrics import Metrics
from bot.notify import Failure, Notifier, describe
from bot.ports import AccountReader, Conversation, DeliveryFailed
from bot.render.notifications import WATCH_FAILED
from bot.render.watch import HIDDEN_VALUE
from bot.store import Schedule, Store, StoreUnavailable
from bot.watch.outside import OutsideChanges

log = get_logger(__name__)

#: The watch's schedule in the store.
NAME = "account"
#: How long a replica holds the watch without renewing it (it renews every third of it).
LEASE = timedelta(seconds=60)
#: How far apart fpbot's replicas' clocks may be: a request that finished this long before the
#: last pass began may still explain what this pass finds.
SKEW = timedelta(minutes=2)
#: A report claimed this long ago and still not posted is posted by whoever comes next.
REPORT_GRACE = timedelta(seconds=30)
#: After a failed pass, the next try waits the interval, but no longer than this.
RETRY_MAX = 60.0
#: The API version whose filtering rules, encryption keys and subdomains the watch reads.
FULL_VERSION = "2025-11-20"


def _safe(value: object) -> str | None:
    """A value as the snapshot keeps it; one that looks like a secret is never stored."""
    text = text_of(value)
    try:
        refuse_secrets("value", text)
    except SecretRefused:
        return HIDDEN_VALUE  # a URL with a password in it, say: never stored
    return text


def _when(at: datetime | None) -> str | None:
    if at is None:
        return None
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def snapshot_of(
    envs: Sequence[Environment],
    keys: Sequence[ApiKey],
    hooks: Sequence[Webhook],
    *,
    rules: Sequence[FilteringRule] | None = None,
    enckeys: Sequence[EncryptionKey] | None = None,
    subdomains: Sequence[Subdomain] | None = None,
) -> Snapshot:
    """The account as the watch compares it; the resources given as ``None`` were not read.

    An encryption key's tokens are never read into it, and neither is a rule's position nor a
    subdomain's status (`bot.domain.account.WATCHED` says why).
    """
    watched = set(BASE)
    items = [
        Item(
            Resource.ENVIRONMENT,
            e.id,
            _safe(e.name) or "",
            e.id,
            {
                "name": _safe(e.name),
                "description": _safe(e.description),
                "limit_mode": _safe(e.limit_mode),
                "limit_value": _safe(e.limit_value),
            },
        )
        for e in envs
    ]
    items += [
        Item(
            Resource.API_KEY,
            k.id,
            _safe(k.name) or "",
            k.environment,
            {
                "name": _safe(k.name),
                "description": _safe(k.description),
                "status": _safe(k.status),
                "rate_limit": _safe(k.rate_limit),
                "environment": _safe(k.environment),
            },
        )
        for k in keys
    ]
    items += [
        Item(
            Resource.WEBHOOK,
            h.id,
            _safe(h.url) or "",
            h.environment,
            {
                "url": _safe(h.url),
                "description": _safe(h.description),
                "status": _safe(h.status),
                "environment": _safe(h.environment),
            },
        )
        for h in hooks
    ]
    if rules is not None:
        watched.add(Resource.FILTERING_RULE)
        items += [
            Item(
                Resource.FILTERING_RULE,
                r.id,
                _safe(r.name) or "",
                r.environment,
                {
                    "name": _safe(r.name),
                    "expression": _safe(r.expression),
                    "action": _safe(r.action),
                    "status": _safe(r.status),
                    "environment": _safe(r.environment),
                },
            )
            for r in rules
        ]
    if enckeys is not None:
        watched.add(Resource.ENCRYPTION_KEY)
        items += [
            Item(
                Resource.ENCRYPTION_KEY,
                k.id,
                _safe(k.name) or "",
                k.environment,
                {
                    "name": _safe(k.name),
                    "status": _safe(k.status),
                    "last_rotated": _when(k.last_rotated_at),
                },
            )
            for k in enckeys
        ]
    if subdomains is not None:
        watched.add(Resource.SUBDOMAIN)
        items += [
            Item(
                Resource.SUBDOMAIN,
                d.id,
                _safe(d.subdomain) or "",
                None,
                {"hostname": _safe(d.subdomain)},
            )
            for d in subdomains
        ]
    return Snapshot.of(items, watched)


def replica_name() -> str:
    """Who holds the watch, as the store records it: host, process, and a random part."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"


class AccountWatch:
    """Watches the account for changes made outside fpbot (see the module docstring).

    Args:
        interval: how often a pass is due.
        channel: where outside changes are reported (``channels.notifications``).
        holder: this replica's name in the store (`replica_name` by default).
        lease: how long the watch is held without renewal.
    """

    def __init__(
        self,
        *,
        store: Store,
        client: AccountReader,
        slack: Conversation,
        outside: OutsideChanges,
        notifier: Notifier,
        interval: timedelta,
        channel: str | None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self._store = store
        self._client = client
        self._slack = slack
        self._outside = outside
        self._notifier = notifier
        self.interval = interval
        self._channel = channel
        self._metrics = metrics
        self._clock = clock
        self.holder = holder or replica_name()
        self._lease = lease
        self._retry_at: datetime | None = None
        self.passes = 0  # passes this replica recorded (for tests and the bench)

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set; then give the watch up for another replica."""
        try:
            while not stop.is_set():
                wait = await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            with contextlib.suppress(StoreUnavailable):
                await self._store.release_schedule(NAME, self.holder)

    async def step(self) -> float:
        """Hold (or try to take) the watch; post what waits; run a pass if one is due.
        Returns the seconds until the next step."""
        renew = self._lease.total_seconds() / 3
        now = self._clock()
        try:
            schedule = await self._store.hold_schedule(
                NAME, self.holder, now=now, lease=self._lease, first_due=now + self.interval
            )
        except StoreUnavailable as exc:
            log.warning("watch_store_unavailable", error=str(exc))
            return renew
        if schedule is None:
            return renew  # another replica watches; look again in a while
        self._notifier.proven({Cause.STORE_UNREACHABLE})
        await self.post_reports()
        due = schedule.due_at
        if self._retry_at is not None and self._retry_at > due:
            due = self._retry_at
        if due > now:
            return min((due - now).total_seconds(), renew)
        await self.watch_once(schedule)
        return min(self.interval.total_seconds(), renew)

    async def watch_once(self, schedule: Schedule) -> int | None:
        """One pass against ``schedule``'s snapshot; the pass's number if it was recorded."""
        started = time.monotonic()
        read_at = self._clock()
        outcome = "failed"
        try:
            async with self._holding():
                current = await self._read()
                found = []
                if schedule.snapshot is not None:
                    since = (schedule.read_at or read_at) - SKEW
                    requests = await self._store.requests_run_since(
                        since, graces_due_by=self._clock() + SKEW
                    )
                    writes = [w for r in requests for w in own_writes(r)]
                    found = outside(diff(Snapshot.from_json(schedule.snapshot), current), writes)
                number = await self._store.record_watch_pass(
                    NAME,
                    self.holder,
                    runs=schedule.runs,
                    snapshot=current.to_json(),
                    read_at=read_at,
                    due_at=read_at + self.interval,
                    found=found,
                    at=self._clock(),
                )
        except FingerprintError as exc:
            await self._failed(exc.error_code, describe(exc), exc.correlation_id)
            return None
        except StoreUnavailable as exc:
            await self._failed("store.unavailable", describe(exc), "")
            return None
        except Exception as exc:
            log.exception("watch_pass_failed")
            await self._failed("watch.failed", describe(exc), "")
            return None
        else:
            outcome = "ok" if number is not None else "lost"
        finally:
            if self._metrics is not None:
                self._metrics.watch_pass_seconds.labels(outcome=outcome).observe(
                    time.monotonic() - started
                )
        self._retry_at = None
        if number is None:
            log.info("watch_pass_not_recorded", reason="another pass was recorded meanwhile")
            return None
        self.passes += 1
        log.info(
            "watch_pass",
            number=number,
            found=len(found),
            items=len(current.items),
            baseline=schedule.snapshot is None,
        )
        if self._metrics is not None:
            for change in found:
                self._metrics.outside_changes.labels(resource=change.resource.value).inc()
        await self._notifier.resolve(API_CAUSES | {Cause.STORE_UNREACHABLE})
        if found:
            await self.post_reports()
        return number

    async def _read(self) -> Snapshot:
        """The account as it is now: one listing per resource the API version has."""
        client = self._client
        with client.background():
            envs, keys, hooks = await asyncio.gather(
                client.list_environments(), client.list_api_keys(), client.list_webhooks()
            )
            if client.api_version != FULL_VERSION:
                return snapshot_of(envs, keys, hooks)
            rules, enckeys, subdomains = await asyncio.gather(
                client.list_filtering_rules(),
                client.list_encryption_keys(),
                client.list_subdomains(),
            )
        return snapshot_of(envs, keys, hooks, rules=rules, enckeys=enckeys, subdomains=subdomains)

    async def post_reports(self) -> None:
        """Post every pass's findings not posted yet, one message each, oldest first."""
        if self._channel is None:
            return
        while True:
            try:
                number = await self._store.claim_report(now=self._clock(), grace=REPORT_GRACE)
                if number is None:
                    return
                found = await self._store.found_in(number)
                posted = await self._slack.post(self._channel, self._outside.message(found))
                if self._metrics is not None:
                    self._metrics.notifications.labels(kind="outside_change").inc()
                await self._store.set_report(number, posted.channel, posted.ts)
            except DeliveryFailed as exc:  # claimed: posted again after the grace
                log.warning("outside_report_not_posted", error=exc.error)
                return
            except StoreUnavailable as exc:
                log.warning("outside_report_not_posted", error=str(exc))
                return

    async def _failed(self, error_code: str, detail: str, correlation_id: str) -> None:
        retry = min(self.interval.total_seconds(), RETRY_MAX)
        self._retry_at = self._clock() + timedelta(seconds=retry)
        await self._notifier.report(
            Failure(
                title=WATCH_FAILED,
                operation="account watch",
                error_code=error_code,
                detail=detail,
                correlation_id=correlation_id or new_correlation_id("fpb"),
            )
        )

    @contextlib.asynccontextmanager
    async def _holding(self) -> AsyncIterator[None]:
        """Keep the watch's lease renewed while a pass runs (a large account takes a while at
        a fifth of the budget)."""
        stop = asyncio.Event()

        async def renew() -> None:
            interval = self._lease.total_seconds() / 3
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                    return
                now = self._clock()
                try:
                    await self._store.hold_schedule(
                        NAME, self.holder, now=now, lease=self._lease, first_due=now
                    )
                except StoreUnavailable as exc:
                    log.warning("watch_lease_not_renewed", error=str(exc))

        beating = asyncio.create_task(renew(), name="watch:lease")
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(beating, return_exceptions=True)
