"""Alerts for the notifications channel: incidents by cause, and cards for the rest.

A failure whose cause is a condition outside any one command — the Management API key
rejected, the API unavailable, the store unreachable (`bot.domain.incidents`) — is counted in
that cause's **incident**: one card, whatever command or request met it, listing the commands
and people it hit, carrying the fix for operators and mentioning whoever is on call, edited to
"Resolved" when something proves the cause cleared (`Notifier.resolve`, `Notifier.proven`) —
and opened again, on the same card, if the cause returns within the grouping window, so a
flapping cause is never a flood of cards. A change request that failed keeps a card of its
own, linked to the incident of its cause. Any other failure is grouped as before: the same
operation and error code within ten minutes edits the first card with a count.

Incidents and groups live in the store, so replicas share them; when the store itself is what
failed, per-process ones stand in. Never silence instead of a message: the replica that opens
an incident (or a group) posts it; if that post fails (Slack refuses, or the store cannot save
where it landed), the next occurrence posts it again — at once in the same process, after
`CLAIM_GRACE` in any other.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.incidents import Cause, cause_of
from bot.log import get_logger, scrub
from bot.metrics import Metrics
from bot.ports import Conversation, DeliveryFailed, Posted
from bot.render import Message, render_notification
from bot.render.blocks import escape
from bot.render.incidents import IncidentView, render_incident
from bot.render.notifications import STORE_UNREACHABLE
from bot.store import Incident, Store, StoreUnavailable

log = get_logger(__name__)

GROUP_WINDOW = timedelta(minutes=10)
#: How often a process asks the store which incidents are open (another replica's included),
#: so that what it proves works resolves them.
REFRESH_OPEN = 60.0
#: A failure of a change request is about that request: its card is its own.
_REQUEST_OPERATION = re.compile(r"CR-[0-9A-Z]{6}\b")


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
    user: str | None = None  # who met it, when a person did

    @classmethod
    def store_unavailable(
        cls, operation: str, exc: BaseException, correlation_id: str, user: str | None = None
    ) -> Failure:
        """The store could not be reached while doing ``operation`` (one title and code, so
        commands and clicks hitting the same outage read alike)."""
        return cls(
            title=STORE_UNREACHABLE,
            operation=operation,
            error_code="store.unavailable",
            detail=describe(exc),
            correlation_id=correlation_id,
            user=user,
        )

    @property
    def cause(self) -> Cause | None:
        return cause_of(self.error_code)

    @property
    def about_a_request(self) -> bool:
        return _REQUEST_OPERATION.match(self.operation) is not None


@dataclass
class _LocalGroup:
    first_at: datetime
    count: int
    channel: str | None = None
    ts: str | None = None
    operations: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    #: A per-process incident resolved at this moment (reopened if it recurs within a window).
    resolved_at: datetime | None = None


@dataclass
class _Key:
    """What this process knows of one notification key (a group, or an incident's cause)."""

    last_seen: datetime
    #: One post at a time per key in this process, so the first post's ts is known before
    #: the next identical failure edits it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The shared group or incident this process claimed or posted (``first_at`` and ``id``
    #: tell which), with the message it posted — kept in case the store did not save it.
    mine: _LocalGroup | None = None
    mine_id: int | None = None
    #: The per-process group (or incident) that stands in while the store is unreachable.
    local: _LocalGroup | None = None


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a group or an incident stands, as the store (or this process) counted it."""

    is_new: bool
    first_at: datetime
    identity: int | None
    channel: str | None
    ts: str | None


#: How long the replica that claimed a group has to post it and save its message; after
#: that, the next occurrence without a saved message posts one itself rather than stay silent.
CLAIM_GRACE = timedelta(seconds=5)
#: ``chat.update`` errors that mean the group's message is gone: post a new one instead.
_MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class Notifier:
    """Posts `Failure`s to ``channels.notifications``; never raises into the caller.

    Args:
        oncall: the user or user group mentioned on incident cards (``channels.oncall``).
        metrics: counts every message posted.
    """

    def __init__(
        self,
        slack: Conversation,
        store: Store,
        channel: str | None,
        *,
        oncall: str | None = None,
        window: timedelta = GROUP_WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self._slack = slack
        self._store = store
        self._channel = channel
        self._oncall = oncall
        self._window = window
        self._clock = clock
        self._metrics = metrics
        # Keys carry request ids, so there are always new ones: least recently seen first,
        # and a key not seen for a whole window is forgotten (an incident's is kept while
        # it is open).
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        #: The causes that may have an open incident: hit here, or found open in the store.
        self._maybe_open: set[Cause] = set()
        self._refreshed = float("-inf")
        self._resolving: asyncio.Task[None] | None = None

    async def report(self, failure: Failure) -> None:
        """Post or count ``failure``; a failure to notify is logged, not raised."""
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
        cause = failure.cause
        incident: Posted | None = None
        if cause is not None:
            incident = await self._guarded(f"incident:{cause}", self._incident, cause, failure)
            if not failure.about_a_request:
                return
        key = f"{failure.operation}|{failure.error_code}"
        await self._guarded(key, self._card, key, failure, incident)

    async def resolve(self, causes: Iterable[Cause]) -> None:
        """Something just worked that ``causes`` would have made fail: resolve their open
        incidents (edited to "Resolved at …"). Cheap when none is open: the store is asked
        which are at most every `REFRESH_OPEN` seconds."""
        wanted = set(causes)
        if time.monotonic() - self._refreshed >= REFRESH_OPEN:
            self._refreshed = time.monotonic()
            try:
                self._maybe_open |= {Cause(i.cause) for i in await self._store.open_incidents()}
            except StoreUnavailable:
                pass
            except ValueError:  # a cause this fpbot does not know (a newer replica's)
                log.warning("incident_cause_unknown")
        local = {c for c in wanted if self._local_incident(c) is not None}
        for cause in sorted((wanted & self._maybe_open) | local):
            key = f"incident:{cause}"
            state = self._key(key, self._clock())
            async with state.lock:
                try:
                    await self._resolve(cause, state)
                except DeliveryFailed as exc:
                    log.error("notification_not_delivered", key=key, error=exc.error)
                except Exception:
                    log.exception("incident_not_resolved", cause=str(cause))

    def proven(self, causes: Iterable[Cause]) -> None:
        """`resolve` in the background, from code that cannot wait (a successful API call):
        nothing at all unless one of ``causes`` may be open or the store is due a look."""
        wanted = frozenset(causes)
        stale = time.monotonic() - self._refreshed >= REFRESH_OPEN
        maybe = any(c in self._maybe_open or self._local_incident(c) for c in wanted)
        if not (maybe or stale) or (self._resolving is not None and not self._resolving.done()):
            return
        try:
            self._resolving = asyncio.get_running_loop().create_task(
                self.resolve(wanted), name="incidents:resolve"
            )
        except RuntimeError:  # no running loop: nothing to resolve from here
            return

    async def close(self) -> None:
        """Let a resolution under way finish (shutdown)."""
        if self._resolving is not None:
            await asyncio.gather(self._resolving, return_exceptions=True)

    def tracked_keys(self) -> int:
        """How many keys this process remembers (for tests: the memory stays bounded)."""
        return len(self._keys)

    # ── the machinery shared by groups and incidents ────────────────────────────────────

    async def _guarded(
        self,
        key: str,
        work: Callable[..., Awaitable[Posted | None]],
        *args: object,
    ) -> Posted | None:
        state = self._key(key, self._clock())
        async with state.lock:
            try:
                return await work(state, *args)
            except DeliveryFailed as exc:
                log.error("notification_not_delivered", key=key, error=exc.error)
            except Exception:
                # The notifier is the last resort of every failure path: it must not be
                # the reason one of them breaks.
                log.exception("notification_failed", key=key)
        return None

    def _key(self, key: str, now: datetime) -> _Key:
        while self._keys:
            oldest_key, oldest = next(iter(self._keys.items()))
            if now - oldest.last_seen <= self._window or oldest.lock.locked():
                break
            local_open = oldest.local is not None and oldest.local.resolved_at is None
            if oldest_key.startswith("incident:") and (local_open or oldest.mine):
                self._keys.move_to_end(oldest_key)  # an incident is kept until resolved
                oldest.last_seen = now
                continue
            self._keys.popitem(last=False)
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key(last_seen=now)
        else:
            state.last_seen = now
            self._keys.move_to_end(key)
        return state

    async def _deliver(
        self,
        state: _Key,
        slot: _Slot,
        message: Message,
        save: Callable[[str, str], Awaitable[None]],
        kind: str,
    ) -> Posted | None:
        """Edit the slot's message, or post it when this caller should: a new slot; or this
        process's post of it failed; or its claimant has had time to post and saved nothing;
        or its message is gone. Returns where the message is, when known."""
        assert self._channel is not None
        now = self._clock()
        if slot.ts is not None and slot.channel is not None:
            if await self._edit(slot.channel, slot.ts, message):
                return Posted(slot.channel, slot.ts)
        else:
            mine = state.mine if state.mine_id == slot.identity and state.mine else None
            if mine is not None and (mine.first_at != slot.first_at):
                mine = None
            if mine is not None and mine.ts is not None and mine.channel is not None:
                # This process posted the message but the store did not keep it.
                if await self._edit(mine.channel, mine.ts, message):
                    await save(mine.channel, mine.ts)
                    return Posted(mine.channel, mine.ts)
            elif not (slot.is_new or mine is not None or now - slot.first_at >= CLAIM_GRACE):
                # Another replica claimed it a moment ago and is posting it; the next
                # occurrence edits its message with the count (or posts, past the grace).
                return None
        mine = state.mine = _LocalGroup(slot.first_at, 0)
        state.mine_id = slot.identity
        posted = await self._post(message, kind)
        mine.channel, mine.ts = posted.channel, posted.ts
        await save(posted.channel, posted.ts)
        return posted

    async def _post(self, message: Message, kind: str) -> Posted:
        assert self._channel is not None
        posted = await self._slack.post(self._channel, message)
        if self._metrics is not None:
            self._metrics.notifications.labels(kind=kind).inc()
        return posted

    async def _edit(self, channel: str, ts: str, message: Message) -> bool:
        """Edit a message; ``False`` if it is gone (deleted), so post anew."""
        try:
            await self._slack.edit(Posted(channel, ts), message)
        except DeliveryFailed as exc:
            if exc.error not in _MESSAGE_GONE:
                raise
            log.warning("notification_message_gone", error=exc.error)
            return False
        return True

    async def _local(
        self, state: _Key, message: Callable[[_LocalGroup], Message], now: datetime, kind: str
    ) -> Posted:
        """The store is unreachable: count in this process only."""
        group = state.local
        if group is None or (
            not kind.startswith("incident") and now - group.first_at > self._window
        ):
            group = state.local = _LocalGroup(first_at=now, count=0)
        group.count += 1
        rendered = message(group)
        if (
            group.ts is not None
            and group.channel is not None
            and await self._edit(group.channel, group.ts, rendered)
        ):
            return Posted(group.channel, group.ts)
        posted = await self._post(rendered, kind)
        group.channel, group.ts = posted.channel, posted.ts
        return posted

    # ── cards grouped by operation and error code ───────────────────────────────────────

    async def _card(self, state: _Key, key: str, failure: Failure, incident: Posted | None) -> None:
        now = self._clock()
        link = await self._slack.permalink(incident) if incident is not None else None
        try:
            slot = await self._store.notification_slot(key, now, self._window)
        except StoreUnavailable:
            await self._local(
                state,
                lambda group: self._render(failure, group.count, group.first_at, now, link),
                now,
                "failure",
            )
            return
        message = self._render(failure, slot.count, slot.first_at, now, link)

        async def save(channel: str, ts: str) -> None:
            try:
                await self._store.set_notification_ts(key, channel, ts)
            except StoreUnavailable:
                log.warning("notification_ts_not_saved", key=key)

        shared = _Slot(slot.is_new, slot.first_at, None, slot.channel, slot.ts)
        await self._deliver(state, shared, message, save, "failure")

    @staticmethod
    def _render(
        failure: Failure, count: int, first_at: datetime, now: datetime, incident: str | None
    ) -> Message:
        return render_notification(
            title=failure.title,
            operation=failure.operation,
            error_code=failure.error_code,
            correlation_id=failure.correlation_id,
            detail=failure.detail,
            count=count,
            first_at=first_at,
            last_at=now,
            incident=incident,
        )

    # ── incidents ───────────────────────────────────────────────────────────────────────

    async def _incident(self, state: _Key, cause: Cause, failure: Failure) -> Posted | None:
        now = self._clock()
        try:
            incident = await self._store.incident_hit(
                cause.value,
                operation=failure.operation,
                user=failure.user,
                error_code=failure.error_code,
                correlation_id=failure.correlation_id,
                detail=failure.detail,
                now=now,
                reopen_within=self._window,
            )
        except StoreUnavailable:

            def view(group: _LocalGroup) -> Message:
                _remember(group.operations, failure.operation)
                _remember(group.users, failure.user)
                return self._render_incident(
                    IncidentView(
                        cause,
                        group.count,
                        group.first_at,
                        now,
                        group.operations,
                        group.users,
                        failure.error_code,
                        failure.correlation_id,
                        failure.detail,
                    )
                )

            return await self._local(state, view, now, "incident")
        self._maybe_open.add(cause)
        message = self._render_incident(_view(incident))

        async def save(channel: str, ts: str) -> None:
            try:
                await self._store.set_incident_message(incident.id, channel, ts)
            except StoreUnavailable:
                log.warning("incident_ts_not_saved", cause=str(cause))

        slot = _Slot(
            incident.is_new, incident.opened_at, incident.id, incident.channel, incident.ts
        )
        return await self._deliver(state, slot, message, save, "incident")

    async def _resolve(self, cause: Cause, state: _Key) -> None:
        now = self._clock()
        local = state.local
        if local is not None and local.resolved_at is None:
            local.resolved_at = now
            if local.channel is not None and local.ts is not None:
                view = IncidentView(
                    cause,
                    local.count,
                    local.first_at,
                    now,
                    local.operations,
                    local.users,
                    cause.value,
                    "",
                    "",
                    resolved_at=now,
                )
                await self._edit(local.channel, local.ts, self._render_incident(view))
        try:
            resolved = await self._store.resolve_incident(cause.value, now)
        except StoreUnavailable:
            return
        self._maybe_open.discard(cause)
        if resolved is None:
            return
        log.info("incident_resolved", cause=str(cause), count=resolved.count)
        mine = state.mine if state.mine_id == resolved.id else None
        state.mine, state.mine_id = None, None
        channel = resolved.channel or (mine.channel if mine else None)
        ts = resolved.ts or (mine.ts if mine else None)
        if channel is not None and ts is not None:
            await self._edit(channel, ts, self._render_incident(_view(resolved)))

    def _local_incident(self, cause: Cause) -> _LocalGroup | None:
        """This process's own incident of ``cause`` (the store was down), while open."""
        state = self._keys.get(f"incident:{cause}")
        local = state.local if state is not None else None
        return local if local is not None and local.resolved_at is None else None

    def _render_incident(self, view: IncidentView) -> Message:
        return render_incident(view, oncall=self._oncall)


def _view(incident: Incident) -> IncidentView:
    return IncidentView(
        cause=Cause(incident.cause),
        count=incident.count,
        opened_at=incident.opened_at,
        last_at=incident.last_at,
        operations=incident.operations,
        users=incident.users,
        error_code=incident.error_code,
        correlation_id=incident.correlation_id,
        detail=incident.detail,
        resolved_at=incident.resolved_at,
    )


def _remember(known: list[str], value: str | None) -> None:
    if value and value not in known and len(known) < 50:
        known.append(value)
