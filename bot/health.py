"""``GET /healthz``: can this replica serve Slack, and how are its dependencies?

Only the store is required: without it no request can be recorded, so the answer is 503 and a
load balancer takes the replica out. A Management API or Redis outage makes the answer
``degraded`` with 200 — an upstream outage must not take every replica out at once
(interface.md §8). The API is pinged at most every ``api_interval`` seconds, because every
ping spends the key's small rate budget.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from bot.fingerprint.errors import FingerprintError
from bot.store import Store, StoreUnavailable


class _Pingable(Protocol):
    async def hello(self) -> object: ...


class Health:
    """Collects the checks behind ``/healthz``."""

    def __init__(
        self,
        store: Store,
        client: _Pingable,
        redis: Any = None,
        *,
        api_interval: float = 30.0,
        timeout: float = 3.0,
    ) -> None:
        self._store = store
        self._client = client
        self._redis = redis
        self._api_interval = api_interval
        self._timeout = timeout
        self._api_checked_at = float("-inf")
        self._api_status = "unknown"
        self._api_lock = asyncio.Lock()

    async def report(self) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and the JSON body of ``/healthz``."""
        checks: dict[str, str] = {"store": await self._check_store()}
        if self._redis is not None:
            checks["redis"] = await self._check_redis()
        checks["fingerprint_api"] = await self._check_api()
        if checks["store"] != "ok":
            return 503, {"status": "unavailable", "checks": checks}
        degraded = any(value not in ("ok", "unknown") for value in checks.values())
        return 200, {"status": "degraded" if degraded else "ok", "checks": checks}

    async def _check_store(self) -> str:
        try:
            await asyncio.wait_for(self._store.ping(), self._timeout)
        except (StoreUnavailable, TimeoutError):
            return "unreachable"
        return "ok"

    async def _check_redis(self) -> str:
        try:
            await asyncio.wait_for(self._redis.ping(), self._timeout)
        except Exception:
            return "unreachable"
        return "ok"

    async def _check_api(self) -> str:
        async with self._api_lock:
            if time.monotonic() - self._api_checked_at < self._api_interval:
                return self._api_status
            try:
                await asyncio.wait_for(self._client.hello(), self._timeout)
                self._api_status = "ok"
            except FingerprintError as exc:
                self._api_status = (
                    "key rejected" if exc.status in (401, 403) else f"error ({exc.error_code})"
                )
            except TimeoutError:
                self._api_status = "timeout"
            self._api_checked_at = time.monotonic()
            return self._api_status
