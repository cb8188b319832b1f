"""Failure notifications for the alerts channel, grouped so a storm makes one message.

"The same failure" is the same operation and error code (interface.md §8): within ten minutes
it edits the first message with a count instead of posting again. The group lives in the store,
so replicas share it; when the store itself is what failed, a per-process group stands in.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.log import get_logger
from bot.messenger import SlackDeliveryError, SlackMessenger
from bot.render import render_notification
from bot.store import Store, StoreUnavailable

log = get_logger(__name__)

GROUP_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong, in the words the alerts channel and the logs share."""

    title: str  # e.g. "Listing environments failed"
    operation: str  # the command or request, e.g. "/fp envs" or "CR-7K2M9Q keys.rotate"
    error_code: str  # the API's code, or a local one ("store.unavailable")
    detail: str
    correlation_id: str


@dataclass
class _LocalGroup:
    first_at: datetime
    count: int
    channel: str | None = None
    ts: str | None = None


class Notifier:
    """Posts `Failure`s to ``channels.notifications``; never raises into the caller."""

    def __init__(
        self,
        messenger: SlackMessenger,
        store: Store,
        channel: str | None,
        *,
        window: timedelta = GROUP_WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._messenger = messenger
        self._store = store
        self._channel = channel
        self._window = window
        self._clock = clock
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._local: dict[str, _LocalGroup] = {}

    async def report(self, failure: Failure) -> None:
        """Post or group ``failure``; a failure to notify is logged, not raised."""
        log.error(
            "failure",
            title=failure.title,
            operation=failure.operation,
            error_code=failure.error_code,
            correlation_id=failure.correlation_id,
            detail=failure.detail,
        )
        if self._channel is None:
            return
        key = f"{failure.operation}|{failure.error_code}"
        # One post at a time per group in this process, so the first post's ts is known
        # before the next identical failure edits it.
        async with self._locks[key]:
            try:
                await self._report(key, failure)
            except SlackDeliveryError as exc:
                log.error("notification_not_delivered", key=key, error=exc.error)

    async def _report(self, key: str, failure: Failure) -> None:
        assert self._channel is not None
        now = self._clock()
        try:
            slot = await self._store.notification_slot(key, now, self._window)
            group = _LocalGroup(slot.first_at, slot.count, slot.channel, slot.ts)
            shared = True
        except StoreUnavailable:
            group = self._local_group(key, now)
            shared = False
        message = render_notification(
            title=failure.title,
            operation=failure.operation,
            error_code=failure.error_code,
            correlation_id=failure.correlation_id,
            detail=failure.detail,
            count=group.count,
            first_at=group.first_at,
            last_at=now,
        )
        if group.ts is not None and group.channel is not None:
            await self._messenger.update(group.channel, group.ts, message)
            return
        if group.count > 1 and shared:
            # Another replica claimed the group and is posting it; its message will be edited
            # by the next identical failure.
            return
        posted = await self._messenger.post(self._channel, message)
        if shared:
            try:
                await self._store.set_notification_ts(key, posted.channel, posted.ts)
            except StoreUnavailable:
                log.warning("notification_ts_not_saved", key=key)
        else:
            group.channel, group.ts = posted.channel, posted.ts

    def _local_group(self, key: str, now: datetime) -> _LocalGroup:
        group = self._local.get(key)
        if group is None or now - group.first_at > self._window:
            group = self._local[key] = _LocalGroup(first_at=now, count=1)
        else:
            group.count += 1
        return group
