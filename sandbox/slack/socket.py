"""Socket Mode in the fake Slack: ``apps.connections.open`` and the WebSocket it hands out.

What real Slack does, and slack_sdk's ``SocketModeClient`` expects: the app calls
``apps.connections.open`` with its app-level token (``xapp-…``) and gets a one-time WebSocket URL;
it connects, Slack sends ``hello``, then every slash command, click or event comes as an envelope
``{"envelope_id", "type", "payload", "accepts_response_payload"}``. The app acknowledges each
with ``{"envelope_id", "payload"?}`` within three seconds; a command's ack payload is shown to the
user like an HTTP answer's body. With several connections open (replicas), each envelope goes to
one of them. ``{"type": "disconnect"}`` asks the app to fetch a new URL and reconnect.

`SocketMode` is that part of `FakeSlack` (``fake.socket``); `SlackDriver` delivers commands and
clicks through it with ``via="socket"``. URLs are ``ws://127.0.0.1:PORT/socket?ticket=…`` (plain
WebSocket over loopback, which slack_sdk's aiohttp client accepts).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from sandbox.slack.state import SlackState

#: Where the WebSocket listens on the fake's server.
SOCKET_PATH = "/socket"


class NoSocketConnection(Exception):
    """Nothing is connected to deliver to: Slack would tell the user ``dispatch_failed``."""


@dataclass
class Envelope:
    """One delivery over the socket and how the app acknowledged it."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    connection: int
    sent_at: float
    #: The app's whole ack message (``{"envelope_id", "payload"?}``), once it came.
    ack: dict[str, Any] | None = None
    acked_at: float | None = None
    _acked: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def acked(self) -> bool:
        return self.ack is not None

    @property
    def ack_payload(self) -> dict[str, Any] | None:
        """The ack's ``payload`` (a command's answer), if it carried one."""
        payload = (self.ack or {}).get("payload")
        return payload if isinstance(payload, dict) else None


@dataclass
class SocketConnection:
    """One WebSocket the app opened; kept after it closes, for tests to inspect."""

    id: int
    ws: web.WebSocketResponse = field(repr=False)
    opened_at: float
    closed_at: float | None = None
    #: The close code, and who closed: ``"app"`` (the bot) or ``"slack"`` (`SocketMode.close`).
    close_code: int | None = None
    closed_by: str | None = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.ws.closed


class SocketMode:
    """The Socket Mode side of the fake Slack: tickets, connections, envelopes and acks.

    Args:
        state: the fake's record, where protocol violations go.
        app_token: the only app-level token ``apps.connections.open`` accepts (``None``: none).
        app_id: the app's id, in ``hello``.
        clock: seconds, for envelope timing.
    """

    def __init__(
        self,
        state: SlackState,
        app_token: str | None,
        *,
        app_id: str = "A0FPBOT",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.state = state
        self.app_token = app_token
        self.app_id = app_id
        self.clock = clock
        #: Every connection ever opened, in order (closed ones too).
        self.connections: list[SocketConnection] = []
        #: Every envelope delivered, in order.
        self.envelopes: list[Envelope] = []
        self._tickets: set[str] = set()
        self._by_id: dict[str, Envelope] = {}
        self._ids = itertools.count(1)
        self._turn = itertools.count()

    @property
    def open_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if c.open]

    # -- apps.connections.open -------------------------------------------------------------------

    def open_url(self, token: str | None, base_url: str) -> dict[str, Any]:
        """``apps.connections.open``'s JSON answer for a caller with ``token``.

        ``base_url`` is the fake's ``http://host:port``; the answer's URL is on the same port.
        """
        if not token:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if self.app_token is None or not secrets.compare_digest(token, self.app_token):
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        ws_base = "ws" + base_url.removeprefix("http")
        return {"ok": True, "url": f"{ws_base}{SOCKET_PATH}?ticket={ticket}&app_id={self.app_id}"}

    # -- the WebSocket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket endpoint: a valid one-time ticket, ``hello``, then acks until closed."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = SocketConnection(id=next(self._ids), ws=ws, opened_at=self.clock())
        self.connections.append(connection)
        await self._send(connection, self._hello())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(connection, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.state.record_violation(
                        f"socket connection {connection.id}: binary frame (Slack expects JSON text)"
                    )
        finally:
            if connection.closed_at is None:
                connection.closed_at = self.clock()
                connection.close_code = ws.close_code
                connection.closed_by = connection.closed_by or "app"
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len(self.open_connections),
            "debug_info": {
                "host": "applink-fpbot-sandbox",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }

    def _on_text(self, connection: SocketConnection, data: str) -> None:
        where = f"socket connection {connection.id}"
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.state.record_violation(f"{where}: a message that is not JSON: {data[:80]!r}")
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            self.state.record_violation(f"{where}: a message without envelope_id: {data[:80]!r}")
            return
        envelope = self._by_id.get(envelope_id)
        if envelope is None:
            self.state.record_violation(f"{where}: ack for an unknown envelope {envelope_id}")
            return
        if envelope.acked:
            self.state.record_violation(f"{where}: envelope {envelope_id} acknowledged twice")
            return
        if "payload" in message and not isinstance(message["payload"], dict):
            self.state.record_violation(f"{where}: ack payload of {envelope_id} is not an object")
        envelope.ack = message
        envelope.acked_at = self.clock()
        envelope._acked.set()

    async def _send(self, connection: SocketConnection, message: dict[str, Any]) -> None:
        async with connection.send_lock:
            await connection.ws.send_str(json.dumps(message))

    # -- what the driver and tests use -----------------------------------------------------------

    async def deliver(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        deadline: float,
        accepts_response_payload: bool = True,
    ) -> Envelope:
        """Send an envelope to one open connection (in turn) and wait up to ``deadline`` seconds
        for its ack; the envelope comes back either way (``acked`` says which).

        Raises:
            NoSocketConnection: the app has no open connection.
        """
        connections = self.open_connections
        if not connections:
            raise NoSocketConnection("the app has no open Socket Mode connection")
        connection = connections[next(self._turn) % len(connections)]
        envelope = Envelope(
            envelope_id=f"env-{secrets.token_hex(6)}",
            type=type_,
            payload=payload,
            connection=connection.id,
            sent_at=self.clock(),
        )
        self.envelopes.append(envelope)
        self._by_id[envelope.envelope_id] = envelope
        message = {
            "envelope_id": envelope.envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        try:
            await self._send(connection, message)
        except ConnectionError as exc:
            raise NoSocketConnection(f"connection {connection.id} dropped: {exc}") from exc
        # Slack gives up after the deadline; a late ack is still recorded on the envelope.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(envelope._acked.wait(), deadline)
        return envelope

    async def wait_for_connections(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``count`` connections are open (after a reconnect, say)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.open_connections) < count:
            if loop.time() >= deadline:
                raise AssertionError(
                    f"fake Slack: {len(self.open_connections)} Socket Mode connections open"
                    f" after {timeout}s, expected {count}"
                )
            await asyncio.sleep(0.01)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every open connection to reconnect, as Slack does every few hours."""
        for connection in self.open_connections:
            await self._send(
                connection,
                {
                    "type": "disconnect",
                    "reason": reason,
                    "debug_info": {"host": "applink-fpbot-sandbox"},
                },
            )

    async def close(self) -> None:
        """Close every open connection from Slack's side (the fake is stopping)."""
        for connection in self.open_connections:
            connection.closed_by = "slack"
            await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
