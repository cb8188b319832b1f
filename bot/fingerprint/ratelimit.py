"""The rate budget of one Management API key.

Fingerprint allows a key a few requests per second and answers 429 above that. fpbot keeps
itself under the limit instead of relying on retries: never more than ``rate`` requests in
any 1-second *sliding* window — not a token bucket, whose bursts could cross the limit in a
window that straddles two refills.

The window must hold where it is counted: at the server, on arrival. A request leaves some
time after it took its slot (a connection to open, a busy event loop, a Redis round trip) and
arrives some time before its answer is back, so stamping requests when they take their slot
lets jitter squeeze more than ``rate`` arrivals into the server's second. Instead a request
*occupies* the budget from the moment it takes a slot until its answer is back, and is then
stamped with that moment — an upper bound of its arrival. A new request may leave only while
fewer than ``rate`` requests are in flight or stamped within the last window. Whatever the
delays, any ``rate + 1`` arrivals then span more than a window (the last one to leave found
the others in flight or stamped after its window began). A few milliseconds of margin on top
cover clock granularity.

Two implementations share one interface:

* `SlidingWindowLimiter` — per process, the default. The README says so: replicas without
  Redis each have the whole budget.
* `RedisSlidingWindowLimiter` — one sorted set in Redis, updated by Lua scripts that read the
  Redis server's ``TIME``, so any number of processes on any number of hosts (whatever their
  clocks say) stay together under the limit. The Redis key holds a hash of the API key, never
  the key itself. A request in flight is a member scored at "now + lease", so a process that
  dies mid-request frees its slot after the lease.

A 429's ``Retry-After`` *pauses* the key for everyone using the limiter (`RateLimiter.pause`):
no request of that key leaves before the pause ends. A caller that cannot afford to wait it
out — the pause would end after the ``deadline`` it passes to `RateLimiter.slot` — is told at
once with `Paused`, carrying the seconds that remain, instead of sleeping past its budget.
Pauses only ever lengthen, and are capped at `MAX_PAUSE` so that a nonsensical header (a date
years ahead) cannot silence a key until a restart.

Background reads (the account watch) ask for a slot with ``background=True``: they wait while
any request of this process is waiting for the budget, and never hold the queue while they
sleep on the window, so a command never waits behind them — only the other way round. (Across
replicas sharing Redis the priority is per process: only one replica watches at a time.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import secrets
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

from bot.fingerprint.errors import BudgetUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Added to the 1-second window for clock granularity; arrival jitter is already covered.
DEFAULT_MARGIN = 0.02
#: How long a request in flight may hold a shared slot if its process never releases it.
DEFAULT_LEASE = 30.0
#: The longest pause one ``Retry-After`` can impose (a header far in the future is clipped).
MAX_PAUSE = 3600.0


class Paused(Exception):
    """The key is paused (the API said ``Retry-After``) past the caller's deadline.

    Nothing was sent. ``remaining`` is how many seconds the pause still has to run.
    """

    def __init__(self, remaining: float) -> None:
        self.remaining = max(0.0, remaining)
        super().__init__(f"the rate budget is paused for another {self.remaining:.1f} s")


class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    def slot(
        self, *, deadline: float | None = None, background: bool = False
    ) -> AbstractAsyncContextManager[None]:
        """Wait for room in the budget, then hold it while the request is in flight.

        Args:
            deadline: a `time.monotonic` instant. If the key is paused until after it, raise
                `Paused` at once rather than wait (waiting for room in the window is not
                bounded by it: that wait is the budget working, not the API refusing).
            background: yield to every other request waiting in this process: take a slot
                only when none is waiting, and give way again whenever one arrives.
        """

    async def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (at most `MAX_PAUSE`): the server said
        ``Retry-After``. Only ever lengthens a pause already running."""


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
    """The budget inside one process: requests in flight plus those answered last window.

    Waiters queue on one FIFO lock, so callers are served in arrival order and only the head
    of the queue is ever sleeping on the clock.
    """

    def __init__(self, rate: float, *, margin: float = DEFAULT_MARGIN) -> None:
        self.limit, self.window = window_for(rate, margin)
        self._answered: deque[float] = deque()  # monotonic stamps, ascending
        self._in_flight = 0
        self._not_before = 0.0
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()
        self._foreground = _Waiting()

    @asynccontextmanager
    async def slot(
        self, *, deadline: float | None = None, background: bool = False
    ) -> AsyncIterator[None]:
        if background:
            await self._acquire_background(deadline)
        else:
            with self._foreground.counted():
                await self._acquire(deadline)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answered.append(time.monotonic())
            self._released.set()

    def _check_pause(self, deadline: float | None) -> float:
        """Seconds the pause still runs (0 if none); `Paused` if it outlasts ``deadline``."""
        now = time.monotonic()
        remaining = self._not_before - now
        if remaining <= 0:
            return 0.0
        if deadline is not None and self._not_before > deadline:
            raise Paused(remaining)
        return remaining

    async def _acquire(self, deadline: float | None) -> None:
        # Checked before queueing too: a caller that cannot wait out the pause is told now,
        # not once the callers ahead of it have slept through it.
        self._check_pause(deadline)
        async with self._lock:
            while True:
                paused_for = self._check_pause(deadline)
                if paused_for > 0:
                    await asyncio.sleep(paused_for)
                    continue
                now = time.monotonic()
                while self._answered and self._answered[0] <= now - self.window:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                if self._answered:
                    await asyncio.sleep(self._answered[0] + self.window - now)
                else:
                    # Everything is in flight: nothing frees before one of them is answered.
                    self._released.clear()
                    await self._released.wait()

    async def _acquire_background(self, deadline: float | None) -> None:
        """Take a slot only while no other request waits, without ever holding the queue:
        the check and the taking happen in one step of the event loop."""
        while True:
            await self._foreground.none()
            paused_for = self._check_pause(deadline)
            if paused_for > 0:
                await asyncio.sleep(paused_for)
                continue
            if self._foreground.count or self._lock.locked():
                continue
            now = time.monotonic()
            while self._answered and self._answered[0] <= now - self.window:
                self._answered.popleft()
            if len(self._answered) + self._in_flight < self.limit:
                self._in_flight += 1
                return
            self._released.clear()
            wait = self._answered[0] + self.window - now if self._answered else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), wait)

    async def pause(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), MAX_PAUSE)
        self._not_before = max(self._not_before, time.monotonic() + seconds)


