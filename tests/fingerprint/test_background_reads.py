"""Background reads (the account watch): a share of the budget, behind every command.

The limiter gives a waiting command the next slot even when a background read was waiting
first; the client spends at most its share on background calls, never lets a command join a
background walk, and tells its observer of every attempt and every wait for the budget.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aioredis

from bot.fingerprint.ratelimit import RedisSlidingWindowLimiter, SlidingWindowLimiter
from tests.fingerprint.fp_helpers import API_KEY, Recorder, make_client, page


async def test_a_command_waiting_for_the_budget_goes_before_a_background_read() -> None:
    limiter = SlidingWindowLimiter(2.0, margin=0.0)
    order: list[str] = []
    async with limiter.slot(), limiter.slot():  # the window is full

        async def take(name: str, background: bool) -> None:
            async with limiter.slot(background=background):
                order.append(name)

        watch = asyncio.create_task(take("watch", True))
        await asyncio.sleep(0.05)  # the read waits first…
        command = asyncio.create_task(take("command", False))
        await asyncio.sleep(0.05)
    await asyncio.gather(watch, command)
    assert order == ["command", "watch"], "…and still goes after the command"


async def test_a_background_read_does_not_hold_the_queue_while_it_waits() -> None:
    limiter = SlidingWindowLimiter(1.0, margin=0.0)
    async with limiter.slot():
        pass  # the window now holds one answer, for a second
    watch = asyncio.create_task(_hold(limiter, background=True))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    async with limiter.slot():
        waited = time.monotonic() - started
    assert waited < 1.1, "the command waited for the window, not behind the read"
    await watch


async def _hold(limiter: SlidingWindowLimiter, *, background: bool) -> None:
    async with limiter.slot(background=background):
        pass


@pytest.mark.redis
async def test_the_shared_budget_also_puts_background_reads_last() -> None:
    redis = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        await redis.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Redis is not available: {exc}")
    prefix = f"fpbot-test-bg-{time.monotonic_ns()}"
    limiter = RedisSlidingWindowLimiter(redis, API_KEY, 2.0, prefix=prefix, margin=0.0)
    order: list[str] = []
    try:
        async with limiter.slot(), limiter.slot():

            async def take(name: str, background: bool) -> None:
                async with limiter.slot(background=background):
                    order.append(name)

            watch = asyncio.create_task(take("watch", True))
            await asyncio.sleep(0.05)
            command = asyncio.create_task(take("command", False))
            await asyncio.sleep(0.05)
        await asyncio.gather(watch, command)
        assert order == ["command", "watch"]
    finally:
        await redis.delete(limiter.key, limiter.pause_key)
        await redis.aclose()


class Seen:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.waits: list[tuple[float, bool]] = []

    def requested(self, operation: str, status: str) -> None:
        self.requests.append((operation, status))

    def budget_waited(self, seconds: float, *, background: bool) -> None:
        self.waits.append((seconds, background))


async def test_background_calls_take_at_most_their_share_of_the_budget() -> None:
    recorder = Recorder(lambda request: page([{"id": "ae_1", "name": "One"}]))
    seen = Seen()
    client = make_client(recorder, rate_limit=10.0, cache_ttl=0, observer=seen)
    started = time.monotonic()
    with client.background(share=0.2):  # 2 requests a second
        for _ in range(4):
            await client.list_environments()
    elapsed = time.monotonic() - started
    await client.aclose()
    assert elapsed >= 1.0, f"4 background calls at 2/s took only {elapsed:.2f}s"
    assert seen.requests == [("GET /environments", "200")] * 4
    assert all(background for _, background in seen.waits)


async def test_a_command_never_joins_a_background_walk_nor_reads_its_listing_cached() -> None:
    gate = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json=page([{"id": "ae_1", "name": "One"}]))

    recorder = Recorder(slow)
    client = make_client(recorder, cache_ttl=60)

    async def watch() -> None:
        with client.background():
            await client.list_environments()

    reading = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    command = asyncio.create_task(client.list_environments())
    await asyncio.sleep(0.05)
    assert len(recorder.requests) == 2, "the command made its own request"
    gate.set()
    await asyncio.gather(reading, command)
    await client.list_environments()
    assert len(recorder.requests) == 2, "the command's listing is cached; the watch's is not"
    await client.aclose()


async def test_the_observer_hears_errors_and_waits() -> None:
    recorder = Recorder(lambda request: httpx.Response(404, json={"error": {"code": "x"}}))
    seen = Seen()
    client = make_client(recorder, observer=seen)
    with pytest.raises(Exception, match="404"):
        await client.get_api_key("tok_1")
    await client.aclose()
    assert seen.requests == [("GET /api-keys/{id}", "404")]
    assert [background for _, background in seen.waits] == [False]
