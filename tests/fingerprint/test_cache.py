"""The in-process listing cache over a long run: entries of filter combinations nobody lists
again must not pile up (one per combination, cleared otherwise only by a write)."""

from __future__ import annotations

import asyncio
import time

from bot.fingerprint.cache import MemoryCache

TTL = 0.05


async def put(cache: MemoryCache, key: str) -> None:
    generation = await cache.generation()
    await cache.put(key, [{"id": key}], generation=generation, started=time.monotonic())


async def test_expired_entries_are_dropped_when_a_new_one_is_stored() -> None:
    cache = MemoryCache(TTL)
    for i in range(500):
        await put(cache, f"keys?environment=ae_{i}")
    assert len(cache) == 500

    await asyncio.sleep(TTL * 1.5)
    await put(cache, "envs")

    assert len(cache) == 1, "the 500 expired listings are gone, not kept until the next write"
    assert await cache.get("envs") == [{"id": "envs"}]


async def test_fresh_entries_survive_the_sweep_and_are_still_served() -> None:
    cache = MemoryCache(60)
    await put(cache, "envs")
    await put(cache, "keys")

    assert len(cache) == 2
    assert await cache.get("envs") == [{"id": "envs"}]
    assert await cache.get("keys") == [{"id": "keys"}]


async def test_a_listing_fetched_before_a_write_is_still_not_stored() -> None:
    cache = MemoryCache(60)
    generation = await cache.generation()
    await cache.invalidate()

    await cache.put("envs", [{"id": "old"}], generation=generation, started=time.monotonic())

    assert await cache.get("envs") is None and len(cache) == 0
