"""What Slack does toward the bot: signed slash commands and button clicks over real HTTP.

`SlackDriver` plays the Slack side of a conversation for scenario tests, benchmarks and the
sandbox console. It builds the bodies Slack sends (form-encoded commands, ``payload=`` JSON for
``block_actions``), mints their ``response_url`` and ``trigger_id`` on the `FakeSlack`, signs
them, posts them to the bot's ``/slack/events``, and then behaves like Slack with the answer:
it gives up after three seconds, and shows a command's non-empty answer as a reply. A slow or
failed acknowledgement is recorded as a violation, because a real user would have seen an error.

With ``via="socket"`` the same payloads go to a bot in Socket Mode instead, as envelopes over
the WebSocket it opened on the fake (`sandbox.slack.socket`): unsigned, acknowledged by an
envelope ack whose ``payload`` plays the part of the HTTP answer's body, under the same deadline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from sandbox.slack.server import FakeSlack
from sandbox.slack.signing import sign
from sandbox.slack.socket import NoSocketConnection
from sandbox.slack.state import TEAM_DOMAIN, RecordedMessage, find_button

#: Slack gives up on an unacknowledged command or click after three seconds.
ACK_DEADLINE_S = 3.0

#: How Slack reaches the bot: HTTP posts to its endpoint, or envelopes over Socket Mode.
Via = Literal["http", "socket"]


@dataclass(frozen=True)
class DriverResponse:
    """The bot's HTTP answer: ``body`` is parsed JSON when it is JSON, else the text.

    Over Socket Mode: ``status`` 200 once acknowledged, ``body`` the ack's ``payload`` (``""``
    when it had none); ``status`` 503 with ``dispatch_failed`` when no connection was open.
    """

    status: int
    body: Any
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def timed_out(self) -> bool:
        """Whether Slack would have shown ``operation_timeout`` (no answer within 3 seconds)."""
        return self.status == 0


class SlackDriver:
    """Sends signed requests to a bot exactly as Slack would, using a `FakeSlack` for the rest."""

    def __init__(
        self,
        fake: FakeSlack,
        bot_url: str = "",
        signing_secret: str = "",
        *,
        team_id: str = "T0FPBOT",
        api_app_id: str = "A0FPBOT",
        verification_token: str = "sandbox-verification-token",  # noqa: S107 (not a secret)
        ack_deadline: float = ACK_DEADLINE_S,
        via: Via = "http",
    ) -> None:
        """Args:
        fake: the fake Slack that mints ``response_url``s and records replies.
        bot_url: the bot's events endpoint, like ``http://127.0.0.1:3000/slack/events``.
        signing_secret: the secret the bot verifies signatures with.
        team_id: the workspace id sent in every payload.
        api_app_id: the app id sent in every payload.
        verification_token: the deprecated ``token`` field Slack still sends.
        ack_deadline: seconds Slack waits for the HTTP answer before giving up.
        via: how commands and clicks reach the bot unless a call says otherwise (``"socket"``
            needs no ``bot_url`` or ``signing_secret``).
        """
        self.fake = fake
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.verification_token = verification_token
        self.ack_deadline = ack_deadline
        self.via: Via = via
        self._session: aiohttp.ClientSession | None = None

    async def command(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        timestamp: int | None = None,
        signature: str | None = None,
        command: str = "/fp",
        via: Via | None = None,
    ) -> DriverResponse:
        """Type ``/fp <text>`` as ``user`` in ``channel``.

        Args:
            text: what follows the command (may be empty).
            user: the signed ``user_id``.
            channel: the ``channel_id`` the command was typed in.
            timestamp: overrides ``X-Slack-Request-Timestamp`` (a stale request).
            signature: overrides ``X-Slack-Signature`` (a forged request).
            command: the slash command itself.
            via: ``"http"`` or ``"socket"`` (default: the driver's `via`).
        """
        state = self.fake.state
        name = state.users.get(user, {}).get("name", user.lower())
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel,
            "channel_name": state.channel_name(channel),
            "user_id": user,
            "user_name": name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self.fake.new_response_url(channel, user),
            "trigger_id": self.fake.new_trigger_id(),
        }
        if self._over_socket(via, timestamp, signature):
            response = await self.deliver("slash_commands", fields)
        else:
            response = await self.send(urlencode(fields), timestamp=timestamp, signature=signature)
        genuine = timestamp is None and signature is None
        if genuine:
            self._check_ack(f"{command} {text!r} by {user} in {channel}", response)
        if response.status == 200 and response.body:
            self.fake.post_command_reply(channel, user, response.body)
        return response

    async def click(
        self,
        message: RecordedMessage,
        action_id: str,
        *,
        user: str,
        value: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        via: Via | None = None,
    ) -> DriverResponse:
        """Click the button ``action_id`` on ``message`` as ``user``.

        Args:
            message: a message recorded by the fake (channel or ephemeral).
            action_id: the button's ``action_id``.
            user: who clicks (any channel member can click a channel message).
            value: overrides the button's ``value`` (a tampered payload).
            timestamp: overrides ``X-Slack-Request-Timestamp``.
            signature: overrides ``X-Slack-Signature``.
            via: ``"http"`` or ``"socket"`` (default: the driver's `via`).

        Raises:
            LookupError: the message has no element with that ``action_id``.
            ValueError: the message is deleted, or is someone else's ephemeral message.
        """
        button = find_button(message, action_id)
        if button is None:
            raise LookupError(
                f"no element with action_id {action_id!r} in message {message.channel}/"
                f"{message.ts}; it has {_action_ids(message)}"
            )
        if message.deleted:
            raise ValueError(f"message {message.channel}/{message.ts} is deleted")
        if message.ephemeral_for is not None and message.ephemeral_for != user:
            raise ValueError(f"only {message.ephemeral_for} sees ephemeral message {message.ts}")
        payload = self._block_actions(message, button, user, value)
        if self._over_socket(via, timestamp, signature):
            response = await self.deliver("interactive", payload, accepts_response_payload=False)
        else:
            response = await self.send(
                urlencode({"payload": json.dumps(payload)}),
                timestamp=timestamp,
                signature=signature,
            )
        if timestamp is None and signature is None:
            self._check_ack(f"click on {action_id} by {user} on {message.ts}", response)
        return response

    async def send(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> DriverResponse:
        """Sign and post any body to the bot, waiting no longer than Slack does.

        A request unanswered within the deadline comes back with ``status == 0`` and body
        ``operation_timeout``, what the user would see.
        """
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        session = self._client()
        started = time.perf_counter()
        try:
            async with session.post(
                self.bot_url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_deadline),
            ) as response:
                raw = await response.text()
                parsed: Any = raw
                if response.content_type == "application/json" and raw:
                    parsed = json.loads(raw)
                return DriverResponse(
                    status=response.status,
                    body=parsed,
                    elapsed=time.perf_counter() - started,
                    headers=dict(response.headers),
                )
        except TimeoutError:
            return DriverResponse(
                status=0, body="operation_timeout", elapsed=time.perf_counter() - started
            )

    async def deliver(
        self, type_: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> DriverResponse:
        """Deliver any payload over Socket Mode, waiting for the ack no longer than Slack does.

        Unacknowledged within the deadline: ``status == 0``, body ``operation_timeout``.
        """
        started = time.perf_counter()
        try:
            envelope = await self.fake.socket.deliver(
                type_,
                payload,
                deadline=self.ack_deadline,
                accepts_response_payload=accepts_response_payload,
            )
        except NoSocketConnection:
            return DriverResponse(
                status=503, body="dispatch_failed", elapsed=time.perf_counter() - started
            )
        elapsed = time.perf_counter() - started
        if not envelope.acked:
            return DriverResponse(status=0, body="operation_timeout", elapsed=elapsed)
        return DriverResponse(status=200, body=envelope.ack_payload or "", elapsed=elapsed)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _over_socket(self, via: Via | None, timestamp: int | None, signature: str | None) -> bool:
        if (via or self.via) != "socket":
            return False
        if timestamp is not None or signature is not None:
            raise ValueError("Socket Mode requests are not signed: no timestamp or signature")
        return True

    def _check_ack(self, what: str, response: DriverResponse) -> None:
        if response.timed_out:
            self.fake.record_violation(
                f"{what}: not acknowledged within {self.ack_deadline:g}s (operation_timeout)"
            )
        elif response.body == "dispatch_failed" and response.status == 503:
            self.fake.record_violation(f"{what}: no Socket Mode connection (dispatch_failed)")
        elif response.status != 200:
            self.fake.record_violation(f"{what}: the bot answered HTTP {response.status}")

    def _block_actions(
        self,
        message: RecordedMessage,
        button: dict[str, Any],
        user: str,
        value: str | None,
    ) -> dict[str, Any]:
        state = self.fake.state
        name = state.users.get(user, {}).get("name", user.lower())
        ephemeral = message.ephemeral_for is not None
        action: dict[str, Any] = {
            "action_id": button["action_id"],
            "block_id": button.get("block_id"),
            "type": button.get("type", "button"),
            "action_ts": f"{time.time():.6f}",
        }
        if "text" in button:
            action["text"] = button["text"]
        chosen = value if value is not None else button.get("value")
        if chosen is not None:
            action["value"] = chosen
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": ephemeral,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": name, "name": name, "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": self.fake.new_trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "channel": {"id": message.channel, "name": state.channel_name(message.channel)},
            "response_url": self.fake.new_response_url(message.channel, user, source_ts=message.ts),
            "actions": [action],
        }
        if not ephemeral:
            payload["enterprise"] = None
            payload["is_enterprise_install"] = False
            payload["message"] = message.as_slack_message()
            payload["state"] = {"values": {}}
        return payload


def _action_ids(message: RecordedMessage) -> list[str]:
    ids: list[str] = []
    for block in message.blocks:
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        ids.extend(str(e.get("action_id")) for e in elements if isinstance(e, dict))
    return ids
