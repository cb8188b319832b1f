"""The fake Slack's HTTP face: Web API methods, ``response_url``s and a live feed for the console.

`FakeSlack` runs a small aiohttp server on loopback that answers what fpbot asks of Slack
(``/api/<method>`` for slack_sdk's ``AsyncWebClient(base_url=fake.api_url)``, and
``/response/<id>`` for ``response_url`` posts) with the shapes real Slack uses, refuses what real
Slack refuses (the limits in `sandbox.slack.limits`), and records everything in a
`SlackState` that tests query. Fault knobs (`Faults`) make it rate-limit, fail, or refuse DMs
on demand, so retries and delivery failures can be tested without the real service.

Views live here too: ``views.open``/``push``/``update``/``publish`` keep each person's modal
stack and Home tab (`FakeSlack.modal`, `FakeSlack.home`), with Slack's ``trigger_id``, stack and
``hash`` rules; ``chat.getPermalink`` links to a message (``/archives/…`` opens it in the console).

It also serves the sandbox console (``/``, the static page in ``console/``) and the routes the
page uses: ``/_console/state`` and ``/_console/events`` (the workspace and its live changes);
what a person does, signed and sent to the bot through the driver: ``/_console/command``,
``/_console/click`` and ``/_console/choose`` (a button, an overflow or select menu in a message),
``/_console/shortcut``, ``/_console/home``, ``/_console/suggest`` (an external select's
typeahead), ``/_console/view/click``, ``/_console/view/choose``, ``/_console/view/submit`` and
``/_console/view/close``; and ``/_console/faults`` (the stand-in Management API's fault knobs,
proxied).

Socket Mode (``apps.connections.open`` with the app-level token, and the WebSocket it hands out)
lives in `sandbox.slack.socket`, as `FakeSlack.socket`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import inspect
import json
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sandbox.slack.limits import check_message, check_options
from sandbox.slack.socket import SOCKET_PATH, SocketMode
from sandbox.slack.state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    MAX_VIEW_STACK,
    TEAM_DOMAIN,
    TEAM_ID,
    RecordedCall,
    RecordedMessage,
    ResponseUrl,
    SlackState,
    find_button,
)
from sandbox.slack.views import Kind, NotSubmittable, RecordedView

if TYPE_CHECKING:
    from sandbox.slack.driver import DriverResponse, SlackDriver

#: Slack's 5xx page (shortened from ``samples/slack/error-5xx-server-error.html``): not JSON.
SERVER_ERROR_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
\t<meta charset="utf-8">
\t<title>Server Error | Slack</title>
</head>
<body>
\t<div id="page"><div id="page_contents">
\t\t<h1>Server Error</h1>
\t\t<div class="card">
\t\t\t<p>It seems like there\u2019s a problem connecting to our servers, and we\u2019re
\t\t\tinvestigating the issue.</p>
\t\t\t<p>Please <a href="https://status.slack.com/">check our Status page for updates</a>.</p>
\t\t</div>
\t</div></div>
</body>
</html>
"""

#: The console's static page (``index.html`` and its modules), served at ``/``.
CONSOLE_DIR = Path(__file__).parent / "console"

#: Arguments a form-encoded call sends as JSON strings.
_JSON_ARGS = ("blocks", "attachments", "view")

#: The app's global shortcuts (the manifest's ``features.shortcuts``), for the console's ⚡ menu.
DEFAULT_SHORTCUTS: list[dict[str, str]] = [
    {
        "name": "Request a change",
        "type": "global",
        "callback_id": "request_change",
        "description": "Ask for a change to environments, API keys or webhooks",
    }
]


@dataclass
class Faults:
    """Knobs that make the next Web API calls fail the way Slack sometimes does.

    Attributes:
        rate_limit_next: the next N calls answer HTTP 429 ``ratelimited`` with ``Retry-After``.
        server_error_next: the next N calls answer HTTP 500 with Slack's HTML error page.
        fail_dm: ``conversations.open``, and ``chat.postMessage`` to a ``D…`` channel, fail with
            ``cannot_dm_bot`` (the path where a secret cannot be delivered).
        retry_after: the ``Retry-After`` seconds sent with a 429 (Slack's sample says 1; tests
            may set 0 to stay fast).
    """

    rate_limit_next: int = 0
    server_error_next: int = 0
    fail_dm: bool = False
    retry_after: int = 1


class ApiError(Exception):
    """A Web API refusal: HTTP 200 with ``ok: false`` and Slack's error code."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []

    def body(self) -> dict[str, Any]:
        """The JSON Slack answers with."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": list(self.messages)}
        return body


