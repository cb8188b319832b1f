"""What Slack does toward the bot: signed commands, clicks, forms and events over real HTTP.

`SlackDriver` plays the Slack side of a conversation for scenario tests, benchmarks and the
sandbox console. It builds the bodies Slack sends (form-encoded commands; ``payload=`` JSON for
``block_actions``, ``shortcut``, ``view_submission``, ``view_closed`` and ``block_suggestion``;
a JSON ``event_callback`` for ``app_home_opened``), mints their ``response_url`` and
``trigger_id`` on the `FakeSlack`, signs them, posts them to the bot's ``/slack/events``, and
then behaves like Slack with the answer: it gives up after three seconds, shows a command's
non-empty answer as a reply, closes, updates, pushes or annotates a submitted modal as the ack
body says, and keeps the options an external select was given. A slow or failed
acknowledgement is recorded as a violation, because a real user would have seen an error.

A person's input to a form is given in the simplest words (`sandbox.slack.views.entered`):
``{action_id: text | option value | [option values] | None}``; Slack's client refuses to submit
a form with a required field empty (`NotSubmittable`), so the driver does too.

With ``via="socket"`` the same payloads go to a bot in Socket Mode instead, as envelopes over
the WebSocket it opened on the fake (`sandbox.slack.socket`): unsigned, acknowledged by an
envelope ack whose ``payload`` plays the part of the HTTP answer's body, under the same deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from sandbox.slack.limits import EXTERNAL_SELECTS
from sandbox.slack.server import FakeSlack
from sandbox.slack.signing import sign
from sandbox.slack.socket import NoSocketConnection
from sandbox.slack.state import BOT_USER_ID, TEAM_DOMAIN, RecordedMessage, find_button
from sandbox.slack.views import (
    RecordedView,
    elements,
    entered,
    find_element,
    option_for,
    options_of,
    submittable,
)

#: Where a person clicks or chooses: a message, or a view (a modal or a Home tab).
Target = RecordedMessage | RecordedView

#: Slack asks for an external select's options once this many characters are typed.
DEFAULT_MIN_QUERY_LENGTH = 3

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
        self._event_ids = 0

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
            "trigger_id": self.fake.new_trigger_id(user),
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
        target: Target,
        action_id: str,
        *,
        user: str,
        value: str | None = None,
        values: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        via: Via | None = None,
    ) -> DriverResponse:
        """Click the button ``action_id`` on a message, or in a modal or Home tab, as ``user``.

        Args:
            target: a message recorded by the fake (channel or ephemeral), or a view
                (`FakeSlack.modal`, `FakeSlack.home`).
            action_id: the button's ``action_id``.
            user: who clicks (any channel member can click a channel message; only the person a
                view was opened for sees it).
            value: the button's ``value``: picks the button among several sharing the
                ``action_id`` (one per row), else overrides its value (a tampered payload).
            values: what ``user`` entered in the modal so far (see `submit_view`).
            timestamp: overrides ``X-Slack-Request-Timestamp``.
            signature: overrides ``X-Slack-Signature``.
            via: ``"http"`` or ``"socket"`` (default: the driver's `via`).

        Raises:
            LookupError: the target has no element with that ``action_id``.
            ValueError: the message is deleted, or is someone else's (ephemeral message or view).
        """
        button = self._element(target, action_id, user, offering=value)
        action = self._action(button, value if value is not None else button.get("value"))
        if isinstance(target, RecordedView):
            self._enter(target, values or {})
            payload = self._view_actions(target, user, action)
            what = f"click on {action_id} by {user} in view {target.id}"
        else:
            payload = self._block_actions(target, user, action)
            what = f"click on {action_id} by {user} on {target.ts}"
        return await self._interact(payload, what, via, timestamp=timestamp, signature=signature)

    async def choose(
        self,
        target: Target,
        action_id: str,
        option: Any,
        *,
        user: str,
        values: Mapping[str, Any] | None = None,
        via: Via | None = None,
    ) -> DriverResponse | None:
        """Choose an option of an overflow or select menu, on a message or in a view.

        Args:
            target: a message, a modal or a Home tab.
            action_id: the menu's ``action_id``.
            option: the chosen option's ``value`` (a list of them for a multi-select), or a
                whole option object; an external select offers what the app last suggested.
            user: who chooses.
            values: what ``user`` entered in the modal so far.
            via: ``"http"`` or ``"socket"``.

        Returns:
            The bot's answer to the ``block_actions`` Slack sends, or ``None`` when Slack sends
            nothing: a menu inside an ``input`` block only changes the form's state (unless the
            block has ``dispatch_action``).

        Raises:
            LookupError: no such element, or no such option.
            ValueError: the element offers no options, or the target is not ``user``'s.
        """
        offering = option if isinstance(option, str) else None
        element = self._element(target, action_id, user, offering=offering)
        if element.get("type") == "overflow":
            picked = option_for(option, options_of(element), action_id)
            chosen: dict[str, Any] = {"type": "overflow", "selected_option": picked}
        else:
            chosen = entered(element, option, self._suggested(target, action_id))
        action = {**self._action(element, None), **chosen}
        holds_value = element.get("type") != "overflow"
        if isinstance(target, RecordedView):
            self._enter(target, values or {})
            if holds_value:
                target.values.setdefault(str(element["block_id"]), {})[action_id] = chosen
                self.fake.state.view_changed(target)
            found = find_element(target.view["blocks"], action_id)
            holder = found[0] if found else {}
            if holder.get("type") == "input" and not holder.get("dispatch_action"):
                return None
            payload = self._view_actions(target, user, action)
            what = f"choice in {action_id} by {user} in view {target.id}"
        else:
            payload = self._block_actions(target, user, action)
            if holds_value:
                payload["state"] = {"values": {str(element["block_id"]): {action_id: chosen}}}
            what = f"choice in {action_id} by {user} on {target.ts}"
        return await self._interact(payload, what, via)

    async def shortcut(
        self, callback_id: str, *, user: str, via: Via | None = None
    ) -> DriverResponse:
        """Run the app's global shortcut ``callback_id`` as ``user`` (the ⚡ menu in Slack).

        A global shortcut carries a ``trigger_id`` (to open a form) but no channel and no
        ``response_url``.
        """
        payload = {
            "type": "shortcut",
            "token": self.verification_token,
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": {"id": user, "username": self._name(user), "team_id": self.team_id},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.fake.new_trigger_id(user),
        }
        return await self._interact(payload, f"shortcut {callback_id} by {user}", via)

    async def open_home(self, *, user: str, via: Via | None = None) -> DriverResponse:
        """``user`` opens the app's Home tab: the Events API's ``app_home_opened``.

        The event carries the Home view the app last published for ``user``, if any; it has no
        ``trigger_id`` (only a button in the Home tab can lead to a modal).
        """
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.fake.state.dm_channel(user),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        home = self.fake.home(user)
        if home is not None:
            event["view"] = home.as_slack_view()
        body = self._event_callback(event)
        what = f"app_home_opened by {user}"
        if self._over_socket(via, None, None):
            response = await self.deliver("events_api", body, accepts_response_payload=False)
        else:
            response = await self.send(json.dumps(body), content_type="application/json")
        self._check_ack(what, response)
        return response

    async def submit_view(
        self,
        *,
        user: str,
        values: Mapping[str, Any] | None = None,
        via: Via | None = None,
    ) -> DriverResponse:
        """Submit ``user``'s open modal (the view on top), then do what the bot's ack says.

        An empty ack closes that view (the one under it shows again); ``response_action``
        ``errors`` keeps it open with the texts under their fields (`RecordedView.errors`),
        ``update`` replaces it, ``push`` pushes a view on it, ``clear`` closes the whole modal.

        Args:
            user: whose modal.
            values: ``{action_id: what was entered}``: text for a text input, an option's
                ``value`` for a menu (a list for a multi-select), ``None`` for nothing; entries
                left out keep what was entered before (or the initial value).
            via: ``"http"`` or ``"socket"``.

        Raises:
            LookupError: ``user`` has no modal open, or ``values`` names an unknown element.
            ValueError: the modal has no submit button.
            NotSubmittable: Slack's client would not submit it (a required field is empty…).
        """
        view = self._top_modal(user)
        if view.view.get("submit") is None:
            raise ValueError(f"view {view.id} has no submit button")
        self._enter(view, values or {})
        submittable(view)
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self.fake.new_trigger_id(user),
            "view": view.as_slack_view(),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        what = f"submission of view {view.id} ({view.callback_id}) by {user}"
        response = await self._interact(payload, what, via, accepts_response_payload=True)
        if response.status == 200:
            self.fake.answer_view_submission(view, response.body)
        return response

    async def close_view(self, *, user: str, via: Via | None = None) -> DriverResponse | None:
        """``user`` closes their modal's top view (all of it when the view has
        ``clear_on_close``); the bot hears ``view_closed`` only if the view asked
        (``notify_on_close``), which is then the answer returned.

        Raises:
            LookupError: ``user`` has no modal open.
        """
        view = self._top_modal(user)
        cleared = view.clear_on_close
        self.fake.state.close_modal_views(user, count=None if cleared else 1)
        if not view.notify_on_close:
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": view.as_slack_view(),
            "is_cleared": cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._interact(payload, f"closing of view {view.id} by {user}", via)

    async def suggest(
        self,
        action_id: str,
        typed: str,
        *,
        user: str,
        message: RecordedMessage | None = None,
        values: Mapping[str, Any] | None = None,
        via: Via | None = None,
    ) -> DriverResponse:
        """``user`` types ``typed`` into the external select ``action_id``: a ``block_suggestion``.

        The select is in ``message`` when given, else in ``user``'s open modal (or their Home
        tab). The bot's ``{"options": […]}`` or ``{"option_groups": […]}`` comes back as the
        answer's ``body``, is checked against Slack's limits, and is kept for `choose`.

        Raises:
            LookupError: no such element.
            ValueError: it is not an external select, or fewer characters are typed than its
                ``min_query_length`` (3 by default): Slack would not ask yet.
        """
        target: Target = message if message is not None else self._view_with(user, action_id)
        element = self._element(target, action_id, user)
        if element.get("type") not in EXTERNAL_SELECTS:
            raise ValueError(f"{action_id} is a {element.get('type')}, not an external select")
        least = element.get("min_query_length", DEFAULT_MIN_QUERY_LENGTH)
        if len(typed) < least:
            raise ValueError(f"{action_id} asks for options once {least} characters are typed")
        payload: dict[str, Any] = {
            "type": "block_suggestion",
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "action_id": action_id,
            "block_id": element["block_id"],
            "value": typed,
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if isinstance(target, RecordedView):
            self._enter(target, values or {})
            payload["container"] = {"type": "view", "view_id": target.id}
            payload["view"] = target.as_slack_view()
        else:
            payload["container"] = self._message_container(target)
            payload["channel"] = self._channel(target.channel)
            if target.ephemeral_for is None:
                payload["message"] = target.as_slack_message()
        what = f"suggestions for {action_id} ({typed!r}) to {user}"
        response = await self._interact(payload, what, via, accepts_response_payload=True)
        if response.status == 200:
            self.fake.keep_suggestions(target, action_id, response.body)
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

    async def _interact(
        self,
        payload: dict[str, Any],
        what: str,
        via: Via | None,
        *,
        accepts_response_payload: bool = False,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> DriverResponse:
        """Send an interaction payload over HTTP or Socket Mode as Slack does; judge the ack."""
        if self._over_socket(via, timestamp, signature):
            response = await self.deliver(
                "interactive", payload, accepts_response_payload=accepts_response_payload
            )
        else:
            response = await self.send(
                urlencode({"payload": json.dumps(payload)}),
                timestamp=timestamp,
                signature=signature,
            )
        if timestamp is None and signature is None:
            self._check_ack(what, response)
        return response

    def _element(
        self, target: Target, action_id: str, user: str, *, offering: str | None = None
    ) -> dict[str, Any]:
        """The element ``action_id`` in ``target`` (with its ``block_id``), if ``user`` sees it;
        in a message that repeats it, the one ``offering`` an option of that value."""
        if isinstance(target, RecordedView):
            if target.closed:
                raise ValueError(f"view {target.id} is closed")
            if target.user != user:
                raise ValueError(f"only {target.user} sees view {target.id}")
            found = find_element(target.view["blocks"], action_id, offering=offering)
            element = None if found is None else {**found[1], "block_id": found[0]["block_id"]}
            where = f"view {target.id}"
            blocks = target.view["blocks"]
        else:
            element = find_button(target, action_id, offering=offering)
            where = f"message {target.channel}/{target.ts}"
            blocks = target.blocks
        if element is None:
            ids = [str(e.get("action_id")) for _, e in elements(blocks)]
            raise LookupError(f"no element with action_id {action_id!r} in {where}; it has {ids}")
        if isinstance(target, RecordedMessage):
            if target.deleted:
                raise ValueError(f"message {target.channel}/{target.ts} is deleted")
            if target.ephemeral_for is not None and target.ephemeral_for != user:
                raise ValueError(f"only {target.ephemeral_for} sees ephemeral message {target.ts}")
        return element

    def _top_modal(self, user: str) -> RecordedView:
        view = self.fake.modal(user)
        if view is None:
            raise LookupError(f"{user} has no modal open")
        return view

    def _view_with(self, user: str, action_id: str) -> RecordedView:
        """``user``'s open modal, or else their Home tab, whichever holds ``action_id``."""
        for view in (self.fake.modal(user), self.fake.home(user)):
            if view is not None and find_element(view.view["blocks"], action_id) is not None:
                return view
        raise LookupError(f"neither {user}'s modal nor their Home tab has {action_id!r}")

    def _suggested(self, target: Target, action_id: str) -> list[dict[str, Any]]:
        """What the app last offered for an external select (flattening option groups)."""
        answer = self.fake.suggestions_for(target, action_id)
        return options_of(answer) if answer else []

    def _enter(self, view: RecordedView, values: Mapping[str, Any]) -> None:
        """Record what a person entered in ``view``'s elements, by ``action_id``."""
        for action_id, given in values.items():
            found = find_element(view.view["blocks"], action_id)
            if found is None:
                raise LookupError(f"view {view.id} has no element {action_id!r}")
            block, element = found
            value = entered(element, given, self._suggested(view, action_id))
            view.values.setdefault(str(block["block_id"]), {})[action_id] = value
        if values:
            self.fake.state.view_changed(view)

    def _name(self, user: str) -> str:
        return self.fake.state.users.get(user, {}).get("name", user.lower())

    def _user(self, user: str) -> dict[str, Any]:
        name = self._name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _channel(self, channel: str) -> dict[str, Any]:
        return {"id": channel, "name": self.fake.state.channel_name(channel)}

    @staticmethod
    def _action(element: dict[str, Any], value: str | None) -> dict[str, Any]:
        action: dict[str, Any] = {
            "action_id": element["action_id"],
            "block_id": element.get("block_id"),
            "type": element.get("type", "button"),
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("text", "placeholder"):
            if key in element:
                action[key] = element[key]
        if value is not None:
            action["value"] = value
        return action

    @staticmethod
    def _message_container(message: RecordedMessage) -> dict[str, Any]:
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": message.ephemeral_for is not None,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        return container

    def _block_actions(
        self, message: RecordedMessage, user: str, action: dict[str, Any]
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": self._message_container(message),
            "trigger_id": self.fake.new_trigger_id(user),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "channel": self._channel(message.channel),
            "response_url": self.fake.new_response_url(message.channel, user, source_ts=message.ts),
            "actions": [action],
        }
        if message.ephemeral_for is None:
            payload["enterprise"] = None
            payload["is_enterprise_install"] = False
            payload["message"] = message.as_slack_message()
            payload["state"] = {"values": {}}
        return payload

    def _view_actions(
        self, view: RecordedView, user: str, action: dict[str, Any]
    ) -> dict[str, Any]:
        """``block_actions`` from a modal or a Home tab: the view instead of a message, and no
        ``response_url`` (a view is changed through ``views.update``)."""
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": {"type": "view", "view_id": view.id},
            "trigger_id": self.fake.new_trigger_id(user),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view.as_slack_view(),
            "actions": [action],
        }

    def _event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Events API envelope around ``event``, as Slack posts it."""
        self._event_ids += 1
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev0FPBOT{self._event_ids:05d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fpbot-{self._event_ids}",
        }
