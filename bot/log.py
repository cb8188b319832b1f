"""Structured logging with secrets scrubbed out of every line.

Everything — fpbot's own events, and the stdlib loggers of slack_bolt, slack_sdk, aiohttp and
httpx — goes through one structlog pipeline whose last step before rendering is `redact`. Bolt
logs a whole request body on a bad signature, and API errors may echo the caller's key, so the
scrubbing works on text anywhere in an event (messages, exception text, nested values), not
only on well-known keys.
"""

from __future__ import annotations

import bisect
import logging
import re
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

from bot.domain.secrets import is_secret_field

REDACTED = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and anything shaped like one.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}"), r"\1 " + REDACTED),
    # Slack tokens: bot, user, app-level, refresh, config.
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9\-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9\-]+"), REDACTED),
    # response_url values, whether as a bare URL, a form field or a JSON field.
    (re.compile(r"https://hooks\.slack\.com/[^\s\"'&<>]+"), REDACTED),
    (
        re.compile(
            r"(?i)(\"?(?:response_url|token|signing_key|api_key)\"?\s*[=:]\s*\"?)[^\s\"&,}]+"
        ),
        r"\1" + REDACTED,
    ),
    # Socket Mode's WebSocket URL carries a one-time ticket that connects as the app.
    (re.compile(r"(?i)\b(ticket=)[^\s\"'&]+"), r"\1" + REDACTED),
    # Passwords inside URLs (DATABASE_URL, REDIS_URL).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
)

#: How many registered values (beyond the permanent ones) are remembered. Every secret the API
#: returns is registered, and a long-running process must not grow without bound as they
#: accumulate. The least recently registered is forgotten first: a secret key's token or a
#: webhook's signing key is returned once, when it is created, and passed on at once, so by the
#: time ten thousand newer values have been seen it has long stopped appearing in anything fpbot
#: logs. The configured credentials are registered ``permanent`` and never forgotten.
MAX_KNOWN_SECRETS = 10_000

# Registered values are at least this long; `scrub` looks a text's substrings of this length up
# by the values' first characters once there are more values than _FEW.
_MIN_SECRET = 6
_FEW = 64


