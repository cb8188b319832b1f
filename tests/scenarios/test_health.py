"""``/healthz`` and the bot when a dependency stops answering (interface.md §8).

A load balancer's probe gives up after about a second, and a probe that times out takes the
replica out just like a 503. Only the store may do that; a Redis that hangs makes the answer
``degraded``, and commands that need Redis fail with an error within seconds instead of hanging.
A hung Redis is played by a relay in front of the real one that stops passing bytes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.scenarios.bot_helpers import OPS, VIEWER, fp, reply_to, visible
from tests.scenarios.conftest import StackFactory

REDIS = ("127.0.0.1", 6379)


class FreezingRelay:
    """A TCP relay to Redis that a test can freeze: connections stay open (and new ones are
    accepted) but no byte is passed on — a Redis that stops answering, not one that refuses."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    def freeze(self) -> None:
        self._thawed.clear()

    async def __aenter__(self) -> FreezingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        await self._thawed.wait()
        try:
            server_r, server_w = await asyncio.open_connection(*REDIS)
        except OSError:
            client_w.close()
            return
        self._writers.add(server_w)
        for reader, writer in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                await self._thawed.wait()
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def redis_relay() -> AsyncIterator[FreezingRelay]:
    client = aioredis.Redis(host=REDIS[0], port=REDIS[1], socket_connect_timeout=1)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:  # pragma: no cover — depends on the machine
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    finally:
        await client.aclose()
    async with FreezingRelay() as relay:
        yield relay


@pytest.mark.redis
async def test_a_command_fails_with_an_error_within_seconds_when_redis_hangs(
    make_stack: StackFactory, redis_relay: FreezingRelay
) -> None:
    async with make_stack(redis_url=redis_relay.url) as stack:
        redis_relay.freeze()
        started = time.monotonic()
        await fp(stack, "envs", user=VIEWER, channel=OPS)
        reply = visible(await reply_to(stack, VIEWER))
        elapsed = time.monotonic() - started

    # Two Redis round trips are tried (the shared cache, then the rate budget), each bounded.
    assert elapsed < 7, f"the user waited {elapsed:.1f} s for an answer"
    assert "Redis" in reply
    assert stack.fingerprint.count() == 0, "no call leaves without the shared budget"
