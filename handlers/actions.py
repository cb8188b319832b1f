"""Buttons and menus: ack at once, then hand the click to the core.

Approve, Deny (which opens a form asking why), Withdraw, Check now and Retry on cards, receipts
and App Home; "Disable old key now" and "Revert" on a rotation in its grace period; the ⋯ menu
on a listing's rows; the picker inside a form; Acknowledge, Revert and Keep on a change the
account watch found made outside fpbot. Buttons on a channel message can be clicked by anyone in
the channel, so who clicked is checked by the core at click time — the message being visible
proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.log import get_logger, new_correlation_id
from bot.ports import Origin, Posted
from bot.render import ids
from bot.render.forms import read_metadata
from bot.render.replies import render_restarting
from bot.services import Services
from handlers.guard import once

log = get_logger(__name__)

Work = Callable[[Services, str, Origin], Coroutine[Any, Any, None]]

#: What each button does with its value (a request id) and who clicked it.
BUTTONS: dict[str, Work] = {
    ids.APPROVE: lambda s, value, origin: s.changes.click(value, approve=True, origin=origin),
    ids.DENY: lambda s, value, origin: s.forms.open_deny(value, origin),
    ids.CANCEL: lambda s, value, origin: s.changes.withdraw(value, origin),
    ids.CHECK: lambda s, value, origin: s.changes.check(value, origin),
    ids.RETRY: lambda s, value, origin: s.changes.retry(value, origin),
    ids.ROW_MENU: lambda s, value, origin: s.forms.row_menu(value, origin),
    ids.OUTSIDE_ACK: lambda s, value, origin: s.outside.acknowledge(value, origin),
    ids.OUTSIDE_REVERT: lambda s, value, origin: s.outside.revert(value, origin),
    ids.OUTSIDE_KEEP: lambda s, value, origin: s.outside.keep(value, origin),
    ids.END_GRACE: lambda s, value, origin: s.changes.follow_up_rotation(
        value, revert=False, origin=origin
    ),
    ids.REVERT_ROTATION: lambda s, value, origin: s.changes.follow_up_rotation(
        value, revert=True, origin=origin
    ),
}


def register(app: AsyncApp, services: Services) -> None:
    for action_id, work in BUTTONS.items():
        app.action(action_id)(_listener(services, action_id, work))
    app.action(ids.PICK_CHANGE)(_picker(services))


def origin_of(body: dict[str, Any]) -> Origin:
    """Who clicked, where, and what the click can answer with — from the signed payload.

    A click on a channel message carries the message's channel and ts, which Slack shows
    before its poster hears them; a click inside a form or App Home carries neither.
    """
    channel = str((body.get("channel") or {}).get("id", ""))
    container = body.get("container") or {}
    message_ts = container.get("message_ts")
    message = None
    if message_ts and channel and not container.get("is_ephemeral"):
        message = Posted(channel, str(message_ts))
    return Origin(
        user_id=str(body["user"]["id"]),
        channel_id=channel,
        response_url=body.get("response_url"),
        correlation_id=new_correlation_id("fpb"),
        message=message,
        trigger_id=body.get("trigger_id"),
    )


def _value_of(action: dict[str, Any]) -> str:
    """A button's value, or the option chosen in a menu."""
    selected = action.get("selected_option") or {}
    return str(selected.get("value") or action.get("value") or "")


def _listener(services: Services, action_id: str, work: Work) -> Any:
    async def on_click(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        try:
            origin = origin_of(body)
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
                once(context, work(services, _value_of(action), origin)),
                name=f"{action_id}:{origin.correlation_id}",
            )
        except Exception:
            log.exception("click_not_started", action=action_id)

    on_click.__name__ = action_id
    return on_click


def _picker(services: Services) -> Any:
    async def on_pick(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        try:
            view = body.get("view") or {}
            opened_in = read_metadata(view.get("private_metadata")).get("channel", "")
            origin = replace(origin_of(body), channel_id=opened_in)
            picked = services.forms.picked(
                _value_of(action),
                origin,
                view_id=str(view.get("id", "")),
                view_hash=view.get("hash"),
            )
            services.tasks.spawn(once(context, picked), name=f"pick:{origin.correlation_id}")
        except Exception:
            log.exception("pick_not_started")

    return on_pick
