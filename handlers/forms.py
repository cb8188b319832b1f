"""Forms: their menus, their submissions, and the shortcut that opens one.

A form's submission must be answered within three seconds with either nothing (the form
closes) or the errors to show next to its fields, so the listener asks the core to check it
first, answers, and only then hands the request over to run in the background.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.log import get_logger, new_correlation_id
from bot.ports import Origin, Posted
from bot.render import ids
from bot.render.forms import read_metadata
from bot.services import Services
from handlers.guard import once

log = get_logger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    app.view(re.compile("^" + re.escape(ids.FORM_PREFIX)))(_submitted(services))
    app.view(ids.DENY_FORM)(_denied(services))
    for action_id in (
        ids.PICK_ENV,
        ids.PICK_KEY,
        ids.PICK_WEBHOOK,
        ids.PICK_RULE,
        ids.PICK_ENCKEY,
        ids.PICK_SUBDOMAIN,
    ):
        app.options(action_id)(_options(services, action_id))
    app.shortcut(ids.SHORTCUT)(_shortcut(services))


def values_of(view: dict[str, Any]) -> dict[str, str | None]:
    """What was entered or picked in a submitted form, by block id (one input per block)."""
    values: dict[str, str | None] = {}
    for block_id, elements in ((view.get("state") or {}).get("values") or {}).items():
        for element in elements.values():
            selected = element.get("selected_option") or {}
            values[block_id] = selected.get("value") or element.get("value")
    return values


def _origin(body: dict[str, Any], channel_id: str) -> Origin:
    return Origin(
        user_id=str(body["user"]["id"]),
        channel_id=channel_id,
        response_url=None,
        correlation_id=new_correlation_id("fpb"),
        trigger_id=body.get("trigger_id"),
    )


def _submitted(services: Services) -> Any:
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        try:
            command, problems = await services.forms.check(
                str(view.get("callback_id", "")), values_of(view)
            )
        except Exception:
            log.exception("form_not_checked")
            await ack()
            return
        if problems:
            await ack(response_action="errors", errors=problems)
            return
        await ack()
        if command is None:
            return
        channel = read_metadata(view.get("private_metadata")).get("channel", "")
        origin = _origin(body, channel)
        services.tasks.spawn(
            once(context, services.forms.submit(command, origin)),
            name=f"form:{origin.correlation_id}",
        )

    return on_submit


def _denied(services: Services) -> Any:
    async def on_deny(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        reason = values_of(view).get("reason")
        problems = services.forms.check_deny(reason)
        if problems:
            await ack(response_action="errors", errors=problems)
            return
        await ack()
        meta = read_metadata(view.get("private_metadata"))
        origin = _origin(body, meta.get("channel", ""))
        if meta.get("card_channel") and meta.get("card_ts"):
            origin = Origin(
                origin.user_id,
                origin.channel_id,
                None,
                origin.correlation_id,
                message=Posted(meta["card_channel"], meta["card_ts"]),
            )
        services.tasks.spawn(
            once(context, services.forms.deny(meta.get("request", ""), reason, origin)),
            name=f"deny:{origin.correlation_id}",
        )

    return on_deny


def _options(services: Services, action_id: str) -> Any:
    async def on_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            options = await services.forms.options(action_id, str(body.get("value") or ""))
        except Exception:
            log.exception("options_failed", action=action_id)
            options = []
        await ack(options=options)

    on_options.__name__ = f"options_{action_id}"
    return on_options


def _shortcut(services: Services) -> Any:
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        try:
            origin = _origin(body, "")
            services.tasks.spawn(
                once(context, services.forms.shortcut(origin)),
                name=f"shortcut:{origin.correlation_id}",
            )
        except Exception:
            log.exception("shortcut_not_started")

    return on_shortcut