class _Waiting:
    """How many requests of this process wait for a slot, and a way to wait until none do."""

    def __init__(self) -> None:
        self.count = 0
        self._none = asyncio.Event()
        self._none.set()

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        self.count += 1
        self._none.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._none.set()

    async def none(self) -> None:
        await self._none.wait()


# KEYS[1] the sorted set, KEYS[2] the pause marker. ARGV: limit, window µs, member, lease µs.
# Returns 0 when a slot was taken (the member is scored now + lease), else the µs to wait:
# negative while the key is paused (Retry-After), positive while the window is full.
_ACQUIRE_LUA = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then
  return -pause * 1000
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + lease) / 1000) + 1000)
  return 0
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
if oldest > now then
  return window
end
return math.max(1, oldest + window - now)
"""

# KEYS[1] the sorted set; ARGV[1] the member. The answer is back: stamp it with Redis' now.
_RELEASE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 0
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
    polls Redis; across processes the Lua scripts are the arbiter.
    """

    def __init__(
        self,
        redis: Redis,
        api_key: str,
        rate: float,
        *,
        prefix: str = "fpbot",
        margin: float = DEFAULT_MARGIN,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.limit, self.window = window_for(rate, margin)
        self.key = f"{prefix}:fp:{key_fingerprint(api_key)}:rl"
        self.pause_key = f"{self.key}:pause"
        self._lease_us = int(lease * 1_000_000)
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._release_script = redis.register_script(_RELEASE_LUA)
        self._pause_script = redis.register_script(_PAUSE_LUA)
        self._owner = secrets.token_hex(6)
        self._counter = 0
        self._lock = asyncio.Lock()
        self._foreground = _Waiting()

    @asynccontextmanager
    async def slot(
        self, *, deadline: float | None = None, background: bool = False
    ) -> AsyncIterator[None]:
        """A slot of the shared budget; without Redis there is no safe budget, so no call.

        Raises:
            BudgetUnavailable: Redis could not be reached.
            Paused: the key is paused (by any replica) until after ``deadline``.
        """
        try:
            if background:
                member = await self._acquire_background(deadline)
            else:
                with self._foreground.counted():
                    member = await self._acquire(deadline)
        except (RedisError, OSError) as exc:
            raise BudgetUnavailable(
                f"the shared rate budget in Redis is unreachable ({type(exc).__name__})",
                code="redis.unavailable",
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(RedisError, OSError):  # else the slot's lease frees it
                await self._release_script(keys=[self.key], args=[member])

    async def _acquire(self, deadline: float | None) -> str:
        async with self._lock:
            self._counter += 1
            member = f"{self._owner}:{self._counter}"
            while True:
                wait_us = int(
                    await self._acquire_script(
                        keys=[self.key, self.pause_key],
                        args=[self.limit, int(self.window * 1_000_000), member, self._lease_us],
                    )
                )
                if wait_us == 0:
                    return member
                wait = abs(wait_us) / 1_000_000
                if wait_us < 0 and deadline is not None and time.monotonic() + wait > deadline:
                    raise Paused(wait)
                await asyncio.sleep(wait)

    async def _acquire_background(self, deadline: float | None) -> str:
        """One try at a time, only while no request of this process waits; the queue is
        never held while the window is full."""
        while True:
            await self._foreground.none()
            async with self._lock:
                self._counter += 1
                member = f"{self._owner}:{self._counter}"
                wait_us = int(
                    await self._acquire_script(
                        keys=[self.key, self.pause_key],
                        args=[self.limit, int(self.window * 1_000_000), member, self._lease_us],
                    )
                )
            if wait_us == 0:
                return member
            wait = abs(wait_us) / 1_000_000
            if wait_us < 0 and deadline is not None and time.monotonic() + wait > deadline:
                raise Paused(wait)
            await asyncio.sleep(wait)

    async def pause(self, seconds: float) -> None:
        ms = max(1, math.ceil(min(max(seconds, 0.0), MAX_PAUSE) * 1000))
        with contextlib.suppress(RedisError, OSError):
            # Without Redis no request leaves anyway (`slot` refuses); nothing to hold back.
            await self._pause_script(keys=[self.pause_key], args=[ms])


# One in-process limiter per API key (and rate) per event loop: several clients built with
# the same key share its budget. Keyed by loop because asyncio primitives belong to one loop.
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
