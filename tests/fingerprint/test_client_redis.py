"""The shared parts against a real Redis (127.0.0.1:6379): the rate budget of two client
processes together, and a cache that a write on one replica invalidates for every replica.
Each run uses a fresh key prefix and deletes it afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from bot.fingerprint import ManagementClient
from bot.fingerprint.errors import RateLimited, Unavailable
from bot.fingerprint.ratelimit import Paused, RedisSlidingWindowLimiter, key_fingerprint
from sandbox.fingerprint import FakeFingerprint, StandInServer
from tests.fingerprint.fp_helpers import Recorder, make_client

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    client = Redis(host="127.0.0.1", port=6379)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover — depends on the machine
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    prefix = f"fpbot-test-{secrets.token_hex(6)}"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_processes_sharing_redis_stay_together_under_the_limit(
    redis: tuple[Redis, str],
) -> None:
    connection, prefix = redis
    fake = FakeFingerprint(rate_limit=5.0, burst=5, environments=32, seed=1)
    async with StandInServer(fake) as api:
        start_at = time.time() + 1.5  # both processes have imported everything by then
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).with_name("redis_worker.py")),
                api.url,
                api.key,
                prefix,
                "8",
                str(start_at),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [await asyncio.wait_for(w.communicate(), timeout=30) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()
        assert out.decode().split()[-1] == "8"
    assert fake.count("GET", "/hello") == 16
    assert fake.rejected_429 == 0
    assert fake.max_in_window(1.0) <= 5
    # Nothing in Redis names the key itself.
    names = [k.decode() async for k in connection.scan_iter(match=f"{prefix}:*")]
    assert names and all(api.key not in n and key_fingerprint(api.key) in n for n in names)


async def test_a_write_on_one_replica_invalidates_every_replicas_cache(
    redis: tuple[Redis, str],
) -> None:
    connection, prefix = redis
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=12, seed=1)
    async with StandInServer(fake) as api:
        options = {"redis": connection, "redis_prefix": prefix, "rate_limit": 1000.0}
        one = ManagementClient(api_key=api.key, base_url=api.url, cache_ttl=60, **options)
        two = ManagementClient(api_key=api.key, base_url=api.url, cache_ttl=60, **options)
        async with one, two:
            assert len(await one.list_environments()) == 12
            assert len(await two.list_environments()) == 12  # from the shared cache
            assert fake.count("GET", "/environments") == 1 and two.stats.cache_hits == 1
            await two.create_environment("Made on replica two")
            assert len(await one.list_environments()) == 13
    assert fake.count("GET", "/environments") == 2


async def test_the_shared_cache_expires_with_its_ttl(redis: tuple[Redis, str]) -> None:
    connection, prefix = redis
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=12, seed=1)
    async with StandInServer(fake) as api:
        client = ManagementClient(
            api_key=api.key,
            base_url=api.url,
            cache_ttl=0.3,
            redis=connection,
            redis_prefix=prefix,
            rate_limit=1000.0,
        )
        async with client:
            await client.list_environments()
            await client.list_environments()
            await asyncio.sleep(0.35)
            await client.list_environments()
    assert fake.count("GET", "/environments") == 2


async def test_the_redis_limiter_admits_the_limit_then_waits(redis: tuple[Redis, str]) -> None:
    connection, prefix = redis
    limiter = RedisSlidingWindowLimiter(connection, "k" * 20, 5.0, prefix=prefix)
    started = time.monotonic()
    for _ in range(5):
        async with limiter.slot():
            pass
    assert time.monotonic() - started < 0.5
    async with limiter.slot():
        pass
    assert time.monotonic() - started >= 1.0


async def test_a_pause_holds_every_process_back(redis: tuple[Redis, str]) -> None:
    connection, prefix = redis
    limiter = RedisSlidingWindowLimiter(connection, "k" * 20, 5.0, prefix=prefix)
    other = RedisSlidingWindowLimiter(connection, "k" * 20, 5.0, prefix=prefix)
    await limiter.pause(0.3)
    started = time.monotonic()
    async with other.slot():
        pass
    assert time.monotonic() - started >= 0.25


async def test_a_pause_past_a_callers_deadline_refuses_it_at_once(redis: tuple[Redis, str]) -> None:
    connection, prefix = redis
    limiter = RedisSlidingWindowLimiter(connection, "k" * 20, 5.0, prefix=prefix)
    other = RedisSlidingWindowLimiter(connection, "k" * 20, 5.0, prefix=prefix)
    await limiter.pause(5.0)
    started = time.monotonic()
    with pytest.raises(Paused) as caught:
        async with other.slot(deadline=time.monotonic() + 1.0):
            pass
    assert time.monotonic() - started < 0.2
    assert 4.5 < caught.value.remaining <= 5.0


async def test_a_429_on_one_replica_holds_back_every_replica_even_when_it_gives_up(
    redis: tuple[Redis, str],
) -> None:
    """Replica one is told ``Retry-After: 30`` and gives up (its budget is 10 s); replica two,
    a separate process sharing Redis, sends nothing before the 30 s are over."""
    connection, prefix = redis
    answers = [httpx.Response(429, headers={"Retry-After": "30"})]
    recorder = Recorder(lambda r: answers.pop(0) if answers else {"data": {"message": "hi"}})
    options = {"redis": connection, "redis_prefix": prefix, "retry_budget": 10.0}
    async with make_client(recorder, **options) as one, make_client(recorder, **options) as two:
        with pytest.raises(RateLimited):
            await one.hello()
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            await two.hello()
        assert time.monotonic() - started < 0.5
    assert caught.value.retry_after is not None and 28 < caught.value.retry_after <= 30
    assert len(recorder.requests) == 1


async def test_a_503_retry_after_on_one_replica_holds_back_every_replica(
    redis: tuple[Redis, str],
) -> None:
    connection, prefix = redis
    answers = [httpx.Response(503, headers={"Retry-After": "30"})]
    recorder = Recorder(lambda r: answers.pop(0) if answers else {"data": {"message": "hi"}})
    options = {"redis": connection, "redis_prefix": prefix, "retry_budget": 10.0}
    async with make_client(recorder, **options) as one, make_client(recorder, **options) as two:
        with pytest.raises(Unavailable):
            await one.create_environment("Never sent twice")
        with pytest.raises(RateLimited) as caught:
            await two.hello()
    assert caught.value.retry_after is not None and 28 < caught.value.retry_after <= 30
    assert len(recorder.requests) == 1


async def test_encryption_key_tokens_never_reach_the_shared_cache(
    redis: tuple[Redis, str],
) -> None:
    connection, prefix = redis
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=5, seed=1)
    async with StandInServer(fake) as api:
        client = ManagementClient(
            api_key=api.key,
            base_url=api.url,
            api_version="2025-11-20",
            cache_ttl=60,
            redis=connection,
            redis_prefix=prefix,
            rate_limit=1000.0,
        )
        async with client:
            keys = await client.list_encryption_keys()
    entries = [name async for name in connection.scan_iter(match=f"{prefix}:fp:*:cache:*")]
    stored = b"".join([await connection.get(name) or b"" for name in entries])
    assert keys[0].id.encode() in stored, "the listing is cached, without its tokens"
    tokens = [t for k in keys for t in (k.token, k.previous_token, k.next_token) if t]
    assert tokens and not [t for t in tokens if t.encode() in stored]
