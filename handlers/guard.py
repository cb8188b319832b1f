"""What a request to fpbot must prove before any listener sees it.

Over HTTP, Slack signs every request: `SignatureCheck` verifies the signature and the freshness
of the timestamp on the raw bytes, before anything parses them, so a stranger's garbage costs
one HMAC and one (throttled) warning line. Then, in both modes, `RequestGuard` (a Bolt
middleware that runs before authorization and every listener) admits only requests of the
one workspace and app the bot token belongs to (`Workspace`, learned from ``auth.test`` at
start-up): a signing secret proves a request came through Slack, not that it came from *our*
workspace's people. Last, a signature proves freshness, not one-time use: the same signed bytes
are valid again for five minutes, so a payload with a ``trigger_id`` (commands, clicks, form
submissions, shortcuts) is handled once, whichever replica it reaches (`Replays`). Refusals are
logged through a `Throttle`: strangers choose how many requests they send, not how many lines
fpbot writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.log import Throttle, get_logger
from bot.ports import DeliveryFailed
from bot.settings import SettingsError
from bot.slack import SlackMessenger
from bot.store import Store
from bot.tasks import TaskSet

log = get_logger(__name__)

#: Seconds between two warning lines for the same kind of refusal (`bot.log.Throttle`).
REFUSAL_LOG_INTERVAL = 10.0
#: Slack's rule: a timestamp more than five minutes from now is refused (a replay, or a
#: clock badly off).
MAX_CLOCK_SKEW = 5 * 60
#: How long the replay check may hold up an acknowledgement before the request is handled
#: anyway (`Replays`): Slack gives three seconds in all.
CLAIM_TIMEOUT = 0.5
#: The most trigger_ids claimed in one transaction (a store that was stuck leaves many).
CLAIM_BATCH = 500
#: How long a handled ``trigger_id`` is remembered: far beyond the five minutes in which a
#: signed request can be replayed over HTTP, and Socket Mode's redeliveries.
REMEMBER_TRIGGERS = timedelta(hours=1)
#: How often (per process) the older ones are forgotten, in the background.
FORGET_EVERY = 600.0

# Unix seconds, ASCII digits only: ``int()`` would also take signs, spaces, underscores and
# other scripts' digits, none of which Slack sends.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SignatureCheck:
    """Slack's request signature: ``v0=hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" +
    body))`` with a timestamp within `MAX_CLOCK_SKEW` of now.

    Args:
        signing_secret: the app's signing secret.
        clock: Unix seconds (tests pass their own).
    """

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._key = signing_secret.encode()
        self._clock = clock

    def problem(
        self, timestamp: str | None, signature: str | None, body: bytes | None = None
    ) -> str | None:
        """Why the request is not proven to come from Slack, or ``None`` when it is.

        Without ``body`` only the headers are judged, so a request that cannot be genuine is
        refused before its body is even read.
        """
        if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
            return "timestamp missing or not a number"
        if abs(self._clock() - int(timestamp)) > MAX_CLOCK_SKEW:
            return "timestamp not within five minutes"
        if signature is None or not _SIGNATURE.fullmatch(signature):
            return "signature missing or malformed"
        if body is None:
            return None
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._key, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "signature does not match"
        return None


class Refusals:
    """The one warning line per kind of refused request, throttled."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self._throttle = Throttle(interval)

    def refused(self, reason: str, *, status: int, **fields: object) -> None:
        """Log that a request was refused, answered with HTTP ``status`` (200: acknowledged
        and dropped)."""
        self._throttle.warning(
            log, "slack_request_refused", key=reason, reason=reason, status=status, **fields
        )


