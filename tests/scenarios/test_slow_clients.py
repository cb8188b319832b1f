"""Slow clients: a request whose headers and body have not fully arrived
within the deadline is dropped, and open connections are capped, so hundreds of sockets
dribbling a header line now and then never starve the bot of file descriptors.

Real sockets over loopback: the bot in this process with a short deadline and a small cap, and
``fpbot serve`` as a subprocess with a low file-descriptor limit, as in production.
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.server import BotServer
from bot.settings import load_settings
from sandbox.fingerprint import StandInServer
from sandbox.run import BOT_TOKEN, SIGNING_SECRET, sample_policy_path
from sandbox.slack import FakeSlack, SlackDriver
from tests.scenarios import test_server as server_scenarios
from tests.scenarios.bot_helpers import OPS, VIEWER, WAIT, assert_acked_at_once, visible
from tests.scenarios.test_server import fpbot_env, free_port, wait_until_serving

#: A fake Slack and a stand-in Management API, for a bot in this process or another.
stand_ins = server_scenarios.stand_ins

#: Longer than any test here waits: a dribbler still sending at the end was never dropped.
DRIBBLE_LINES = 100
#: A connection not accepted within this is taken as refused (the listen backlog is full).
CONNECT_TIMEOUT = 2.0


class Dribbler:
    """One slow client: a request sent one header line every ``every`` seconds."""

    def __init__(self, port: int, *, every: float, body: bool = False) -> None:
        self.port = port
        self.every = every
        self.body = body
        self.sent = 0
        self.dropped = asyncio.Event()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), CONNECT_TIMEOUT
            )
        except (TimeoutError, OSError):  # never accepted: as good as refused
            self.dropped.set()
            return
        finally:
            self.connected.set()
        closed = asyncio.ensure_future(reader.read())  # b"" at EOF, or a reset
        try:
            if self.body:  # the headers at once, then the body a few bytes at a time
                writer.write(
                    b"POST /slack/events HTTP/1.1\r\nHost: fpbot\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
            else:
                writer.write(b"POST /slack/events HTTP/1.1\r\nHost: fpbot\r\n")
            for self.sent in range(DRIBBLE_LINES):
                done, _ = await asyncio.wait({closed}, timeout=self.every)
                if done:
                    self.dropped.set()
                    return
                writer.write(b"text=x&" if self.body else b"X-Dribble: x\r\n")
        finally:
            closed.cancel()
            if closed.done() and not closed.cancelled():
                closed.exception()
            writer.close()


@asynccontextmanager
async def dribbling(
    dribblers: list[Dribbler], *, in_order: bool = False
) -> AsyncIterator[list[Dribbler]]:
    """Run the dribblers, all connected (or refused) before the block starts, one after
    another if ``in_order``; stop them afterwards."""
    tasks = []
    for dribbler in dribblers:
        tasks.append(asyncio.ensure_future(dribbler.run()))
        if in_order:
            await dribbler.connected.wait()
    await asyncio.gather(*(d.connected.wait() for d in dribblers))
    try:
        yield dribblers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def bot_in_process(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, **server: Any
) -> AsyncIterator[BotServer]:
    slack, api = stand_ins
    settings = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        fp_management_api_key=api.key,
        fp_management_api_url=api.url,
        fpbot_policy=str(sample_policy_path()),
        database_url=f"sqlite:///{tmp_path / 'fpbot.sqlite3'}",
        host="127.0.0.1",
        port=0,
    )
    bot = BotServer(settings, **server)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def port_of(bot: BotServer) -> int:
    return int(bot.url.rsplit(":", 1)[1])


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def whoami_works(slack: FakeSlack, bot: BotServer) -> None:
    """A person's command is acknowledged and answered (the answer goes out to Slack)."""
    async with SlackDriver(slack, bot.url + "/slack/events", SIGNING_SECRET) as driver:
        assert_acked_at_once(await driver.command("whoami", user=VIEWER, channel=OPS))
    await slack.wait_for(lambda: bool(slack.ephemerals(VIEWER)), WAIT, what="the answer")
    assert "viewer" in visible(slack.ephemerals(VIEWER)[0])


