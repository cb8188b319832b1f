"""Builds the Bolt ``AsyncApp``: Slack's signing check, fpbot's listeners, an error net."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

import handlers
from bot.log import get_logger
from bot.services import Services

log = get_logger(__name__)


def build_app(services: Services, *, socket_mode: bool = False) -> AsyncApp:
    """A Bolt app wired to ``services``.

    Bolt's own signature check is off: in HTTP mode `bot.server` verifies every request before
    its body is even parsed (Bolt would parse first, and log a traceback for a malformed
    timestamp), and Socket Mode needs none.

    fpbot's listeners only parse, ack and hand the work over (`bot.tasks`), so Bolt runs them
    to completion before answering (``process_before_response``) instead of starting each as a
    task and polling every 10 ms for its ack. Every request counts as foreground until it is
    answered, so after-ack work waits until the acknowledgements in progress are out: from its
    arrival over HTTP (`bot.server`), from its dispatch in Socket Mode (here).
    """
    settings = services.settings
    assert settings.slack_bot_token is not None
    app = AsyncApp(
        client=services.messenger.client,
        signing_secret="",
        request_verification_enabled=False,
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )

    if socket_mode:

        @app.middleware
        async def foreground(next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
            with services.tasks.foreground.serving():
                return await next()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        log.error("bolt_error", error_type=type(error).__name__, exc_info=error)
        return BoltResponse(status=200, body="")

    handlers.register(app, services)
    return app
