"""Failure notifications for the alerts channel, grouped so a storm makes one message.

"The same failure" is the same operation and error code (interface.md §8): within ten minutes
it edits the first message with a count instead of posting again. The group lives in the store,
so replicas share it; when the store itself is what failed, a per-process group stands in.

Never silence instead of a message: the replica that claims a new group posts it; if that post
fails (Slack refuses, or the store cannot save where it landed), the next occurrence posts it
again — at once in the same process, after `CLAIM_GRACE` in any other.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.log import get_logger, scrub
from bot.ports import Conversation, DeliveryFailed, Posted
from bot.render import Message, render_notification
from bot.render.blocks import escape
from bot.render.notifications import STORE_UNREACHABLE
from bot.store import Store, StoreUnavailable

log = get_logger(__name__)

GROUP_WINDOW = timedelta(minutes=10)


def describe(exc: BaseException) -> str:
    """An exception as a `Failure` detail: secrets scrubbed, escaped once for mrkdwn."""
    return escape(scrub(str(exc)) or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong, in the words the alerts channel and the logs share."""

    title: str  # e.g. "Listing environments failed"
    operation: str  # the command or request, e.g. "/fp envs" or "CR-7K2M9Q keys.rotate"
    error_code: str  # the API's code, or a local one ("store.unavailable")
    detail: str  # mrkdwn, escaped once: use `describe` for an exception's text
    correlation_id: str

    @classmethod
    def store_unavailable(cls, operation: str, exc: BaseException, correlation_id: str) -> Failure:
        """The store could not be reached while doing ``operation`` (one title and code, so
        commands and clicks hitting the same outage read alike)."""
        return cls(
            title=STORE_UNREACHABLE,
            operation=operation,
            error_code="store.unavailable",
            detail=describe(exc),
            correlation_id=correlation_id,
        )


@dataclass
class _LocalGroup:
    first_at: datetime
    count: int
    channel: str | None = None
    ts: str | None = None


@dataclass
class _Key:
    """What this process knows of one notification key."""

    last_seen: datetime
    #: One post at a time per key in this process, so the first post's ts is known before
    #: the next identical failure edits it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The shared group this process claimed or posted (its ``first_at`` tells which group),
    #: with the message it posted when it did — kept in case the store did not save it.
    mine: _LocalGroup | None = None
    #: The per-process group that stands in while the store is unreachable.
    local: _LocalGroup | None = None


#: How long the replica that claimed a group has to post it and save its message; after
#: that, the next occurrence without a saved message posts one itself rather than stay silent.
CLAIM_GRACE = timedelta(seconds=5)
#: ``chat.update`` errors that mean the group's message is gone: post a new one instead.
_MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class Notifier:
    """Posts `Failure`s to ``channels.notifications``; never raises into the caller."""

    def __init__(
        self,
        slack: Conversation,
        store: Store,
        channel: str | None,
        *,
        window: timedelta = GROUP_WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._slack = slack
        self._store = store
        self._channel = channel
        self._window = window
        self._clock = clock
        # Keys carry request ids, so there are always new ones: least recently seen first,
        # and a key not seen for a whole window is forgotten.
        self._keys: OrderedDict[str, _Key] = OrderedDict()

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
        state = self._key(key, self._clock())
        async with state.lock:
            try:
                await self._report(key, state, failure)
            except DeliveryFailed as exc:
                log.error("notification_not_delivered", key=key, error=exc.error)
            except Exception:
                # The notifier is the last resort of every failure path: it must not be
                # the reason one of them breaks.
                log.exception("notification_failed", key=key)

    def tracked_keys(self) -> int:
        """How many keys this process remembers (for tests: the memory stays bounded)."""
        return len(self._keys)

    def _key(self, key: str, now: datetime) -> _Key:
        while self._keys:
            oldest = next(iter(self._keys.values()))
            if now - oldest.last_seen <= self._window or oldest.lock.locked():
                break
            self._keys.popitem(last=False)
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key(last_seen=now)
        else:
            state.last_seen = now
            self._keys.move_to_end(key)
        return state

    async def _report(self, key: str, state: _Key, failure: Failure) -> None:
        assert self._channel is not None
        now = self._clock()
        try:
            slot = await self._store.notification_slot(key, now, self._window)
        except StoreUnavailable:
            await self._report_locally(state, failure, now)
            return
        message = self._render(failure, slot.count, slot.first_at, now)
        if slot.ts is not None and slot.channel is not None:
            if await self._edit(slot.channel, slot.ts, message):
                return
        else:
            mine = state.mine if state.mine and state.mine.first_at == slot.first_at else None
            if mine is not None and mine.ts is not None and mine.channel is not None:
                # This process posted the group's message but the store did not keep it.
                if await self._edit(mine.channel, mine.ts, message):
                    await self._save(key, mine.channel, mine.ts)
                    return
            elif not (slot.is_new or mine is not None or now - slot.first_at >= CLAIM_GRACE):
                # Another replica claimed the group a moment ago and is posting it; the next
                # occurrence edits its message with the count (or posts, past the grace).
                return
        # A new group; or this process's post of it failed; or its claimant has had time
        # to post and saved nothing; or its message is gone: post (again) and keep the ts.
        mine = state.mine = _LocalGroup(slot.first_at, slot.count)
        posted = await self._slack.post(self._channel, message)
        mine.channel, mine.ts = posted.channel, posted.ts
        await self._save(key, posted.channel, posted.ts)

    async def _report_locally(self, state: _Key, failure: Failure, now: datetime) -> None:
        """The store is unreachable: group in this process only."""
        assert self._channel is not None
        group = state.local
        if group is None or now - group.first_at > self._window:
            group = state.local = _LocalGroup(first_at=now, count=1)
        else:
            group.count += 1
        message = self._render(failure, group.count, group.first_at, now)
        if (
            group.ts is not None
            and group.channel is not None
            and await self._edit(group.channel, group.ts, message)
        ):
            return
        posted = await self._slack.post(self._channel, message)
        group.channel, group.ts = posted.channel, posted.ts

    async def _edit(self, channel: str, ts: str, message: Message) -> bool:
        """Edit the group's message; ``False`` if it is gone (deleted), so post anew."""
        try:
            await self._slack.edit(Posted(channel, ts), message)
        except DeliveryFailed as exc:
            if exc.error not in _MESSAGE_GONE:
                raise
            log.warning("notification_message_gone", error=exc.error)
            return False
        return True

    async def _save(self, key: str, channel: str, ts: str) -> None:
        try:
            await self._store.set_notification_ts(key, channel, ts)
        except StoreUnavailable:
            log.warning("notification_ts_not_saved", key=key)

    @staticmethod
    def _render(failure: Failure, count: int, first_at: datetime, now: datetime) -> Message:
        return render_notification(
            title=failure.title,
            operation=failure.operation,
            error_code=failure.error_code,
            correlation_id=failure.correlation_id,
            detail=failure.detail,
            count=count,
            first_at=first_at,
            last_at=now,
        )
