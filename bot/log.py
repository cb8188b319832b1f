"""Structured logging with secrets scrubbed out of every line.

Everything — fpbot's own events, and the stdlib loggers of slack_bolt, slack_sdk, aiohttp and
httpx — goes through one structlog pipeline whose last step before rendering is `redact`. Bolt
logs a whole request body on a bad signature, and API errors may echo the caller's key, so the
scrubbing works on text anywhere in an event (messages, exception text, nested values), not
only on well-known keys.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[REDACTED]"

# Keys whose values are secret whatever they hold.
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "token",
        "bot_token",
        "app_token",
        "signing_secret",
        "signing_key",
        "secret",
        "api_key",
        "management_api_key",
        "response_url",
        "password",
    }
)

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

_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Make `redact` remove this exact value wherever it appears (keys, tokens, secrets).

    Management API keys and secret key tokens have no recognisable shape, so the values
    themselves are registered: the configured key at start-up, a created token the moment the
    API returns it.
    """
    if value and len(value) >= 6:
        _known_secrets.add(value)


def scrub(text: str) -> str:
    """Return ``text`` with every secret pattern and every registered secret removed."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_value(key: str | None, value: Any) -> Any:
    if key is not None and key.lower() in _SECRET_KEYS and value not in (None, ""):
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
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter that is never useful at INFO.
    for name in ("httpx", "httpcore", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    """A logger with ``context`` bound (request id, user, command…)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**context) if context else logger
