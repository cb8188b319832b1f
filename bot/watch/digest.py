"""The digest: ``/fp digest`` now, and once a day at ``watch.digest`` (UTC) to the
notifications channel.

Once a day across replicas: the next digest's time is kept in the store, and of the replicas
that find it due, the one whose conditional update moves it to the next day posts — so a
restart neither skips nor repeats a day. A fresh store's first digest is the next one at the
policy's time (not one at start-up); a digest missed while every replica was down is posted
late, once, not one per day missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, time, timedelta

from bot.domain import State
from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.limits import PLAN_LIMITS
from bot.fingerprint.models import ApiKey, Environment, Status, Webhook
from bot.log import get_logger, new_correlation_id
from bot.metrics import Metrics
from bot.notify import Failure, Notifier, describe
from bot.ports import AccountReader, Conversation, DeliveryFailed
from bot.render.blocks import Message
from bot.render.digest import RULES_NOT_COUNTED_2024, RULES_UNREADABLE, DigestView, render_digest
from bot.render.errors import summary_of
from bot.render.notifications import DIGEST_FAILED
from bot.store import Store, StoreUnavailable

log = get_logger(__name__)

NAME = "digest"
#: The API version whose filtering rules can be counted.
RULES_VERSION = "2025-11-20"
#: How long the loop sleeps at most before looking at the schedule again.
NAP = 300.0


def next_at(now: datetime, at: time) -> datetime:
    """The first moment after ``now`` at ``at`` o'clock UTC."""
    today = datetime.combine(now.astimezone(UTC).date(), at, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


class Digest:
    """Builds the digest, and posts it daily (`run`).

    Args:
        at: the daily time (``watch.digest``); ``None``: no daily digest.
        channel: where it goes (``channels.notifications``).
    """

    def __init__(
        self,
        *,
        store: Store,
        client: AccountReader,
        slack: Conversation,
        notifier: Notifier,
        at: time | None,
        channel: str | None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._client = client
        self._slack = slack
        self._notifier = notifier
        self.at = at
        self._channel = channel
        self._metrics = metrics
        self._clock = clock

    async def render(self, *, background: bool = False) -> Message:
        """The digest as things are now (the daily one reads in the background).

        Raises:
            StoreUnavailable: the requests and the change log could not be read.
        """
        now = self._clock()
        pending = await self._store.list_requests(states=[State.PENDING], limit=None)
        changes = await self._store.change_log(limit=None, since=now - timedelta(days=1))
        reading: AbstractContextManager[None] = (
            self._client.background() if background else nullcontext()
        )
        unreadable = None
        envs: list[Environment] | None = None
        keys: list[ApiKey] = []
        hooks: list[Webhook] = []
        with reading:
            try:
                envs, keys, hooks = await asyncio.gather(
                    self._client.list_environments(),
                    self._client.list_api_keys(),
                    self._client.list_webhooks(),
                )
            except FingerprintError as exc:
                unreadable = f"{summary_of(exc)} ({exc.error_code})"
            rules, note = await self._rules()
        limits = PLAN_LIMITS
        return render_digest(
            DigestView(
                now=now,
                environments=len(envs) if envs is not None else None,
                keys=None if unreadable else len(keys),
                key_limit=limits.api_keys,
                webhooks=None if unreadable else len(hooks),
                webhook_limit=limits.webhooks,
                rules=rules,
                rule_limit=limits.filtering_rules,
                rules_note=note,
                disabled_keys=[(k.id, k.name) for k in keys if k.status is Status.DISABLED],
                unverified_webhooks=[(h.id, h.url) for h in hooks if h.verified is False],
                pending=pending,
                changes=changes,
                unreadable=unreadable,
            )
        )

    async def _rules(self) -> tuple[int | None, str | None]:
        """How many filtering rules there are, or why they are not counted."""
        if self._client.api_version != RULES_VERSION:
            return None, RULES_NOT_COUNTED_2024
        try:
            return len(await self._client.list_filtering_rules()), None
        except FingerprintError as exc:
            log.warning("digest_rules_unreadable", error=exc.error_code)
            return None, RULES_UNREADABLE

    async def run(self, stop: asyncio.Event) -> None:
        """Post the digest at ``at`` every day until ``stop`` is set."""
        if self.at is None or self._channel is None:
            return
        while not stop.is_set():
            wait = await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def step(self) -> float:
        """Post today's digest if it is due and this replica claims it; the seconds until
        the next look."""
        assert self.at is not None
        now = self._clock()
        try:
            due = await self._store.schedule_due(NAME, first_due=next_at(now, self.at))
            if due > now:
                return min((due - now).total_seconds(), NAP)
            if await self._store.claim_run(NAME, due_at=due, next_due=next_at(now, self.at)):
                await self.post()
        except StoreUnavailable as exc:
            log.warning("digest_store_unavailable", error=str(exc))
            return 60.0
        return 1.0

    async def post(self) -> None:
        """Post the digest now to the notifications channel; a failure is reported."""
        assert self._channel is not None
        try:
            message = await self.render(background=True)
            await self._slack.post(self._channel, message)
        except (DeliveryFailed, StoreUnavailable) as exc:
            code = exc.error if isinstance(exc, DeliveryFailed) else "store.unavailable"
            await self._notifier.report(
                Failure(
                    title=DIGEST_FAILED,
                    operation="daily digest",
                    error_code=code if code == "store.unavailable" else f"slack.{code}",
                    detail=describe(exc),
                    correlation_id=new_correlation_id("fpb"),
                )
            )
            return
        if self._metrics is not None:
            self._metrics.notifications.labels(kind="digest").inc()
        log.info("digest_posted")
