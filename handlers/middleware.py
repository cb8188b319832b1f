"""Listener middleware for ``/fp``: parse the text before anything else happens.

Parsing is pure and fast, so a wrong input is answered in the ack itself (ephemeral, with the
right usage) and nothing else runs. Authorization needs the caller's user groups from Slack,
which can be slow, so it happens after the ack, in `bot.runner` — the single gate every
command passes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.commands import SLASH_COMMAND, UsageError, parse
from bot.log import get_logger, new_correlation_id
from bot.render import render_usage_error

log = get_logger(__name__)


async def parse_command(
    body: dict[str, Any],
    ack: AsyncAck,
    context: AsyncBoltContext,
    next: Callable[[], Awaitable[None]],
) -> BoltResponse | None:
    """Store the parsed command in ``context["fp_command"]``, or answer the usage error.

    A listener middleware that does not call ``next`` must return the response itself: Bolt
    otherwise takes the listener as not matching and answers Slack with a 404.
    """
    correlation_id = new_correlation_id("fpb")
    context["correlation_id"] = correlation_id
    try:
        context["fp_command"] = parse(str(body.get("text") or ""))
    except UsageError as exc:
        log.info(
            "command_unusable",
            request_id=correlation_id,
            user=body.get("user_id"),
            problem=exc.problem,
        )
        usage = "\n".join(f"{SLASH_COMMAND} {line}" for line in exc.usage.splitlines())
        message = render_usage_error(exc.problem, usage)
        return await ack(response_type="ephemeral", text=message.text, blocks=message.blocks)
    await next()
    return None
