"""Slack's Web API and ``response_url``s, one call at a time: post, edit, whisper, DM, answer.

It wraps slack_sdk's ``AsyncWebClient`` with the retry handlers Slack's rules call for (429
honouring ``Retry-After``, 5xx, connection errors — slack_sdk retries only the last by
default; a message that must arrive exactly once retries rate limits only), and turns every
Slack failure into `SlackDeliveryError`, so nothing above this package sees slack_sdk types.
Messages are `bot.render.Message` values: a plain-text fallback plus blocks.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.log import get_logger
from bot.ports import DeliveryFailed, Posted
from bot.render.blocks import Message

log = get_logger(__name__)

#: Slack accepts at most five posts through one ``response_url`` within 30 minutes.
RESPONSE_URL_POSTS = 5
RESPONSE_URL_LIFETIME = 30 * 60.0
#: Slack calls in flight at once from one process.
OUTBOUND_CONCURRENCY = 8
_JSON_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
    }
)


def retry_handlers(*, once: bool = False) -> list[Any]:
    """The retry policy for every Slack call: rate limits, server errors, dropped connections.

    With ``once``, only rate limits: a 429 means Slack did nothing, whereas a 5xx or a
    connection dropped mid-request may come after Slack has posted the message.
    """
    if once:
        return [AsyncRateLimitErrorRetryHandler(max_retry_count=3)]
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def make_web_client(
    token: str, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """An ``AsyncWebClient`` with fpbot's retry policy and a bounded timeout.

    Without a ``session`` slack_sdk opens a new connection pool for every call; the bot passes
    one shared session so a burst of answers doesn't pay a TCP (and TLS) handshake each.
    """
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=retry_handlers(),
        session=session,
    )


class SlackDeliveryError(DeliveryFailed):
    """Slack refused or could not take a message; ``error`` is Slack's code."""


async def _now() -> None:
    """Send at once (no foreground to yield to)."""


