"""What a request to fpbot must prove before any listener sees it (interface.md §9).

Over HTTP, Slack signs every request: `SignatureCheck` verifies the signature and the freshness
of the timestamp on the raw bytes, before anything parses them, so a stranger's garbage costs
one HMAC and one (throttled) warning line. Refusals are logged through a `Throttle`: strangers
choose how many requests they send, not how many lines fpbot writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable

from bot.log import Throttle, get_logger

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