@dataclass(frozen=True, slots=True)
class Workspace:
    """The workspace and app the bot token belongs to, as ``auth.test`` names them.

    ``app_id`` is ``None`` when ``auth.test`` does not name the app; ``api_app_id`` is then
    not checked (the workspace still is).
    """

    team_id: str
    app_id: str | None = None
    bot_id: str | None = None
    bot_user_id: str | None = None
    enterprise_id: str | None = None

    @classmethod
    async def of_token(cls, messenger: SlackMessenger) -> Workspace:
        """Ask Slack whose token this is (``auth.test``), once, at start-up.

        Raises:
            SettingsError: Slack refused the token or could not be asked; fpbot cannot serve
                without knowing which workspace to serve.
        """
        try:
            identity = await messenger.auth_test()
        except DeliveryFailed as exc:
            raise SettingsError(
                f"SLACK_BOT_TOKEN could not be checked with Slack: auth.test answered {exc.error}"
            ) from None
        team_id = identity.get("team_id")
        if not isinstance(team_id, str) or not team_id:
            raise SettingsError("SLACK_BOT_TOKEN could not be checked: auth.test named no team")

        def text(key: str) -> str | None:
            value = identity.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            team_id=team_id,
            app_id=text("app_id"),
            bot_id=text("bot_id"),
            bot_user_id=text("user_id"),
            enterprise_id=text("enterprise_id"),
        )

    def stranger(self, body: dict[str, Any]) -> str | None:
        """Why a payload is not from this workspace and app, or ``None`` when it is.

        The workspace is ``team_id`` (commands, events) or ``team.id`` (interactions); every one
        present must be ours, and one must be present — but in Slack's own ``url_verification``,
        which names none and reaches no listener. ``user.team_id`` is not checked: in a shared
        channel the person clicking may belong to another workspace, and the policy judges
        people by their user id.
        """
        team = body.get("team")
        teams = [body.get("team_id"), team.get("id") if isinstance(team, dict) else None]
        named = [t for t in teams if t is not None]
        if any(t != self.team_id for t in named):
            return "another workspace"
        if not named and body.get("type") != "url_verification":
            return "no workspace named"
        app = body.get("api_app_id")
        if app is not None and self.app_id is not None and app != self.app_id:
            return "another app"
        return None