class SlackMessenger:
    """Posts `Message`s to Slack and keeps count of each ``response_url``'s budget.

    Args:
        client: the Web API client.
        before_call: awaited before every call goes out; the bot passes
            `bot.tasks.Foreground.idle`, so deliveries wait while acknowledgements are due.
    """

    def __init__(
        self, client: AsyncWebClient, *, before_call: Callable[[], Awaitable[None]] = _now
    ) -> None:
        self.client = client
        self._before_call = before_call
        # response_url → (first post, posts); a URL is dead after 30 minutes, so is its entry.
        self._response_posts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        # Answers go out a few at a time: hundreds of posts made ready at once (a shared
        # listing landing) would queue new requests' acks behind all of them.
        self._outbound = asyncio.Semaphore(OUTBOUND_CONCURRENCY)

    @classmethod
    def connect(
        cls, token: str, base_url: str, *, before_call: Callable[[], Awaitable[None]] = _now
    ) -> SlackMessenger:
        """A messenger with its own connection pool (call inside the running event loop)."""
        return cls(
            make_web_client(token, base_url, aiohttp.ClientSession()), before_call=before_call
        )

    async def aclose(self) -> None:
        """Close the connection pool, if this messenger opened one."""
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        once: bool = False,
    ) -> Posted:
        """Post to a channel (or a thread when ``thread_ts`` is given).

        Args:
            once: the message must never arrive twice (a secret): the post is not repeated
                after a server error or a dropped connection — either may come after Slack
                has posted it — only after a rate limit, when Slack did nothing. It goes out
                on a fresh connection, so a stale pooled one cannot fail it. A failure then
                means "perhaps not delivered", and is raised as `SlackDeliveryError`.
        """
        data = await self._call(
            "chat.postMessage",
            once=once,
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return Posted(channel=str(data.get("channel", channel)), ts=str(data["ts"]))

    async def update(self, channel: str, ts: str, message: Message) -> None:
        """Edit a message in place (the approval message on every transition)."""
        await self._call(
            "chat.update", channel=channel, ts=ts, text=message.text, blocks=message.blocks
        )

    async def delete(self, channel: str, ts: str) -> None:
        """Delete a message the bot posted (a second card for one request)."""
        await self._call("chat.delete", channel=channel, ts=ts)

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        """Whisper to one person in a channel (used when no ``response_url`` is at hand)."""
        await self._call(
            "chat.postEphemeral",
            channel=channel,
            user=user,
            text=message.text,
            blocks=message.blocks,
        )

    async def dm(self, user: str, message: Message, *, once: bool = False) -> Posted:
        """Send a direct message: ``conversations.open`` then ``chat.postMessage``.

        ``once`` (for secrets) applies to the post, as in `post`; opening the conversation
        is harmless to repeat and keeps every retry.
        """
        opened = await self._call("conversations.open", users=user)
        channel = opened.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else channel
        if not isinstance(channel_id, str):
            raise SlackDeliveryError("conversations.open", "no_channel_in_response")
        return await self.post(channel_id, message, once=once)

    def response_url_budget(self, response_url: str) -> int:
        """How many more posts this ``response_url`` takes."""
        return RESPONSE_URL_POSTS - self._response_posts.get(response_url, (0.0, 0))[1]

    def _count_post(self, response_url: str) -> None:
        now = time.monotonic()
        while self._response_posts:
            oldest, (first, _) = next(iter(self._response_posts.items()))
            if now - first < RESPONSE_URL_LIFETIME:
                break
            del self._response_posts[oldest]
        first, posts = self._response_posts.get(response_url, (now, 0))
        self._response_posts[response_url] = (first, posts + 1)

    async def respond(
        self,
        response_url: str,
        message: Message,
        *,
        in_channel: bool = False,
        replace_original: bool = False,
    ) -> None:
        """Answer through a ``response_url``, as given in the signed payload.

        ``replace_original`` is always sent explicitly: Slack's default differs between
        commands and clicks, and a click's refusal must never wipe the approval message.
        """
        if self.response_url_budget(response_url) <= 0:
            raise SlackDeliveryError("response_url", "used_url")
        self._count_post(response_url)
        webhook = AsyncWebhookClient(
            response_url,
            timeout=10,
            retry_handlers=retry_handlers(),
            session=self.client.session,
        )
        await self._before_call()
        try:
            async with self._outbound:
                response = await webhook.send(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="in_channel" if in_channel else "ephemeral",
                    replace_original=replace_original,
                )
        except (SlackClientError, OSError) as exc:
            raise SlackDeliveryError("response_url", type(exc).__name__) from None
        if response.status_code >= 400:
            raise SlackDeliveryError("response_url", f"http_{response.status_code}")

    async def group_members(self, group_id: str) -> list[str]:
        """Members of a user group (``usergroups.users.list``), for user-group grants."""
        data = await self._call("usergroups.users.list", usergroup=group_id)
        return [str(u) for u in data.get("users", [])]

    async def permalink(self, channel: str, ts: str) -> str:
        """``chat.getPermalink``: a link to a message (a card, a thread reply)."""
        data = await self._call("chat.getPermalink", channel=channel, message_ts=ts)
        link = data.get("permalink")
        if not isinstance(link, str):
            raise SlackDeliveryError("chat.getPermalink", "no_permalink_in_response")
        return link

    async def views_open(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """``views.open``: a modal, within three seconds of the trigger."""
        return await self._call("views.open", trigger_id=trigger_id, view=view)

    async def views_update(
        self, view_id: str, view: dict[str, Any], view_hash: str | None = None
    ) -> dict[str, Any]:
        """``views.update``: replace an open modal (``hash``: only if unchanged since)."""
        return await self._call("views.update", view_id=view_id, view=view, hash=view_hash)

    async def views_publish(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """``views.publish``: a person's App Home."""
        return await self._call("views.publish", user_id=user_id, view=view)

    async def auth_test(self) -> dict[str, Any]:
        """``auth.test``: proves the bot token works (``fpbot check``)."""
        return await self._call("auth.test")

    def _client_for_once(self) -> AsyncWebClient:
        """The same client, retrying only rate limits, on a connection of its own."""
        client = copy.copy(self.client)
        client.retry_handlers = retry_handlers(once=True)
        client.session = None  # slack_sdk opens (and closes) a session for the one call
        return client

    async def _call(self, method: str, *, once: bool = False, **kwargs: Any) -> dict[str, Any]:
        args = {k: v for k, v in kwargs.items() if v is not None}
        client = self._client_for_once() if once else self.client
        await self._before_call()
        try:
            async with self._outbound:
                # Methods that carry blocks or views take JSON (they stay structured); the
                # others want a form body.
                if method in _JSON_METHODS:
                    response = await client.api_call(method, json=args)
                else:
                    response = await client.api_call(method, params=args)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            details = exc.response.get("response_metadata", {}).get("messages")
            log.warning("slack_call_failed", method=method, error=error, details=details)
            raise SlackDeliveryError(method, error) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            log.warning("slack_unreachable", method=method, error=type(exc).__name__)
            raise SlackDeliveryError(method, "unreachable") from None
        return dict(response.data) if isinstance(response.data, dict) else {}
