"""The core's `Conversation` port, spoken in Slack: how each answer actually gets delivered.

The core says *what* to tell whom ("answer this person", "post this listing to the channel",
"DM this secret once"); this module knows Slack's ways and limits:

* an ephemeral answer goes through the payload's ``response_url`` and, when that fails,
  through ``chat.postEphemeral``;
* a listing slower than `FETCHING_AFTER` first shows a "Fetching…" placeholder, posted through
  the Web API so ``chat.update`` can replace it in place (a slash command's ``response_url``
  cannot reliably replace a public message); its parts go through the ``response_url`` while it
  has posts to spare (one is kept in reserve for an error), then through ``chat.postMessage``;
  parts the channel refuses (the bot is not a member) go to the person by direct message, and
  the person is told what is missing and how to fix it — nothing is dropped;
* a secret's DM is sent "once": never repeated after an answer that may have come too late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from bot.log import get_logger
from bot.ports import Origin, Posted
from bot.render.blocks import Message
from bot.render.listings import render_fetch_failed, render_fetching, render_listing_incomplete
from bot.slack.messenger import SlackDeliveryError, SlackMessenger

log = get_logger(__name__)

#: A listing slower than this first shows "Fetching…" (a large account at 5 requests/s).
FETCHING_AFTER = 1.0


class SlackConversation:
    """`bot.ports.Conversation` over a `SlackMessenger`."""

    def __init__(self, messenger: SlackMessenger, *, fetching_after: float = FETCHING_AFTER):
        self.messenger = messenger
        self._fetching_after = fetching_after

    async def answer(self, origin: Origin, message: Message) -> None:
        """Ephemeral, through the ``response_url`` (never replacing the message clicked),
        else ``chat.postEphemeral``, else (no channel, or one the bot is not in) a direct
        message; a failure of all is logged, never raised."""
        if origin.response_url:
            try:
                await self.messenger.respond(origin.response_url, message, replace_original=False)
                return
            except SlackDeliveryError as exc:
                log.warning("answer_not_delivered", via="response_url", error=exc.error)
        if origin.channel_id:
            try:
                await self.messenger.ephemeral(origin.channel_id, origin.user_id, message)
                return
            except SlackDeliveryError as exc:
                log.warning("answer_not_delivered", via="chat.postEphemeral", error=exc.error)
        try:  # a form from the shortcut (no channel), or a channel the bot is not in
            await self.messenger.dm(origin.user_id, message)
        except SlackDeliveryError as exc:
            log.error("answer_not_delivered", via="dm", error=exc.error)

    async def deliver_listing(
        self, origin: Origin, what: str, listing: Awaitable[list[Message]]
    ) -> None:
        task = asyncio.ensure_future(listing)
        done, _ = await asyncio.wait({task}, timeout=self._fetching_after)
        placeholder: Posted | None = None
        if not done:
            try:
                placeholder = await self.messenger.post(origin.channel_id, render_fetching(what))
            except SlackDeliveryError:
                placeholder = None
        try:
            messages = await task
        except Exception:
            if placeholder is not None:
                await self._replace(placeholder, render_fetch_failed(what, origin.user_id))
            raise
        undelivered: list[Message] = []
        refused = ""
        for index, message in enumerate(messages):
            if undelivered:  # once a part is refused, the rest follow it, in order
                undelivered.append(message)
                continue
            if index == 0 and placeholder is not None and await self._replace(placeholder, message):
                continue
            try:
                await self._post_part(origin, message)
            except SlackDeliveryError as exc:
                refused = exc.error
                undelivered.append(message)
        if undelivered:
            await self._listing_incomplete(origin, what, undelivered, len(messages), refused)

    async def _post_part(self, origin: Origin, message: Message) -> None:
        """One part of a listing: through the ``response_url`` while it has a post to spare
        beyond the one kept for an error, then through the Web API."""
        url = origin.response_url
        if url and self.messenger.response_url_budget(url) > 1:
            await self.messenger.respond(url, message, in_channel=True, replace_original=False)
        else:
            await self.messenger.post(origin.channel_id, message)

    async def _listing_incomplete(
        self, origin: Origin, what: str, undelivered: list[Message], total: int, refused: str
    ) -> None:
        """Parts of a listing that Slack would not take in the channel (typically: the bot is
        not a member, so ``chat.postMessage`` is refused once the ``response_url`` is used up).

        The missing parts go to the person by direct message, which needs no channel
        membership (an ephemeral message in the channel would be refused just the same), and
        the person is told — through the ``response_url`` post kept in reserve — how much is
        missing from the channel, where it went and how to fix it.
        """
        log.warning(
            "listing_incomplete", what=what, missing=len(undelivered), total=total, error=refused
        )
        sent = 0
        for message in undelivered:
            try:
                await self.messenger.dm(origin.user_id, message)
            except SlackDeliveryError as exc:
                log.warning("listing_dm_failed", error=exc.error)
                break
            sent += 1
        notice = render_listing_incomplete(
            what=what,
            channel_id=origin.channel_id,
            missing=len(undelivered),
            total=total,
            sent_by_dm=sent,
            refused=refused,
            correlation_id=origin.correlation_id,
        )
        await self.answer(origin, notice)

    async def _replace(self, posted: Posted, message: Message) -> bool:
        """Edit a message the bot posted; whether Slack took the edit."""
        try:
            await self.messenger.update(posted.channel, posted.ts, message)
        except SlackDeliveryError as exc:
            log.warning("placeholder_not_replaced", error=exc.error)
            return False
        return True

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        return await self.messenger.post(channel, message, thread_ts=thread_ts)

    async def edit(self, posted: Posted, message: Message) -> None:
        await self.messenger.update(posted.channel, posted.ts, message)

    async def take_back(self, posted: Posted) -> None:
        try:
            await self.messenger.delete(posted.channel, posted.ts)
        except SlackDeliveryError as exc:
            log.warning("message_not_deleted", error=exc.error)

    async def tell(self, user_id: str, message: Message) -> None:
        try:
            await self.messenger.dm(user_id, message)
        except SlackDeliveryError as exc:
            log.warning("dm_not_delivered", error=exc.error)

    async def permalink(self, posted: Posted) -> str | None:
        try:
            return await self.messenger.permalink(posted.channel, posted.ts)
        except SlackDeliveryError as exc:
            log.warning("permalink_unavailable", error=exc.error)
            return None

    async def open_form(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.messenger.views_open(trigger_id, view)

    async def update_form(
        self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None
    ) -> None:
        await self.messenger.views_update(view_id, view, view_hash)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self.messenger.views_publish(user_id, view)

    async def deliver_secret(self, user_id: str, message: Message) -> bool:
        try:
            await self.messenger.dm(user_id, message, once=True)
        except SlackDeliveryError as exc:
            log.error("secret_not_delivered", error=exc.error)
            return False
        return True