class FakeSlack:
    """A local stand-in for Slack: the Web API, ``response_url``s, and a record of it all.

    Use it as an async context manager (it listens on ``127.0.0.1`` on a free port), point the
    bot's ``AsyncWebClient`` at `api_url`, and read what happened with `messages`, `calls`,
    `ephemerals`, `dms`, `thread` and `violations`.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-token",  # noqa: S107 (a sandbox token, not a secret)
        app_token: str | None = None,
        users: dict[str, dict[str, str]] | None = None,
        usergroups: dict[str, list[str]] | None = None,
        channels: dict[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        shortcuts: list[dict[str, str]] | None = None,
    ) -> None:
        """Configure the workspace; nothing listens until `start` (or ``async with``).

        Args:
            bot_token: the only token the Web API accepts.
            app_token: the only app-level token (``xapp-…``) ``apps.connections.open`` accepts,
                for a bot in Socket Mode (``None``: Socket Mode is refused).
            users: ``{user_id: {"name", "real_name", "tz"}}`` (defaults to three sample people).
            usergroups: ``{group_id: [user ids]}``.
            channels: ``{channel_id: name}``; other channel ids answer ``channel_not_found``.
            clock: monotonic seconds, for ``response_url`` and ``trigger_id`` expiry (tests can
                make thirty minutes pass at once).
            shortcuts: the app's global shortcuts as in its manifest (``name``, ``callback_id``,
                ``description``), offered by the console's ⚡ menu; default: `DEFAULT_SHORTCUTS`.
        """
        self.bot_token = bot_token
        self.state = SlackState(
            users=DEFAULT_USERS if users is None else users,
            usergroups=DEFAULT_USERGROUPS if usergroups is None else usergroups,
            channels=DEFAULT_CHANNELS if channels is None else channels,
            clock=clock or time.monotonic,
        )
        self.faults = Faults()
        #: Socket Mode: connections, envelopes and their acks.
        self.socket = SocketMode(self.state, app_token)
        self.url = ""
        self.driver: SlackDriver | None = None
        #: The stand-in Management API whose fault knobs the console proxies (`connect_api`).
        self.management_api_url: str | None = None
        #: Extra facts for the console (personas' roles, what each channel is for).
        self.console_info: dict[str, Any] = {}
        #: The global shortcuts the console offers (the manifest's ``features.shortcuts``).
        self.shortcuts = list(DEFAULT_SHORTCUTS if shortcuts is None else shortcuts)
        # Wall-clock time of each message, by ts: the console shows when a message arrived,
        # while the recorded ts are deterministic counters from 2023.
        self._posted_at: dict[str, float] = {}
        self.state.add_listener(self._stamp)
        self._runner: web.AppRunner | None = None
        self._streams: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.push": self._views_push,
            "views.update": self._views_update,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The ``base_url`` for slack_sdk's clients (ends with ``/api/``)."""
        return f"{self.url}/api/"

    def web_app(self) -> web.Application:
        """The aiohttp application, for embedding the fake in another server."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{id}", self._handle_response_url)
        app.router.add_get(SOCKET_PATH, self.socket.handle)
        app.router.add_get("/_console/state", self._handle_console_state)
        app.router.add_get("/_console/events", self._handle_console_events)
        app.router.add_get("/", self._handle_console_page)
        app.router.add_static("/console/", CONSOLE_DIR)
        app.router.add_post("/_console/command", self._handle_console_command)
        app.router.add_post("/_console/click", self._handle_console_click)
        app.router.add_post("/_console/choose", self._handle_console_choose)
        app.router.add_post("/_console/shortcut", self._handle_console_shortcut)
        app.router.add_post("/_console/home", self._handle_console_home)
        app.router.add_post("/_console/suggest", self._handle_console_suggest)
        app.router.add_post("/_console/view/click", self._handle_console_view_action)
        app.router.add_post("/_console/view/choose", self._handle_console_view_action)
        app.router.add_post("/_console/view/submit", self._handle_console_view_submit)
        app.router.add_post("/_console/view/close", self._handle_console_view_close)
        app.router.add_get("/archives/{channel}/{p}", self._handle_permalink)
        app.router.add_get("/_console/faults", self._handle_console_faults)
        app.router.add_post("/_console/faults", self._handle_console_faults)
        app.router.add_post("/_console/faults/reset", self._handle_console_faults)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free one) and set `url`."""
        runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"

    def connect_bot(self, bot_url: str, signing_secret: str) -> SlackDriver:
        """Remember where the bot listens, so the console can type commands and click for people.

        Returns the `SlackDriver` kept in `driver` (closed by `stop`).
        """
        from sandbox.slack.driver import SlackDriver  # the driver module builds on this one

        self.driver = SlackDriver(self, bot_url, signing_secret)
        return self.driver

    def connect_socket_bot(self) -> SlackDriver:
        """Like `connect_bot`, for a bot in Socket Mode: the driver delivers over its socket."""
        from sandbox.slack.driver import SlackDriver

        self.driver = SlackDriver(self, via="socket")
        return self.driver

    def connect_api(self, url: str) -> None:
        """Remember the stand-in Management API, so the console's fault buttons can reach it."""
        self.management_api_url = url.rstrip("/")

    async def stop(self) -> None:
        """End the live streams, close the driver and stop listening."""
        if self.driver is not None:
            await self.driver.aclose()
        for stream in list(self._streams):
            stream.put_nowait(None)
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- queries for tests ---------------------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        """Every Slack rule the bot broke (refused messages, over-used ``response_url``s…)."""
        return self.state.violations

    @property
    def views(self) -> list[RecordedView]:
        """Every view opened, pushed or published, in order (each updated in place)."""
        return list(self.state.views)

    def modal(self, user: str) -> RecordedView | None:
        """The modal view ``user`` sees now (the top of their stack), if one is open."""
        stack = self.state.modal_stack(user)
        return stack[-1] if stack else None

    def modal_stack(self, user: str) -> list[RecordedView]:
        """``user``'s open modal, root view first (empty when none is open)."""
        return self.state.modal_stack(user)

    def home(self, user: str) -> RecordedView | None:
        """``user``'s Home tab as last published, if the app published one."""
        return self.state.homes.get(user)

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Web API calls in order, optionally only one method's (failed attempts included)."""
        return [c for c in self.state.calls if method is None or c.method == method]

    def messages(
        self, channel: str | None = None, *, include_ephemeral: bool = True
    ) -> list[RecordedMessage]:
        """Every message ever posted (deleted ones too, flagged), optionally in one channel."""
        return [
            m
            for m in self.state.messages
            if (channel is None or m.channel == channel)
            and (include_ephemeral or m.ephemeral_for is None)
        ]

    def channel_messages(self, channel: str) -> list[RecordedMessage]:
        """What everyone in ``channel`` sees now: not ephemeral, not deleted, threads included."""
        return [
            m
            for m in self.state.messages
            if m.channel == channel and m.ephemeral_for is None and not m.deleted
        ]

    def ephemerals(self, user: str) -> list[RecordedMessage]:
        """Ephemeral messages shown to ``user`` in any channel (not deleted)."""
        return [m for m in self.state.messages if m.ephemeral_for == user and not m.deleted]

    def dms(self, user: str) -> list[RecordedMessage]:
        """Messages in ``user``'s direct-message channel with the bot (not deleted)."""
        channel = self.state.dm_channels.get(user)
        return [] if channel is None else self.channel_messages(channel)

    def thread(self, channel: str, ts: str) -> list[RecordedMessage]:
        """The replies in the thread under message ``ts`` (the parent itself excluded)."""
        return [
            m
            for m in self.state.messages
            if m.channel == channel and m.thread_ts == ts and m.ts != ts and not m.deleted
        ]

    def message(self, channel: str, ts: str) -> RecordedMessage | None:
        """The message at ``channel``/``ts`` (ephemeral or not, deleted or not)."""
        for m in self.state.messages:
            if m.channel == channel and m.ts == ts:
                return m
        return None

    @staticmethod
    def find_button(
        message: RecordedMessage | dict[str, Any], action_id: str
    ) -> dict[str, Any] | None:
        """The button (or other element) with ``action_id`` in ``message``, with its block_id."""
        return find_button(message, action_id)

    def dm_channel(self, user: str) -> str:
        """``user``'s stable DM channel id (what ``conversations.open`` answers)."""
        return self.state.dm_channel(user)

    def record_violation(self, text: str) -> None:
        """Record a rule broken outside the Web API (the driver reports slow or failed acks)."""
        self.state.record_violation(text)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 (a polling deadline, not a cancellation scope)
        *,
        what: str | None = None,
    ) -> None:
        """Wait until ``predicate()`` holds: the bot answers after ``ack``, asynchronously.

        Raises:
            AssertionError: on timeout, describing what was awaited and what Slack did meanwhile.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(self._describe_timeout(predicate, timeout, what))
            await asyncio.sleep(0.01)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving every message created, changed or deleted, and every violation."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.state.add_listener(queue.put_nowait)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop feeding a queue returned by `subscribe`."""
        self.state.remove_listener(queue.put_nowait)

    # -- what Slack hands to the bot -------------------------------------------------------------

    def new_response_url(self, channel_id: str, user_id: str, source_ts: str | None = None) -> str:
        """Mint a ``response_url`` on this server answering ``user_id`` in ``channel_id``.

        ``source_ts`` is the message a button was clicked on; for a command's URL leave it out,
        and the last ephemeral posted through the URL becomes the one ``replace_original`` edits.
        """
        minted = self.state.mint_response_url(channel_id, user_id, source_ts)
        return f"{self.url}/response/{minted.id}"

    def new_trigger_id(self, user: str | None = None) -> str:
        """Mint a ``trigger_id``: one ``views.open`` or ``views.push`` for ``user`` within three
        seconds (a test may mint one for nobody in particular)."""
        return self.state.mint_trigger_id(user)

    def post_command_reply(self, channel: str, user: str, body: dict[str, Any] | str) -> None:
        """Show the HTTP answer to a slash command as Slack does: a reply, ephemeral by default.

        A non-empty body (``ack("…")`` in Bolt) appears at once, before anything the bot posts
        later; ``response_type: in_channel`` makes it public.
        """
        payload: dict[str, Any] = {"text": body} if isinstance(body, str) else dict(body)
        if not (payload.get("text") or payload.get("blocks")):
            return
        problems = check_message(payload)
        if problems:
            for problem in problems:
                self.state.record_violation(f"slash command answer in {channel}: {problem}")
            return
        public = payload.get("response_type") == "in_channel"
        self.state.post(
            channel=channel,
            text=str(payload.get("text") or ""),
            blocks=list(payload.get("blocks") or []),
            via="ack",
            ephemeral_for=None if public else user,
        )

    def answer_view_submission(self, view: RecordedView, body: Any) -> None:
        """Do what Slack does with the bot's ack of a ``view_submission`` of ``view``.

        Empty: close that view. ``response_action``: ``errors`` shows texts under the named
        input blocks and keeps the view; ``update`` replaces it; ``push`` stacks a view on it;
        ``clear`` closes the whole modal. Anything else is an error Slack shows in the modal
        (recorded as a violation), and the view stays as it was.
        """
        where = f"answer to the submission of view {view.id} ({view.callback_id})"
        if body in ("", None, {}):
            stack = self.state.modal_stack(view.user)
            if stack and stack[-1] is view:
                self.state.close_modal_views(view.user, count=1)
            return
        action = body.get("response_action") if isinstance(body, dict) else None
        if action == "errors":
            self._show_errors(view, body.get("errors"), where)
        elif action in ("update", "push"):
            new = body.get("view")
            problems = check_message(new, surface="modal") if isinstance(new, dict) else []
            if not isinstance(new, dict) or problems:
                for problem in problems or ["[ERROR] a view is required [json-pointer:/view]"]:
                    self.state.record_violation(f"{where}: {problem}")
            elif action == "update":
                self.state.replace_view(view, new)
            elif len(self.state.modal_stack(view.user)) >= MAX_VIEW_STACK:
                self.state.record_violation(f"{where}: a fourth view pushed (push_limit_reached)")
            else:
                self.state.push_modal(view.user, new)
        elif action == "clear":
            self.state.close_modal_views(view.user)
        else:
            self.state.record_violation(f"{where}: {body!r} is not a view response Slack knows")

    def _show_errors(self, view: RecordedView, errors: Any, where: str) -> None:
        if not isinstance(errors, dict) or not errors:
            self.state.record_violation(f"{where}: response_action errors without errors")
            return
        inputs = {
            block.get("block_id") for block in view.view["blocks"] if block.get("type") == "input"
        }
        elsewhere = sorted(str(block) for block in errors if block not in inputs)
        if elsewhere:
            self.state.record_violation(
                f"{where}: errors for {elsewhere}, which are not input blocks of the view"
                " (Slack shows them nowhere)"
            )
        view.errors = {str(b): str(text) for b, text in errors.items() if b in inputs}
        self.state.view_changed(view)

    def keep_suggestions(
        self, target: RecordedMessage | RecordedView, action_id: str, body: Any
    ) -> None:
        """Keep the bot's options for an external select, as Slack shows them to the typist.

        An answer Slack would not show (not ``options``/``option_groups``, or over the option
        limits) is recorded as a violation and not kept.
        """
        where = f"options for {action_id}"
        if not isinstance(body, dict):
            self.state.record_violation(f"{where}: {body!r} is not an options answer")
            return
        problems = check_options(body)
        for problem in problems:
            self.state.record_violation(f"{where}: {problem}")
        if problems:
            return
        if isinstance(target, RecordedView):
            target.suggestions[action_id] = dict(body)
            self.state.view_changed(target)
        else:
            self.state.message_suggestions[(target.channel, target.ts, action_id)] = dict(body)

    def suggestions_for(
        self, target: RecordedMessage | RecordedView, action_id: str
    ) -> dict[str, Any] | None:
        """The options the bot last gave for an external select in ``target``."""
        if isinstance(target, RecordedView):
            return target.suggestions.get(action_id)
        return self.state.message_suggestions.get((target.channel, target.ts, action_id))

    # -- Web API -------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            args = await _read_args(request)
        except ApiError as exc:
            self.state.record_call(method, {}, exc.error)
            return web.json_response(exc.body())
        token = _bearer(request) or args.pop("token", None)
        args.pop("token", None)
        if self.faults.rate_limit_next > 0:
            self.faults.rate_limit_next -= 1
            self.state.record_call(method, args, "ratelimited")
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.faults.retry_after)},
            )
        if self.faults.server_error_next > 0:
            self.faults.server_error_next -= 1
            self.state.record_call(method, args, "server_error")
            return web.Response(
                status=500,
                body=SERVER_ERROR_HTML.encode(),
                headers={"Content-Type": "text/html"},
            )
        if method == "apps.connections.open":
            body = self.socket.open_url(token, self.url)
            self.state.record_call(method, args, None if body["ok"] else body["error"])
            return web.json_response(body)
        try:
            if not token:
                raise ApiError("not_authed")
            if token != self.bot_token:
                raise ApiError("invalid_auth")
            handler = self._methods.get(method)
            if handler is None:
                raise ApiError("unknown_method")
            body = handler(args)
        except ApiError as exc:
            self.state.record_call(method, args, exc.error)
            return web.json_response(exc.body())
        self.state.record_call(method, args, None)
        return web.json_response(body)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "fpbot sandbox",
            "user": "fpbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable_channel(_required(args, "channel"))
        payload = self._checked_message(f"chat.postMessage to {channel}", args)
        message = self.state.post(
            channel=channel,
            text=payload["text"],
            blocks=payload["blocks"],
            attachments=payload["attachments"],
            thread_ts=_optional_str(args, "thread_ts"),
            via="api",
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "message": message.as_slack_message(),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        user = _required(args, "user")
        if not self.state.knows_channel(channel):
            raise ApiError("channel_not_found")
        if user not in self.state.users:
            raise ApiError("user_not_in_channel")
        payload = self._checked_message(f"chat.postEphemeral to {user} in {channel}", args)
        message = self.state.post(
            channel=channel,
            text=payload["text"],
            blocks=payload["blocks"],
            attachments=payload["attachments"],
            thread_ts=_optional_str(args, "thread_ts"),
            ephemeral_for=user,
            via="api",
        )
        return {"ok": True, "message_ts": message.ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        ts = _required(args, "ts")
        if not self.state.knows_channel(channel):
            raise ApiError("channel_not_found")
        message = self.state.find_message(channel, ts)
        if message is None:
            raise ApiError("message_not_found")
        merged = {
            "text": args.get("text", message.text),
            "blocks": args.get("blocks", message.blocks),
            "attachments": args.get("attachments", message.attachments),
        }
        payload = self._checked_message(f"chat.update of {channel}/{ts}", merged)
        self.state.edit(
            message,
            text=payload["text"],
            blocks=payload["blocks"],
            attachments=payload["attachments"],
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": {
                "text": message.text,
                "user": BOT_USER_ID,
                "blocks": message.as_slack_message()["blocks"],
            },
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        ts = _required(args, "ts")
        message = self.state.find_message(channel, ts)
        if message is None:
            raise ApiError("message_not_found")
        self.state.delete(message)
        return {"ok": True, "channel": channel, "ts": ts}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if "channel" in args and "users" not in args:
            channel = str(args["channel"])
            if not self.state.knows_channel(channel):
                raise ApiError("channel_not_found")
            return {"ok": True, "channel": {"id": channel}}
        raw = args.get("users")
        users = raw if isinstance(raw, list) else str(raw or "").split(",")
        users = [str(u).strip() for u in users if str(u).strip()]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_supported_in_sandbox", ["group DMs are not simulated"])
        if users[0] not in self.state.users:
            raise ApiError("user_not_found")
        if self.faults.fail_dm:
            raise ApiError("cannot_dm_bot")
        return {"ok": True, "channel": {"id": self.state.dm_channel(users[0])}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = _required(args, "usergroup")
        if group not in self.state.usergroups:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(self.state.usergroups[group])}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _required(args, "user")
        info = self.state.users.get(user_id)
        if info is None:
            raise ApiError("user_not_found")
        tz_name = info.get("tz", "UTC")
        now = dt.datetime.now(zoneinfo.ZoneInfo(tz_name))
        offset = now.utcoffset() or dt.timedelta()
        name = info.get("name", user_id.lower())
        real_name = info.get("real_name", name)
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": name,
                "real_name": real_name,
                "deleted": False,
                "is_bot": False,
                "tz": tz_name,
                "tz_label": now.tzname() or tz_name,
                "tz_offset": int(offset.total_seconds()),
                "profile": {"real_name": real_name, "display_name": name},
            },
        }

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        ts = _required(args, "message_ts")
        if not self.state.knows_channel(channel):
            raise ApiError("channel_not_found")
        message = self.state.find_message(channel, ts)
        if message is None:
            raise ApiError("message_not_found")
        permalink = f"{self.url}/archives/{channel}/p{ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._usable_trigger(args)
        view = self._checked_view(args, "modal", "views.open")
        user = self.state.spend_trigger_id(trigger)
        return self._view_answer(self.state.open_modal(user, view))

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._usable_trigger(args)
        view = self._checked_view(args, "modal", "views.push")
        user = self.state.triggers[trigger].user
        stack = self.state.modal_stack(user)
        if not stack:
            raise ApiError("not_found", ["[ERROR] no modal is open to push a view onto"])
        if len(stack) >= MAX_VIEW_STACK:
            self.state.record_violation(
                f"views.push for {user}: {len(stack)} views are open already (push_limit_reached)"
            )
            raise ApiError("push_limit_reached")
        self.state.spend_trigger_id(trigger)
        return self._view_answer(self.state.push_modal(user, view))

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = _optional_str(args, "view_id"), _optional_str(args, "external_id")
        if view_id is None and external_id is None:
            raise ApiError("invalid_arguments", ["[ERROR] missing required field: view_id"])
        recorded = self.state.find_view(view_id, external_id)
        if recorded is None:
            raise ApiError("not_found")
        self._check_hash(args, recorded)
        view = self._checked_view(
            args, recorded.kind, f"views.update of {recorded.id}", replacing=recorded
        )
        return self._view_answer(self.state.replace_view(recorded, view))

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _required(args, "user_id")
        if user not in self.state.users:
            raise ApiError("user_not_found")
        home = self.state.homes.get(user)
        if home is not None:
            self._check_hash(args, home)
        view = self._checked_view(args, "home", f"views.publish for {user}", replacing=home)
        return self._view_answer(self.state.publish_home(user, view))

    def _usable_trigger(self, args: dict[str, Any]) -> str:
        trigger = _required(args, "trigger_id")
        refusal = self.state.trigger_refusal(trigger)
        if refusal is not None:
            raise ApiError(refusal)
        return trigger

    def _checked_view(
        self,
        args: dict[str, Any],
        surface: Kind,
        where: str,
        replacing: RecordedView | None = None,
    ) -> dict[str, Any]:
        """The ``view`` argument, refused (and recorded) where Slack would refuse it.

        Slack points at the problem inside the call's arguments, hence ``/view/…`` pointers. An
        ``external_id`` must be unique among live views, ``replacing``'s own excepted.
        """
        view = _view(args)
        problems = [
            problem.replace("[json-pointer:/", "[json-pointer:/view/")
            for problem in check_message(view, surface=surface)
        ]
        if problems:
            for problem in problems:
                self.state.record_violation(f"{where}: {problem}")
            raise ApiError("invalid_arguments", problems)
        external_id = view.get("external_id")
        holder = self.state.find_view(external_id=str(external_id)) if external_id else None
        if holder is not None and holder is not replacing:
            raise ApiError("duplicate_external_id")
        return view

    @staticmethod
    def _check_hash(args: dict[str, Any], recorded: RecordedView) -> None:
        """A ``hash`` the app read before someone else changed the view is stale."""
        given = _optional_str(args, "hash")
        if given is not None and given != recorded.hash:
            raise ApiError("hash_conflict")

    @staticmethod
    def _view_answer(recorded: RecordedView) -> dict[str, Any]:
        return {"ok": True, "view": recorded.as_slack_view()}

    def _postable_channel(self, channel: str) -> str:
        if channel in self.state.users:
            channel = self.state.dm_channel(channel)
        if not self.state.knows_channel(channel):
            raise ApiError("channel_not_found")
        if self.faults.fail_dm and self.state.dm_owner(channel) is not None:
            raise ApiError("cannot_dm_bot")
        return channel

    def _checked_message(self, where: str, args: dict[str, Any]) -> dict[str, Any]:
        """The message parts of ``args``, refused (and recorded) if Slack would refuse them."""
        text = args.get("text")
        blocks = args.get("blocks") or []
        attachments = args.get("attachments") or []
        if not text and not blocks and not attachments:
            self.state.record_violation(f"{where}: no text, blocks or attachments")
            raise ApiError("no_text")
        problems = check_message({"text": text, "blocks": blocks})
        if problems:
            for problem in problems:
                self.state.record_violation(f"{where}: {problem}")
            raise ApiError("invalid_blocks", problems)
        return {"text": str(text or ""), "blocks": blocks, "attachments": attachments}

    # -- response_url -------------------------------------------------------------------------

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        url = self.state.response_urls.get(request.match_info["id"])
        if url is None:
            self.state.record_violation(f"POST to an unknown response_url {request.path}")
            return web.Response(status=404, text="invalid_url")
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            self.state.record_violation(f"response_url {url.id}: body is not a JSON object")
            return web.Response(status=400, text="invalid_payload")
        refusal = self.state.response_url_refusal(url)
        if refusal is not None:
            self.state.record_violation(
                f"response_url {url.id} (user {url.user} in {url.channel}): {refusal}"
                f" after {len(url.posts)} posts"
            )
            return web.Response(status=404, text=refusal)
        try:
            self._apply_response(url, payload)
        except ApiError as exc:
            status = 404 if exc.error == "message_not_found" else 400
            return web.Response(status=status, text=exc.error)
        url.posts.append(self.state.clock())
        return web.json_response({"ok": True})

    def _apply_response(self, url: ResponseUrl, payload: dict[str, Any]) -> None:
        where = f"response_url {url.id} (user {url.user} in {url.channel})"
        original = self._original(url)
        if _truthy(payload.get("delete_original")):
            if original is None:
                raise ApiError("message_not_found")
            self.state.delete(original)
            return
        checked = self._checked_message(where, payload)
        if _truthy(payload.get("replace_original")) and original is not None:
            self.state.edit(
                original,
                text=checked["text"],
                blocks=checked["blocks"],
                attachments=checked["attachments"],
            )
            return
        public = payload.get("response_type") == "in_channel"
        message = self.state.post(
            channel=url.channel,
            text=checked["text"],
            blocks=checked["blocks"],
            attachments=checked["attachments"],
            thread_ts=_optional_str(payload, "thread_ts"),
            ephemeral_for=None if public else url.user,
            via="response_url",
        )
        if not url.bound_to_click and not public:
            url.source_ts = message.ts

    def _original(self, url: ResponseUrl) -> RecordedMessage | None:
        if url.source_ts is None:
            return None
        for message in self.state.messages:
            if (
                message.channel == url.channel
                and message.ts == url.source_ts
                and not message.deleted
                and message.ephemeral_for in (None, url.user)
            ):
                return message
        return None

    # -- console feed -------------------------------------------------------------------------

    async def _handle_console_state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """The whole workspace as JSON: what a console needs to draw itself from scratch."""
        return {
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "bot": {"user_id": BOT_USER_ID, "bot_id": BOT_ID},
            "channels": [{"id": cid, "name": name} for cid, name in self.state.channels.items()]
            + [
                {"id": dm, "name": f"dm-{user}", "dm_user": user}
                for user, dm in self.state.dm_channels.items()
            ],
            "users": {uid: dict(info) for uid, info in self.state.users.items()},
            "messages": [self._console_message(m.to_dict()) for m in self.state.messages],
            "violations": list(self.state.violations),
            "views": {uid: self.state.views_of(uid) for uid in self.state.users},
            "shortcuts": copy.deepcopy(self.shortcuts),
            "console": dict(self.console_info),
        }

    def _stamp(self, event: dict[str, Any]) -> None:
        if event.get("type") == "message_created":
            self._posted_at[event["message"]["ts"]] = time.time()

    def _console_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the console gets it: with ``posted_at``, wall-clock Unix seconds."""
        return {**message, "posted_at": self._posted_at.get(message["ts"])}

    def _console_event(self, event: dict[str, Any]) -> dict[str, Any]:
        if "message" not in event:
            return event
        return {**event, "message": self._console_message(event["message"])}

    async def _handle_console_events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        stream: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._streams.append(stream)
        self.state.add_listener(stream.put_nowait)
        try:
            await response.write(b": connected\n\n")
            while (event := await stream.get()) is not None:
                data = json.dumps(self._console_event(event))
                await response.write(f"data: {data}\n\n".encode())
            await response.write_eof()
        except ConnectionResetError:
            pass  # the browser went away; nothing left to tell it
        finally:
            self.state.remove_listener(stream.put_nowait)
            self._streams.remove(stream)
        return response

    async def _handle_console_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(CONSOLE_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def _handle_console_command(self, request: web.Request) -> web.StreamResponse:
        """``{user, channel, text}``: type ``/fp <text>`` as ``user`` in ``channel``."""
        body = await _console_body(request)
        user, channel = str(body.get("user", "")), str(body.get("channel", ""))
        text = str(body.get("text", "")).strip()
        # The composer sends what was typed; the slash command itself is not part of ``text``.
        if text == "/fp" or text.startswith("/fp "):
            text = text[3:].strip()
        if user not in self.state.users:
            return _console_error(400, f"unknown user {user!r}")
        # A persona may type in its own DM with the bot (which opens it, as in Slack).
        own_dm = channel.startswith("D") and channel == self.state.dm_channel(user)
        if not own_dm and not self.state.knows_channel(channel):
            return _console_error(400, f"unknown channel {channel!r}")
        driver = self._console_driver()
        return await _console_send(driver.command(text, user=user, channel=channel))

    async def _handle_console_click(self, request: web.Request) -> web.StreamResponse:
        """``{channel, ts, action_id, user, value?}``: click a button as ``user`` (``value``:
        which one, when a message repeats its ``action_id`` row by row)."""
        body = await _console_body(request)
        user = str(body.get("user", ""))
        message = self.message(str(body.get("channel", "")), str(body.get("ts", "")))
        if message is None or message.deleted:
            return _console_error(404, "no such message")
        driver = self._console_driver()
        value = body.get("value")
        return await _console_send(
            driver.click(
                message,
                str(body.get("action_id", "")),
                user=user,
                value=str(value) if value is not None else None,
            )
        )

    async def _handle_console_choose(self, request: web.Request) -> web.StreamResponse:
        """``{channel, ts, action_id, user, value}``: choose an option of a menu in a message."""
        body = await _console_body(request)
        message = self.message(str(body.get("channel", "")), str(body.get("ts", "")))
        if message is None or message.deleted:
            return _console_error(404, "no such message")
        driver = self._console_driver()
        action_id, user = str(body.get("action_id", "")), str(body.get("user", ""))
        return await _console_send(driver.choose(message, action_id, body.get("value"), user=user))

    async def _handle_console_shortcut(self, request: web.Request) -> web.StreamResponse:
        """``{user, callback_id}``: run a global shortcut as ``user``."""
        body = await _console_body(request)
        user = str(body.get("user", ""))
        if user not in self.state.users:
            return _console_error(400, f"unknown user {user!r}")
        driver = self._console_driver()
        return await _console_send(driver.shortcut(str(body.get("callback_id", "")), user=user))

    async def _handle_console_home(self, request: web.Request) -> web.StreamResponse:
        """``{user}``: ``user`` opens the app's Home tab (``app_home_opened``)."""
        body = await _console_body(request)
        user = str(body.get("user", ""))
        if user not in self.state.users:
            return _console_error(400, f"unknown user {user!r}")
        return await _console_send(self._console_driver().open_home(user=user))

    async def _handle_console_suggest(self, request: web.Request) -> web.StreamResponse:
        """``{user, action_id, typed, values?, view_id? | channel + ts}``: an external select's
        typeahead; the answer carries the bot's ``options`` or ``option_groups``."""
        body = await _console_body(request)
        user, action_id = str(body.get("user", "")), str(body.get("action_id", ""))
        message = None
        if body.get("channel"):
            message = self.message(str(body["channel"]), str(body.get("ts", "")))
            if message is None or message.deleted:
                return _console_error(404, "no such message")
        elif self._console_view(body) is None:
            return _console_error(409, "that view is not open any more")
        driver = self._console_driver()
        return await _console_send(
            driver.suggest(
                action_id,
                str(body.get("typed", "")),
                user=user,
                message=message,
                values=_console_values(body),
            ),
            answer_keys=("options", "option_groups"),
        )

    async def _handle_console_view_action(self, request: web.Request) -> web.StreamResponse:
        """``{user, view_id, action_id, values, value?}``: click a button (``/view/click``) or
        choose an option (``/view/choose``, ``value``) in a modal or a Home tab."""
        body = await _console_body(request)
        view = self._console_view(body)
        if view is None:
            return _console_error(409, "that view is not open any more")
        driver = self._console_driver()
        user, action_id = str(body.get("user", "")), str(body.get("action_id", ""))
        values = _console_values(body)
        if request.path.endswith("/choose"):
            return await _console_send(
                driver.choose(view, action_id, body.get("value"), user=user, values=values)
            )
        value = body.get("value")
        return await _console_send(
            driver.click(
                view,
                action_id,
                user=user,
                values=values,
                value=str(value) if value is not None else None,
            )
        )

    async def _handle_console_view_submit(self, request: web.Request) -> web.StreamResponse:
        """``{user, view_id, values}``: submit the modal ``user`` sees. Fields Slack's client
        refuses to submit come back as ``errors`` (``{block_id: text}``), nothing sent."""
        body = await _console_body(request)
        user = str(body.get("user", ""))
        top = self.modal(user)
        if top is None or top.id != body.get("view_id"):
            return _console_error(409, "that view is not the one open any more")
        driver = self._console_driver()
        return await _console_send(driver.submit_view(user=user, values=_console_values(body)))

    async def _handle_console_view_close(self, request: web.Request) -> web.StreamResponse:
        """``{user, view_id}``: close the modal view ``user`` sees (Cancel, close or back)."""
        body = await _console_body(request)
        user = str(body.get("user", ""))
        top = self.modal(user)
        if top is None or top.id != body.get("view_id"):
            return _console_error(409, "that view is not the one open any more")
        return await _console_send(self._console_driver().close_view(user=user))

    async def _handle_permalink(self, request: web.Request) -> web.StreamResponse:
        """A permalink from ``chat.getPermalink``: open the console at that message."""
        digits = request.match_info["p"].removeprefix("p")
        query = {"channel": request.match_info["channel"], "ts": f"{digits[:-6]}.{digits[-6:]}"}
        if "thread_ts" in request.query:
            query["thread"] = request.query["thread_ts"]
        raise web.HTTPFound("/?" + urlencode(query))

    def _console_view(self, body: dict[str, Any]) -> RecordedView | None:
        """The live view a console request names (``view_id``), if it is still open."""
        view = self.state.find_view(str(body.get("view_id", "")) or None)
        return view if view is not None and not view.closed else None

    async def _handle_console_faults(self, request: web.Request) -> web.StreamResponse:
        """The stand-in API's fault knobs: read (GET), change (POST a JSON object), reset."""
        if self.management_api_url is None:
            return _console_error(503, "no stand-in Management API is connected")
        if request.path.endswith("/reset"):
            method, path, payload = "POST", "/_sandbox/reset-faults", None
        elif request.method == "POST":
            method, path, payload = "POST", "/_sandbox/faults", await _console_body(request)
        else:
            method, path, payload = "GET", "/_sandbox/faults", None
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.request(method, self.management_api_url + path, json=payload) as answer,
            ):
                return web.json_response(await answer.json(), status=answer.status)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            return _console_error(502, f"the stand-in API did not answer: {exc!r}")

    def _console_driver(self) -> SlackDriver:
        if self.driver is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"ok": False, "error": "no bot is connected"}),
                content_type="application/json",
            )
        return self.driver

    # -- diagnostics ---------------------------------------------------------------------------

    def _describe_timeout(
        self, predicate: Callable[[], bool], timeout: float, what: str | None
    ) -> str:
        if what is None:
            try:
                what = inspect.getsource(predicate).strip()
            except (OSError, TypeError):
                what = getattr(predicate, "__qualname__", repr(predicate))
        lines = [f"fake Slack: timed out after {timeout}s waiting for: {what}"]
        lines.append("last messages:")
        for m in self.state.messages[-8:]:
            lines.append("  " + _describe_message(m))
        if not self.state.messages:
            lines.append("  (none)")
        lines.append("last calls:")
        for c in self.state.calls[-8:]:
            lines.append(f"  {c.method} -> {'ok' if c.ok else c.error}")
        if not self.state.calls:
            lines.append("  (none)")
        if self.state.violations:
            lines.append("violations:")
            lines.extend(f"  {v}" for v in self.state.violations)
        return "\n".join(lines)


