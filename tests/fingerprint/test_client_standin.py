"""The client against the stand-in Management API over real loopback HTTP: every resource in
both API versions, the errors the API really sends, faults, and the rate budget as the
server counts it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.fingerprint import (
    Environment,
    KeyType,
    ManagementClient,
    NotFound,
    PlanLimitReached,
    RateLimited,
    Status,
    Timeout,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from sandbox.fingerprint import FakeFingerprint, StandInServer

VERSIONS = ["2024-05-20", "2025-11-20"]


@pytest.fixture
async def fast_api() -> AsyncIterator[StandInServer]:
    """A stand-in whose rate limit does not get in the way of functional tests."""
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=32, seed=1)
    async with StandInServer(fake) as api:
        yield api


@pytest.fixture
async def api() -> AsyncIterator[StandInServer]:
    """The stand-in as the real API: 5 requests/s per key, bursts of 5."""
    fake = FakeFingerprint(rate_limit=5.0, burst=5, environments=32, seed=1)
    async with StandInServer(fake) as server:
        yield server


def client_for(api: StandInServer, **options: Any) -> ManagementClient:
    options.setdefault("rate_limit", 1000.0)
    options.setdefault("retry_budget", 3.0)
    return ManagementClient(api_key=api.key, base_url=api.url, **options)


@pytest.mark.parametrize("version", VERSIONS)
async def test_environments_lifecycle(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version, page_size=10) as client:
        envs = await client.list_environments()
        assert len(envs) == 32 and len({e.id for e in envs}) == 32
        assert fast_api.fake.count("GET", "/environments") == 4
        created = await client.create_environment("Staging EU", description="for tests")
        assert isinstance(created, Environment) and created.description == "for tests"
        renamed = await client.update_environment(created.id, name="Staging EU 2")
        assert renamed.name == "Staging EU 2"
        assert fast_api.fake.count("POST", f"/environments/{created.id}") == 1
        assert "Staging EU 2" in {e.name for e in await client.list_environments()}
        await client.delete_environment(created.id)
        assert created.id not in {e.id for e in await client.list_environments()}
        with pytest.raises(NotFound):
            await client.delete_environment(created.id)


@pytest.mark.parametrize("version", VERSIONS)
async def test_api_keys_lifecycle_reads_both_casings(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version) as client:
        keys = await client.list_api_keys()
        secrets_enabled = await client.list_api_keys(type=KeyType.SECRET, status=Status.ENABLED)
        assert secrets_enabled and all(
            k.type is KeyType.SECRET and k.status is Status.ENABLED for k in secrets_enabled
        )
        # 2024-05-20 answers single keys in camelCase: the model reads them all the same.
        got = await client.get_api_key(keys[0].id)
        assert got.rate_limit == keys[0].rate_limit and got.created_at == keys[0].created_at
        env = (await client.list_environments())[0]
        created = await client.create_api_key(
            type=KeyType.SECRET, name="CI key", environment=env.id
        )
        assert created.token and created.environment == env.id
        updated = await client.update_api_key(created.id, status=Status.DISABLED, rate_limit=2.5)
        assert updated.status is Status.DISABLED and updated.rate_limit == 2.5
        await client.delete_api_key(created.id)
        with pytest.raises(NotFound):
            await client.get_api_key(created.id)


@pytest.mark.parametrize("version", VERSIONS)
async def test_webhooks_lifecycle(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version) as client:
        before = await client.list_webhooks()
        hook = await client.create_webhook(url="https://example.com/fp", description="alerts")
        assert hook.signing_key
        assert (await client.get_webhook(hook.id)).url == "https://example.com/fp"
        await client.verify_webhook(hook.id)
        assert fast_api.fake.count("POST", f"/webhooks/{hook.id}/verification") == 1
        disabled = await client.update_webhook(hook.id, status=Status.DISABLED)
        assert disabled.status is Status.DISABLED
        assert len(await client.list_webhooks()) == len(before) + 1
        assert hook.id in {h.id for h in await client.list_webhooks(status=Status.DISABLED)}
        await client.delete_webhook(hook.id)
        assert len(await client.list_webhooks()) == len(before)


async def test_hello_answers(fast_api: StandInServer) -> None:
    async with client_for(fast_api) as client:
        await client.hello()


async def test_a_revoked_key_is_unauthorized(fast_api: StandInServer) -> None:
    fast_api.fake.faults.revoked = True
    async with client_for(fast_api) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.list_environments()
    assert caught.value.code == "general.unauthorized"


async def test_validation_errors_carry_violations(fast_api: StandInServer) -> None:
    async with client_for(fast_api) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.create_webhook(url="http://not-https.example")
    assert caught.value.violations and caught.value.violations[0].property == "url"


@pytest.mark.parametrize("limit_status", [400, 409])
async def test_a_plan_limit_is_recognised_as_400_or_409(
    fast_api: StandInServer, limit_status: int
) -> None:
    fast_api.fake.faults.limit_status = limit_status
    async with client_for(fast_api) as client:
        with pytest.raises(PlanLimitReached) as caught:
            for number in range(20):
                await client.create_webhook(url=f"https://example.com/{number}")
    assert caught.value.status == limit_status


@pytest.mark.parametrize("retry_after", [0.3, None], ids=["Retry-After", "no header"])
async def test_forced_429s_are_retried_until_they_pass(
    fast_api: StandInServer, retry_after: float | None
) -> None:
    fast_api.fake.faults.force_429 = 2
    fast_api.fake.faults.retry_after = retry_after
    async with client_for(fast_api) as client:
        started = time.monotonic()
        await client.hello()
    assert fast_api.fake.rejected_429 == 2 and fast_api.fake.count("GET", "/hello") == 3
    if retry_after is not None:
        assert time.monotonic() - started >= 2 * retry_after


async def test_a_retry_after_longer_than_the_budget_fails_fast(fast_api: StandInServer) -> None:
    fast_api.fake.faults.force_429 = 1
    fast_api.fake.faults.retry_after = 30
    async with client_for(fast_api, retry_budget=10) as client:
        with pytest.raises(RateLimited) as caught:
            await client.hello()
    assert caught.value.retry_after == 30


async def test_a_503_then_success(fast_api: StandInServer) -> None:
    fake = fast_api.fake
    fake.faults.error_rate = 1.0
    fake.faults.error_status = 503

    async def heal() -> None:
        while fake.count(status=503) == 0:  # noqa: ASYNC110 — the fake has no event to wait on
            await asyncio.sleep(0.005)
        fake.reset_faults()

    async with client_for(fast_api) as client:
        _, envs = await asyncio.gather(heal(), client.list_environments())
    assert len(envs) == 32
    assert fake.count(status=503) == 1


async def test_503s_beyond_the_budget_surface_as_unavailable(fast_api: StandInServer) -> None:
    fast_api.fake.faults.error_rate = 1.0
    async with client_for(fast_api, retry_budget=0.5) as client:
        with pytest.raises(Unavailable):
            await client.list_environments()


async def test_a_hanging_server_raises_timeout(fast_api: StandInServer) -> None:
    fast_api.fake.faults.hang = True
    async with client_for(fast_api, timeout=0.3, retry_budget=0) as client:
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            await client.list_environments()
    assert time.monotonic() - started < 1.0
    assert caught.value.operation == "GET /environments"
    fast_api.fake.faults.hang = False


async def test_fifty_concurrent_listings_walk_the_pages_once(fast_api: StandInServer) -> None:
    fast_api.fake.faults.latency = 0.02
    async with client_for(fast_api, page_size=10) as client:
        results = await asyncio.gather(*(client.list_environments() for _ in range(50)))
    assert all(len(r) == 32 for r in results)
    assert fast_api.fake.count("GET", "/environments") == 4


async def test_a_write_invalidates_the_cached_listing(fast_api: StandInServer) -> None:
    async with client_for(fast_api, cache_ttl=60) as client:
        first = await client.list_environments()
        await client.list_environments()
        assert fast_api.fake.count("GET", "/environments") == 1
        created = await client.create_environment("Fresh one")
        after = await client.list_environments()
    assert fast_api.fake.count("GET", "/environments") == 2
    assert len(after) == len(first) + 1 and created.id in {e.id for e in after}


async def test_concurrent_calls_never_exceed_five_per_second(api: StandInServer) -> None:
    """The literal budget: distinct calls (no coalescing) at 5/s, counted by the server."""
    keys = [k.id for k in await _listing_at_full_speed(api)]
    async with client_for(api, rate_limit=5.0) as client:
        await asyncio.gather(*(client.get_api_key(keys[i % len(keys)]) for i in range(12)))
    assert api.fake.rejected_429 == 0
    assert api.fake.max_in_window(1.0) <= 5


async def test_one_hundred_concurrent_calls_stay_under_a_faster_limit() -> None:
    """The same property at 25/s so that 100 calls take 4 s, not 20."""
    fake = FakeFingerprint(rate_limit=25.0, burst=25, environments=32, seed=1)
    async with StandInServer(fake) as api, client_for(api, rate_limit=25.0) as client:
        fake.faults.latency = 0.02
        await asyncio.gather(*(client.hello() for _ in range(100)))
    assert fake.count("GET", "/hello") == 100
    assert fake.rejected_429 == 0
    assert fake.max_in_window(1.0) <= 25


async def _listing_at_full_speed(api: StandInServer) -> list[Any]:
    """Read the keys without spending the budget the test is about to measure."""
    fake = api.fake
    saved = fake.rate_limit, fake.burst
    fake.rate_limit, fake.burst = 1000.0, 1000
    async with client_for(api) as client:
        keys = await client.list_api_keys()
    fake.rate_limit, fake.burst = saved
    fake.clear_requests()
    return keys
