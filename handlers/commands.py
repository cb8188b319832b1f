"""The ``/fp`` slash command: ack at once, then run the parsed command in the background."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.log import get_logger
from bot.ports import Origin
from bot.render.replies import render_restarting
from bot.services import Services
from handlers.guard import once
from handlers.middleware import parse_command

log = get_logger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/fp", middleware=[parse_command])
    async def fp(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if services.tasks.closing:
            restarting = render_restarting()
            await ack(response_type="ephemeral", text=restarting.text, blocks=restarting.blocks)
            return
        await ack()
        try:
            origin = Origin(
                user_id=str(body["user_id"]),
                channel_id=str(body["channel_id"]),
                response_url=str(body["response_url"]),
                correlation_id=str(context["correlation_id"]),
                trigger_id=body.get("trigger_id"),
            )
            services.tasks.spawn(
                once(context, services.runner.run(context["fp_command"], origin)),
                name=f"fp:{origin.correlation_id}",
            )
        except Exception:
            log.exception("command_not_started")