class Replays:
    """Whether a payload with a ``trigger_id`` is delivered for the first time, asked of the
    store so that every replica agrees (`bot.store.Store.claim_triggers`: one ``INSERT … ON
    CONFLICT DO NOTHING``). Payloads without one (events) cost nothing.

    The check stands between a request and its acknowledgement, so it must be cheap under a
    burst: one transaction at a time per process, and the claims that arrive while it is being
    written go together in the next (group commit). A hundred concurrent commands then cost a
    few transactions, not a hundred transactions fighting for SQLite's write lock.

    When the store does not answer within `CLAIM_TIMEOUT`, or fails, the request is handled
    as a first delivery (fail open), and the claim, if it is still under way, is left to
    finish. Refusing instead would drop every command and click, silently — Slack shows
    nothing for an empty acknowledgement — for as long as the store is slow; handled, a command
    that needs the store fails visibly when it does, and one that does not (a listing, help)
    works. What a replay could then cause twice is a listing, or a second change request, which
    needs its own approval; clicks are idempotent in the store regardless.

    Handled ``trigger_id``s are remembered for `REMEMBER_TRIGGERS`; every `FORGET_EVERY`
    seconds a background task forgets the older ones.
    """

    def __init__(
        self,
        store: Store,
        tasks: TaskSet,
        *,
        timeout: float = CLAIM_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._timeout = timeout
        self._clock = clock
        self._forgot_at = float("-inf")
        # The next batch: trigger_id → one future per delivery waiting for the answer: True
        # for the first delivery of a trigger the store had not seen, False for the others,
        # or why the store could not tell ("timeout", "store failed (…)").
        self._waiting: dict[str, list[asyncio.Future[bool | str]]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._skips = Throttle(REFUSAL_LOG_INTERVAL)

    async def first_delivery(self, trigger_id: str) -> bool:
        """Claim ``trigger_id``: ``False`` if a delivery of it was handled before."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool | str] = loop.create_future()
        self._waiting.setdefault(trigger_id, []).append(answer)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="claim-triggers")
        give_up = loop.call_later(self._timeout, _answer, answer, "timeout")
        try:
            first = await answer  # the claim itself is never cancelled
        finally:
            give_up.cancel()
        if isinstance(first, str):
            self._skips.warning(log, "replay_check_skipped", key=first, error=first)
            return True
        return first

    async def _write(self) -> None:
        """Write the waiting claims, one batch (transaction) at a time, until none wait."""
        try:
            while self._waiting:
                batch = dict(itertools.islice(self._waiting.items(), CLAIM_BATCH))
                for trigger_id in batch:
                    del self._waiting[trigger_id]
                now = self._clock()
                try:
                    claimed = await self._store.claim_triggers(batch, now)
                except Exception as exc:  # every waiter fails open, and logs it (throttled)
                    failed = f"store failed ({type(exc).__name__})"
                    for answers in batch.values():
                        for answer in answers:
                            _answer(answer, failed)
                    continue
                for trigger_id, answers in batch.items():
                    for n, answer in enumerate(answers):
                        _answer(answer, n == 0 and trigger_id in claimed)
                if claimed and time.monotonic() - self._forgot_at >= FORGET_EVERY:
                    self._forgot_at = time.monotonic()
                    self._tasks.spawn(self._forget(now - REMEMBER_TRIGGERS), name="forget-triggers")
        finally:
            self._writer = None

    async def _forget(self, seen_before: datetime) -> None:
        try:
            await self._store.forget_triggers(seen_before)
        except Exception as exc:  # the next claim's turn will try again
            log.warning("forgetting_triggers_failed", error=type(exc).__name__)
            self._forgot_at = float("-inf")


def _answer(future: asyncio.Future[bool | str], result: bool | str) -> None:
    """Answer a waiting claim unless it has its answer already (it gave up, say)."""
    if not future.done():
        future.set_result(result)


class RequestGuard(AsyncMiddleware):
    """Bolt middleware, before authorization: the request must come from our workspace; its
    ``trigger_id`` is claimed, so that only its first delivery does anything (`once`).

    A refusal never reaches a listener or the API, and a foreign request not even the store.
    Over HTTP a foreign request is answered ``refused_status`` (403); in Socket Mode there is no
    one to answer but Slack, so the envelope is acknowledged (200) and dropped — unacknowledged,
    Slack would deliver it again. A replay is acknowledged as its first delivery was, and the
    work its listener spawns is dropped: the person sees nothing new.

    Args:
        workspace: whose requests are served.
        refusals: where refusals are logged.
        refused_status: the HTTP status of a foreign request's refusal (``200`` in Socket Mode).
        replays: the replay check; ``None`` for none.
        serving: entered from here until the answer: in Socket Mode, where no web handler
            marks the request as foreground (`bot.tasks.Foreground.serving`).
    """

    def __init__(
        self,
        workspace: Workspace,
        refusals: Refusals,
        *,
        refused_status: int,
        replays: Replays | None = None,
        serving: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self._workspace = workspace
        self._refusals = refusals
        self._refused_status = refused_status
        self._replays = replays
        self._serving = serving

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        with self._serving():
            body = req.body
            reason = self._workspace.stranger(body)
            if reason is not None:
                team = body.get("team")
                self._refusals.refused(
                    reason,
                    status=self._refused_status,
                    team_id=_short(
                        body.get("team_id") or (team.get("id") if isinstance(team, dict) else None)
                    ),
                    api_app_id=_short(body.get("api_app_id")),
                )
                return BoltResponse(status=self._refused_status, body="")
            trigger_id = body.get("trigger_id")
            if (
                self._replays is not None
                and isinstance(trigger_id, str)
                and 0 < len(trigger_id) <= 255
            ):
                # Claimed now, awaited by the work the listener spawns after its ack (`once`):
                # the acknowledgement never waits on the store.
                claim = asyncio.ensure_future(self._replays.first_delivery(trigger_id))
                req.context[FIRST_DELIVERY] = FirstDelivery(claim, self._refusals)
            return await next()


#: Where `RequestGuard` leaves a request's replay claim in Bolt's context.
FIRST_DELIVERY = "fpbot_first_delivery"


@dataclass(frozen=True, slots=True)
class FirstDelivery:
    """A request's claim on its ``trigger_id``, under way while the listener acks."""

    claim: asyncio.Future[bool]
    refusals: Refusals

    async def confirmed(self) -> bool:
        """Whether this is the first delivery; a replay is logged (throttled) and dropped."""
        if await self.claim:
            return True
        self.refusals.refused("already handled (replay)", status=200)
        return False


def once(context: Mapping[str, Any], work: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None]:
    """``work`` to spawn after the ack, run only if the request is not a replay.

    A replay is still acknowledged like the first delivery (an ack says nothing a person
    would see twice: an empty ack, a usage error, a form's field errors); what it would do
    after — a listing, a change request, a click — is done once.
    """
    first = context.get(FIRST_DELIVERY)
    if not isinstance(first, FirstDelivery):
        return work

    async def if_first() -> None:
        if await first.confirmed():
            await work
        else:
            work.close()

    return if_first()


def _short(value: object) -> str | None:
    """A value a stranger chose, cut to a size fit for a log line."""
    return None if value is None else str(value)[:40]
