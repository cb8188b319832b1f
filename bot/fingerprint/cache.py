"""Short-lived listing cache of the Management API client.

Listings are read far more often than they change (every ``/fp envs``, every id check before a
change request), and the rate budget is small, so a listing is kept for a few seconds. Two
rules keep it honest:

* nothing is served older than the TTL — an entry's age counts from the moment its fetch
  *started*, since the data may reflect any instant after that;
* any write through the client bumps a *generation*; entries of older generations are never
  read again, and a fetch that began before the bump never stores its (possibly stale) result
  under the new generation.

`MemoryCache` serves one process. `RedisCache` keeps entries in Redis under a generation
counter that writes ``INCR``, so a write on one replica invalidates every replica's cache.
Values are JSON-ready lists of items (what the API returned, secrets removed).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

Items = list[dict[str, Any]]


class ListingCache(Protocol):
    """What the client needs from a cache."""

    async def generation(self) -> int:
        """The current generation; capture it before fetching, pass it to `put`."""

    async def get(self, key: str) -> Items | None:
        """The fresh entry of the current generation, or ``None``."""

    async def put(self, key: str, items: Items, *, generation: int, started: float) -> None:
        """Store a listing fetched from ``started`` (``time.monotonic()``) on, if still fresh."""

    async def invalidate(self) -> None:
        """Forget every entry: a write happened."""


class MemoryCache:
    """The cache of one process."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._generation = 0
        self._entries: dict[str, tuple[float, Items]] = {}

    async def generation(self) -> int:
        return self._generation

    async def get(self, key: str) -> Items | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, items = entry
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        return items

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    async def put(self, key: str, items: Items, *, generation: int, started: float) -> None:
        expires = started + self.ttl
        now = time.monotonic()
        if generation == self._generation and now < expires:
            # One entry per filter combination ever listed, and only a write clears them all:
            # drop the expired ones here, or a long-running process keeps every listing it
            # ever cached. A few dozen entries at most are live, so the sweep is cheap.
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            self._entries[key] = (expires, items)

    async def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()


# KEYS[1] the generation counter; ARGV[1] the entry key's prefix, ARGV[2] the listing key.
# Reads the generation and the entry in one step.
_GET_LUA = """
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2])
"""

# KEYS[1] the generation counter; ARGV: entry prefix, listing key, generation, value, ms.
# Stores only if no write bumped the generation since the fetch began.
_PUT_LUA = """
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[3] then
  return 0
end
redis.call('SET', ARGV[1] .. gen .. ':' .. ARGV[2], ARGV[4], 'PX', ARGV[5])
return 1
"""


class RedisCache:
    """The cache every replica shares; entries expire by Redis ``PX``."""

    def __init__(self, redis: Redis, namespace: str, ttl: float) -> None:
        self.ttl = ttl
        self._redis = redis
        self._gen_key = f"{namespace}:gen"
        self._entry_prefix = f"{namespace}:cache:"
        self._get = redis.register_script(_GET_LUA)
        self._put = redis.register_script(_PUT_LUA)

    async def generation(self) -> int:
        value = await self._redis.get(self._gen_key)
        return int(value) if value is not None else 0

    async def get(self, key: str) -> Items | None:
        raw = await self._get(keys=[self._gen_key], args=[self._entry_prefix, key])
        if raw is None:
            return None
        items: Items = json.loads(raw)
        return items

    async def put(self, key: str, items: Items, *, generation: int, started: float) -> None:
        remaining_ms = int((started + self.ttl - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            return
        value = json.dumps(items, separators=(",", ":"), default=str)
        await self._put(
            keys=[self._gen_key],
            args=[self._entry_prefix, key, str(generation), value, remaining_ms],
        )

    async def invalidate(self) -> None:
        await self._redis.incr(self._gen_key)