async def _console_body(request: web.Request) -> dict[str, Any]:
    """The JSON object a console route was posted (400 for anything else)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"ok": False, "error": "the body must be a JSON object"}),
            content_type="application/json",
        )
    return body


def _console_error(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _console_values(body: dict[str, Any]) -> dict[str, Any]:
    """What the person entered in the form so far: ``{action_id: text | value | [values]}``."""
    values = body.get("values")
    return dict(values) if isinstance(values, dict) else {}


async def _console_send(
    sending: Awaitable[DriverResponse | None], *, answer_keys: tuple[str, ...] = ()
) -> web.Response:
    """Await what a person did and tell the console how the bot took it, as Slack would.

    ``error`` is what Slack shows the user when the bot fails to acknowledge in time
    (``operation_timeout``) or answers with an error (``dispatch_failed``); ``sent`` is false
    when Slack sends the bot nothing (a menu inside a form, a view closed quietly). The
    ``answer_keys`` of the bot's JSON answer are passed on (a typeahead's options).
    """
    try:
        answer = await sending
    except NotSubmittable as refused:
        return web.json_response(
            {"ok": False, "error": "not submitted", "errors": refused.errors}, status=409
        )
    except (LookupError, ValueError) as exc:
        return _console_error(409, str(exc))
    except aiohttp.ClientError as exc:
        return _console_error(502, f"the bot did not answer: {exc!r}")
    if answer is None:
        return web.json_response({"ok": True, "error": None, "sent": False})
    error = None
    if answer.timed_out:
        error = "operation_timeout"
    elif answer.status != 200:
        error = "dispatch_failed"
    reply: dict[str, Any] = {
        "ok": error is None,
        "error": error,
        "sent": True,
        "status": answer.status,
        "elapsed_ms": round(answer.elapsed * 1000),
    }
    if isinstance(answer.body, dict):
        reply.update({key: answer.body[key] for key in answer_keys if key in answer.body})
    return web.json_response(reply)


def _describe_message(m: RecordedMessage) -> str:
    who = f" ephemeral for {m.ephemeral_for}" if m.ephemeral_for else ""
    flags = (" [deleted]" if m.deleted else "") + (f" [edited x{m.edited}]" if m.edited else "")
    text = m.text if len(m.text) <= 80 else m.text[:77] + "..."
    return f"{m.channel} {m.ts} via {m.via}{who}{flags}: {text!r}"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _read_args(request: web.Request) -> dict[str, Any]:
    """Query string, form body or JSON body, as slack_sdk may send any of them."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except json.JSONDecodeError:
                raise ApiError(
                    f"invalid_{key}_format" if key != "view" else "invalid_arguments"
                ) from None
    return args


def _required(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if value is None or value == "":
        raise ApiError("invalid_arguments", [f"[ERROR] missing required field: {key}"])
    return str(value)


def _optional_str(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    return str(value) if value not in (None, "") else None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _view(args: dict[str, Any]) -> dict[str, Any]:
    view = args.get("view")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: view"])
    return view
