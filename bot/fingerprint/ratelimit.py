"""The rate budget of one Management API key (interface.md §8, "Rate budget").

Fingerprint allows a key a few requests per second and answers 429 above that. fpbot keeps
itself under the limit instead of relying on retries: never more than ``rate`` requests in
any 1-second *sliding* window — not a token bucket, whose bursts could cross the limit in a
window that straddles two refills. Requests are stamped when they leave; the window is
lengthened by a small margin so that jitter between leaving here and arriving there cannot
squeeze six stamps into the server's second.

Two implementations share one interface:

* `SlidingWindowLimiter` — per process, the default. The README says so: replicas without
  Redis each have the whole budget.
* `RedisSlidingWindowLimiter` — one sorted set in Redis, updated by a Lua script that reads
  the Redis server's ``TIME``, so any number of processes on any number of hosts (whatever
  their clocks say) stay together under the limit. The Redis key holds a hash of the API key,
  never the key itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Added to the 1-second window: covers the time between taking a slot and the request
#: reaching the server (event-loop scheduling, a Redis round trip, loopback or LAN jitter).
DEFAULT_MARGIN = 0.05


class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    async def acquire(self) -> None:
        """Wait until one more request may leave now without breaking the budget."""

    async def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (the server said ``Retry-After``)."""


def key_fingerprint(api_key: str) -> str:
    """A short, stable, non-reversible name for an API key, for Redis keys and registries."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def window_for(rate: float, margin: float = DEFAULT_MARGIN) -> tuple[int, float]:
    """Translate a rate into (requests allowed, window length in seconds).

    A whole rate of N/s allows N requests per second. A fractional rate is rounded down so
    that no 1-second window ever holds more than ``rate`` requests (2.5/s allows 2); a rate
    below 1 allows one request per ``1/rate`` seconds.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if rate >= 1:
        return math.floor(rate), 1.0 + margin
    return 1, 1.0 / rate + margin


class SlidingWindowLimiter:
    """The budget inside one process: the stamps of the requests of the last window.

    Waiters queue on one FIFO lock, so callers are served in arrival order and only the head
    of the queue is ever sleeping on the clock.
    """

    def __init__(self, rate: float, *, margin: float = DEFAULT_MARGIN) -> None:
        self.limit, self.window = window_for(rate, margin)
        self._stamps: deque[float] = deque()
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._not_before:
                    await asyncio.sleep(self._not_before - now)
                    continue
                while self._stamps and self._stamps[0] <= now - self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                await asyncio.sleep(self._stamps[0] + self.window - now)

    async def pause(self, seconds: float) -> None:
        self._not_before = max(self._not_before, time.monotonic() + seconds)


# KEYS[1] the sorted set of stamps, KEYS[2] the pause marker.
# ARGV: limit, window in microseconds, a unique member. Returns 0 when a slot was taken, else
# the microseconds to wait before asking again. Redis' own clock is the only clock used.
_ACQUIRE_LUA = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then
  return pause * 1000
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then
  wait = 1
end
return wait
"""

# KEYS[1] the pause marker; ARGV[1] milliseconds. Only ever lengthens a pause.
_PAUSE_LUA = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 0
"""


class RedisSlidingWindowLimiter:
    """The budget shared by every process that uses the same Redis and the same API key.

    Inside a process, waiters still queue on a local lock so that only one of them at a time
    polls Redis; across processes the Lua script is the arbiter.
    """

    def __init__(
        self,
        redis: Redis,
        api_key: str,
        rate: float,
        *,
        prefix: str = "fpbot",
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.limit, self.window = window_for(rate, margin)
        base = f"{prefix}:fp:{key_fingerprint(api_key)}:rl"
        self.key = base
        self.pause_key = f"{base}:pause"
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._pause = redis.register_script(_PAUSE_LUA)
        self._owner = secrets.token_hex(6)
        self._counter = 0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self._counter += 1
                member = f"{self._owner}:{self._counter}"
                wait_us = await self._acquire(
                    keys=[self.key, self.pause_key],
                    args=[self.limit, int(self.window * 1_000_000), member],
                )
                if int(wait_us) == 0:
                    return
                await asyncio.sleep(int(wait_us) / 1_000_000)

    async def pause(self, seconds: float) -> None:
        ms = max(1, math.ceil(seconds * 1000))
        await self._pause(keys=[self.pause_key], args=[ms])


# One in-process limiter per API key (and rate) per event loop: several clients built with
# the same key share its budget. Keyed by loop because asyncio locks belong to one loop.
_registry: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, float], SlidingWindowLimiter]
] = weakref.WeakKeyDictionary()


def local_limiter(api_key: str, rate: float, *, margin: float = DEFAULT_MARGIN) -> RateLimiter:
    """The process-wide limiter of ``api_key`` on the running event loop."""
    loop = asyncio.get_running_loop()
    limiters = _registry.setdefault(loop, {})
    name = (key_fingerprint(api_key), rate)
    limiter = limiters.get(name)
    if limiter is None:
        limiter = limiters[name] = SlidingWindowLimiter(rate, margin=margin)
    return limiter
