"""Builds the Bolt ``AsyncApp``: the request guard, fpbot's listeners, an error net."""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

import handlers
from bot.log import get_logger
from bot.services import Services
from handlers.guard import Refusals, Replays, RequestGuard, Workspace

log = get_logger(__name__)


class _OneWorkspace(AsyncAuthorize):
    """Bolt's authorization for the one workspace ``auth.test`` named at start-up.

    Bolt would otherwise call ``auth.test`` again on the first request; the `RequestGuard`
    before it has already refused every other workspace.
    """

    def __init__(self, workspace: Workspace, bot_token: str) -> None:
        self._workspace = workspace
        self._bot_token = bot_token

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        workspace = self._workspace
        return AuthorizeResult(
            enterprise_id=workspace.enterprise_id,
            team_id=workspace.team_id,
            bot_user_id=workspace.bot_user_id,
            bot_id=workspace.bot_id,
            bot_token=self._bot_token,
            user_id=user_id,
        )


def build_app(
    services: Services,
    workspace: Workspace,
    *,
    socket_mode: bool = False,
    refusals: Refusals | None = None,
) -> AsyncApp:
    """A Bolt app wired to ``services``, serving ``workspace`` only.

    Bolt's own signature check is off: in HTTP mode `bot.server` verifies every request before
    its body is even parsed (Bolt would parse first, and log a traceback for a malformed
    timestamp), and Socket Mode needs none. A `RequestGuard` runs before authorization and
    every listener: requests of another workspace or app, and replays, go no further.

    fpbot's listeners only parse, ack and hand the work over (`bot.tasks`), so Bolt runs them
    to completion before answering (``process_before_response``) instead of starting each as a
    task and polling every 10 ms for its ack. Every request counts as foreground until it is
    answered, so after-ack work waits until the acknowledgements in progress are out: from its
    arrival over HTTP (`bot.server`), from the guard in Socket Mode.
    """
    settings = services.settings
    assert settings.slack_bot_token is not None
    # Bolt's client (the per-request copies it makes) takes its token from `_OneWorkspace`;
    # given one here as well, Bolt would warn at start that it ignores it.
    client = copy.copy(services.messenger.client)
    client.token = None
    app = AsyncApp(
        client=client,
        signing_secret="",
        request_verification_enabled=False,
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
        authorize=_OneWorkspace(workspace, settings.slack_bot_token.get_secret_value()),
        before_authorize=RequestGuard(
            workspace,
            refusals or Refusals(),
            refused_status=200 if socket_mode else 403,
            replays=Replays(services.store, services.tasks),
            serving=services.tasks.foreground.serving if socket_mode else contextlib.nullcontext,
        ),
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        log.error("bolt_error", error_type=type(error).__name__, exc_info=error)
        return BoltResponse(status=200, body="")

    handlers.register(app, services)
    return app
