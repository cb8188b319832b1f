"""Approve and Deny buttons: ack at once, then let the workflow decide what the click means.

Buttons on a channel message can be clicked by anyone in the channel, so who clicked is checked
by the workflow at click time — the message being visible proves nothing.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.log import get_logger, new_correlation_id
from bot.ports import Origin
from bot.render.ids import APPROVE, DENY
from bot.render.replies import render_restarting
from bot.services import Services

log = get_logger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    for action_id, approve in ((APPROVE, True), (DENY, False)):
        app.action(action_id)(_listener(services, approve=approve))


def _listener(services: Services, *, approve: bool) -> Any:
    async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            origin = Origin(
                user_id=str(body["user"]["id"]),
                channel_id=str((body.get("channel") or {}).get("id", "")),
                response_url=body.get("response_url"),
                correlation_id=new_correlation_id("fpb"),
            )
            if services.tasks.closing:
                # Shutting down: the click is not handled, and the clicker hears so at once
                # (Slack ignores an ack's body for a button, so through response_url). The
                # answer is tracked like any work, so the drain waits for it.
                log.info("click_while_restarting", user=origin.user_id)
                services.tasks.spawn(
                    services.slack.answer(origin, render_restarting()),
                    name=f"restarting:{origin.correlation_id}",
                )
                return
            services.tasks.spawn(
                services.changes.click(
                    str(action.get("value", "")), approve=approve, origin=origin
                ),
                name=f"click:{origin.correlation_id}",
            )
        except Exception:
            log.exception("click_not_started")

    on_click.__name__ = "approve_request" if approve else "deny_request"
    return on_click