@pytest.mark.parametrize("part", ["headers", "body"])
async def test_a_request_that_dribbles_in_is_dropped_at_the_deadline(
    stand_ins: tuple[FakeSlack, StandInServer],
    tmp_path: Path,
    log_buffer: io.StringIO,
    part: str,
) -> None:
    async with bot_in_process(stand_ins, tmp_path, request_deadline=0.5) as bot:
        slow = [Dribbler(port_of(bot), every=0.1, body=part == "body") for _ in range(30)]
        async with dribbling(slow):
            await asyncio.wait_for(asyncio.gather(*(d.dropped.wait() for d in slow)), WAIT)
            await whoami_works(stand_ins[0], bot)

    assert all(d.sent < DRIBBLE_LINES for d in slow), "dropped before they were done"
    logged = records(log_buffer)
    assert [r for r in logged if r["level"] in ("error", "critical")] == []
    too_slow = [r for r in logged if r["event"] == "request_too_slow"]
    assert 1 <= len(too_slow) <= 3, "a few lines, not one per connection"


async def test_connections_beyond_the_cap_close_the_oldest_slow_ones_and_the_bot_still_serves(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, log_buffer: io.StringIO
) -> None:
    async with bot_in_process(stand_ins, tmp_path, max_connections=20) as bot:
        slow = [Dribbler(port_of(bot), every=0.2) for _ in range(100)]
        async with dribbling(slow, in_order=True):
            await asyncio.wait_for(asyncio.gather(*(d.dropped.wait() for d in slow[:80])), WAIT)
            await whoami_works(stand_ins[0], bot)
            still_open = [d for d in slow if not d.dropped.is_set()]
        await stand_ins[0].wait_for(
            lambda: bot.connections.open == 0, WAIT, what="every connection to be let go"
        )

    assert len(still_open) <= 20
    assert all(not d.dropped.is_set() for d in slow[-19:]), "the newest ones were kept"
    logged = records(log_buffer)
    assert [r for r in logged if r["level"] in ("error", "critical")] == []
    assert 1 <= len([r for r in logged if r["event"] == "connections_at_capacity"]) <= 3


def low_fd_limit(limit: int) -> Callable[[], None]:
    """In the child: ``limit`` file descriptors, as a small container would give."""

    def limited() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    return limited


@pytest.mark.parametrize(
    ("fds", "paused"),
    [(256, False), (128, True)],
    ids=["dribbling", "a-burst-queued-while-paused"],
)
async def test_hundreds_of_dribbling_sockets_do_not_starve_fpbot_serve_of_file_descriptors(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, fds: int, paused: bool
) -> None:
    """300 slow sockets against a process allowed few descriptors: a listing still reaches the
    API and the channel, and nothing says "Too many open files".

    ``paused``: the process is stopped while the sockets connect, so that the whole listen
    queue waits to be accepted at once when it resumes — as a busy event loop meets a burst.
    """
    slack, api = stand_ins
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        env=fpbot_env(slack, api, tmp_path, PORT=str(port), LOG_LEVEL="INFO"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=low_fd_limit(fds),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_until_serving(url, process)
        slow = [Dribbler(port, every=0.5) for _ in range(300)]
        if paused:
            process.send_signal(signal.SIGSTOP)
        async with dribbling(slow):
            if paused:  # the burst is let in before the command (whose SYN would queue behind)
                process.send_signal(signal.SIGCONT)
                await asyncio.sleep(0.5)
            async with SlackDriver(slack, url + "/slack/events", SIGNING_SECRET) as d:
                assert_acked_at_once(await d.command("envs", user=VIEWER, channel=OPS))
                await slack.wait_for(
                    lambda: any(
                        m.text.startswith("Environments") for m in slack.channel_messages(OPS)
                    ),
                    WAIT,
                    what="the listing",
                )
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 15)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            await process.communicate()  # not wait(): a full stdout pipe would block it

    printed = output.decode()
    assert process.returncode == 0, printed[-3000:]
    assert "Too many open files" not in printed and "out of system resource" not in printed
    assert "Traceback" not in printed
    assert printed.count("connections_at_capacity") <= 3
    assert api.fake.count("GET", "/environments") >= 1
