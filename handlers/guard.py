"""What a request to fpbot must prove before any listener sees it (interface.md §9).

Over HTTP, Slack signs every request: `SignatureCheck` verifies the signature and the freshness
of the timestamp on the raw bytes, before anything parses them, so a stranger's garbage costs
one HMAC and one (throttled) warning line. Then, in both modes, `RequestGuard` (a Bolt
middleware that runs before authorization and every listener) admits only requests of the
one workspace and app the bot token belongs to (`Workspace`, learned from ``auth.test`` at
start-up): a signing secret proves a request came through Slack, not that it came from *our*
workspace's people. Refusals are logged through a `Throttle`: strangers choose how many
requests they send, not how many lines fpbot writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.log import Throttle, get_logger
from bot.ports import DeliveryFailed
from bot.settings import SettingsError
from bot.slack import SlackMessenger

log = get_logger(__name__)

#: Seconds between two warning lines for the same kind of refusal (`bot.log.Throttle`).
REFUSAL_LOG_INTERVAL = 10.0
#: Slack's rule: a timestamp more than five minutes from now is refused (a replay, or a
#: clock badly off).
MAX_CLOCK_SKEW = 5 * 60

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
        """Log that a request was refused with HTTP ``status`` (0: acknowledged, dropped)."""
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


class RequestGuard(AsyncMiddleware):
    """Bolt middleware, before authorization: the request must come from our workspace.

    A refusal never reaches a listener, the API or the store. Over HTTP it is answered
    ``refused_status`` (403); in Socket Mode there is no one to answer but Slack, so the
    envelope is acknowledged (200) and dropped — unacknowledged, Slack would deliver it again.

    Args:
        workspace: whose requests are served.
        refusals: where refusals are logged.
        refused_status: the HTTP status of a refusal (``200`` in Socket Mode).
    """

    def __init__(self, workspace: Workspace, refusals: Refusals, *, refused_status: int) -> None:
        self._workspace = workspace
        self._refusals = refusals
        self._refused_status = refused_status

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
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
        return await next()


def _short(value: object) -> str | None:
    """A value a stranger chose, cut to a size fit for a log line."""
    return None if value is None else str(value)[:40]