class _KnownSecrets:
    """The registered values, kept sorted longest first as they are added (a secret that
    contains another is replaced whole; `scrub` never sorts), and indexed by their first
    `_MIN_SECRET` characters, so that scrubbing a text with thousands registered costs a pass
    over the text instead of a search for each value.

    Registration may come from any thread (stdlib loggers log from executor threads); readers
    use `longest_first`, a tuple replaced whole on each change, and single lookups of `_index`,
    whose entries are replaced whole too.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.longest_first: tuple[str, ...] = ()
        self._permanent: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._sorted: list[str] = []
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.longest_first)

    def add(self, value: str, *, permanent: bool) -> None:
        with self._lock:
            if value in self._permanent:
                return
            if value in self._recent:
                if permanent:
                    del self._recent[value]
                    self._permanent.add(value)
                else:
                    self._recent.move_to_end(value)
                return
            if permanent:
                self._permanent.add(value)
            else:
                self._recent[value] = None
                while len(self._recent) > self.limit:
                    self._forget(self._recent.popitem(last=False)[0])
            bisect.insort(self._sorted, value, key=lambda v: -len(v))
            prefix = value[:_MIN_SECRET]
            self._index[prefix] = (*self._index.get(prefix, ()), value)
            self.longest_first = tuple(self._sorted)

    def _forget(self, value: str) -> None:
        self._sorted.remove(value)
        prefix = value[:_MIN_SECRET]
        rest = tuple(v for v in self._index[prefix] if v != value)
        if rest:
            self._index[prefix] = rest
        else:
            del self._index[prefix]

    def found_in(self, text: str) -> list[str]:
        """The registered values that may occur in ``text``, longest first."""
        if len(self.longest_first) <= _FEW:
            return [secret for secret in self.longest_first if secret in text]
        grams = {text[i : i + _MIN_SECRET] for i in range(len(text) - _MIN_SECRET + 1)}
        found = [s for gram in grams for s in self._index.get(gram, ()) if s in text]
        return sorted(found, key=len, reverse=True)


_known_secrets = _KnownSecrets(MAX_KNOWN_SECRETS)


def new_correlation_id(prefix: str) -> str:
    """An id a person can quote and an operator can grep: ``<prefix>-`` and 12 hex digits.

    ``fpb-`` names one Slack request (a command or a click), ``fp-`` one Management API call.
    """
    return f"{prefix}-{secrets.token_hex(6)}"


def register_secret(value: str | None, *, permanent: bool = False) -> None:
    """Make `redact` remove this exact value wherever it appears (keys, tokens, secrets).

    Management API keys and secret key tokens have no recognisable shape, so the values
    themselves are registered: the configured key at start-up, a created token the moment the
    API returns it. Only secrets belong here. The most recent `MAX_KNOWN_SECRETS` are
    remembered; ``permanent`` ones (the configured credentials) always.
    """
    if value and len(value) >= _MIN_SECRET:
        _known_secrets.add(value, permanent=permanent)


#: What any of `_PATTERNS` needs to find in a text: most values logged (event names, ids,
#: counts, short messages) have none of it, and skip the patterns.
_SUSPECT = re.compile(
    r"(?i)bearer|basic|xox|xapp-|hooks\.slack\.com|token|signing_key|api_key|response_url"
    r"|ticket=|://"
)


def scrub(text: str) -> str:
    """Return ``text`` with every secret pattern and every registered secret removed."""
    for secret in _known_secrets.found_in(text):
        text = text.replace(secret, REDACTED)
    if _SUSPECT.search(text):
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
    return text


def _scrub_value(key: str | None, value: Any) -> Any:
    if key is not None and is_secret_field(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, MutableMapping):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(None, v) for v in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub every value of the event, recursively."""
    for key in list(event_dict):
        event_dict[key] = _scrub_value(key, event_dict[key])
    return event_dict


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(level: str = "INFO", fmt: str | None = None, stream: Any = None) -> None:
    """Set up structlog and route the stdlib's loggers through the same redacting pipeline.

    Args:
        level: ``DEBUG``…``ERROR``.
        fmt: ``json`` or ``console``; ``None`` picks console on a TTY, JSON otherwise.
        stream: where lines go (stdout by default); tests pass a buffer.
    """
    stream = stream or sys.stdout
    if fmt is None:
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        # Both chains above end with `redact`, so a record reaches every handler scrubbed.
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter that is never useful at INFO.
    for name in ("httpx", "httpcore", "aiohttp.access", "asyncio", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    """A logger with ``context`` bound (request id, user, command…)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**context) if context else logger


class Throttle:
    """One log line per key every ``interval`` seconds; the lines held back are counted.

    Whatever strangers can trigger at will — refused requests, connections over the cap — must
    not become a log line each: three hundred bad requests a second would write megabytes a
    minute and bury everything else. The first occurrence of a key is logged at once; later ones
    within ``interval`` are only counted, and the next line that does go out says how many were
    held back, so the operator still learns how big the flood was. Keys are few and fixed (a
    reason, never a value a client chose), so the table stays small.

    Args:
        interval: seconds between two lines of the same key.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key → (when last logged, held back)

    def admit(self, key: str) -> int | None:
        """``None`` to hold this line back; otherwise how many were held back before it."""
        now = self._clock()
        logged_at, held = self._last.get(key, (float("-inf"), 0))
        if now - logged_at < self.interval:
            self._last[key] = (logged_at, held + 1)
            return None
        self._last[key] = (now, 0)
        return held

    def warning(
        self, logger: structlog.stdlib.BoundLogger, event: str, *, key: str, **fields: Any
    ) -> None:
        """``logger.warning(event, **fields)`` unless held back; adds ``held_back`` when some
        lines of this key were."""
        held = self.admit(key)
        if held is None:
            return
        if held:
            fields["held_back"] = held
        logger.warning(event, **fields)
