"""When the shared rate budget (Redis) is unreachable, no call leaves and the error says why."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.fingerprint import ManagementClient
from bot.fingerprint.errors import BudgetUnavailable
from bot.render.errors import summary_of
from sandbox.fingerprint import FakeFingerprint, StandInServer


async def test_an_unreachable_redis_stops_calls_with_a_clear_error() -> None:
    fake = FakeFingerprint(environments=3)
    async with StandInServer(fake) as api:
        # Nothing listens on port 1: the budget can't be consulted.
        dead = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5)
        client = ManagementClient(api_key=api.key, base_url=api.url, redis=dead)
        try:
            with pytest.raises(BudgetUnavailable) as caught:
                await client.list_environments()
        finally:
            await client.aclose()
            await dead.aclose()
    assert caught.value.error_code == "redis.unavailable"
    assert "Redis" in summary_of(caught.value)
    assert fake.count() == 0
