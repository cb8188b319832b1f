"""Helpers for the scenarios of the bot itself: type ``/fp …`` as a persona, read what Slack shows.

Personas and channels are the sample policy's (``sandbox/fpbot.yml``): a viewer, an operator,
two approvers (approver through the user group ``S0APPROVERS``), an auditor, and someone the
policy has never heard of. Commands are allowed in ``#ops`` only; alerts go to ``#alerts``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from sandbox.run import Sandbox
from sandbox.slack import DriverResponse, RecordedMessage

VIEWER = "U0VIEWER"
OPERATOR = "U0OPERATOR"
APPROVER = "U0APPROVER1"
AUDITOR = "U0AUDITOR"
STRANGER = "U0STRANGER"

OPS = "C0OPS"
APPROVALS = "C0APPROVALS"
ALERTS = "C0ALERTS"
ELSEWHERE = "C0RANDOM"

#: Slack's limit for acknowledging a command; the scenarios want far less.
ACK_LIMIT = 3.0
WAIT = 10.0


def texts_in(node: Any) -> list[str]:
    """Every ``text`` string inside blocks (sections, fields, headers, context elements)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(texts_in(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(texts_in(item))
    return found


def visible(message: RecordedMessage) -> str:
    """What a person can read in a message: its fallback text and the text of every block."""
    return "\n".join([message.text, *texts_in(message.blocks)])


def everything_slack_saw(stack: Sandbox) -> str:
    """Every message (ephemeral, deleted and edited ones too) and every Web API call, as text."""
    messages = [m.to_dict() for m in stack.slack.messages()]
    calls = [{"method": c.method, "args": c.args} for c in stack.slack.calls()]
    return json.dumps({"messages": messages, "calls": calls}, ensure_ascii=False)


def assert_acked_at_once(response: DriverResponse) -> None:
    """Slack got its HTTP 200 well within three seconds."""
    assert not response.timed_out, "Slack would have shown operation_timeout"
    assert response.status == 200, response
    assert response.elapsed < ACK_LIMIT / 3, f"ack took {response.elapsed:.2f} s"


async def fp(stack: Sandbox, text: str, *, user: str, channel: str = OPS) -> DriverResponse:
    """Type ``/fp <text>`` as ``user`` in ``channel``; the ack must be immediate."""
    assert stack.slack.driver is not None
    response = await stack.slack.driver.command(text, user=user, channel=channel)
    assert_acked_at_once(response)
    return response


async def reply_to(stack: Sandbox, user: str, *, count: int = 1) -> RecordedMessage:
    """Wait until ``user`` has ``count`` ephemeral replies; the latest one."""
    await stack.slack.wait_for(
        lambda: len(stack.slack.ephemerals(user)) >= count,
        WAIT,
        what=f"ephemeral reply number {count} to {user}",
    )
    return stack.slack.ephemerals(user)[count - 1]


async def settled(stack: Sandbox) -> None:
    """Wait until the bot has finished every command it acknowledged (its in-flight work)."""
    assert stack.bot is not None and stack.bot.services is not None
    tasks = stack.bot.services.tasks
    await stack.slack.wait_for(lambda: len(tasks) == 0, WAIT, what="the bot to finish its work")


async def listing_in(stack: Sandbox, channel: str, title: str) -> list[RecordedMessage]:
    """The messages of the listing titled ``title…`` in ``channel``, once the bot is done."""
    await settled(stack)
    return [m for m in stack.slack.channel_messages(channel) if m.text.startswith(title)]


def api_calls(stack: Sandbox) -> int:
    """How many requests the stand-in Management API has received so far."""
    return stack.fingerprint.count()


def joined(messages: Iterable[RecordedMessage]) -> str:
    return "\n".join(visible(m) for m in messages)


class TcpProxy:
    """A TCP relay to a server (PostgreSQL), which a test can cut and restore: the way a
    database becomes unreachable in production, connection refused and connections dropped.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def url_for(self, database_url: str) -> str:
        """``database_url`` (on ``host:port``) rewritten to go through this relay."""
        host, port = self._target
        return database_url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    async def start(self) -> None:
        """Listen (again) on the same port once one was chosen."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cut()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, server_w))
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
