"""``GET /healthz``: can this replica serve Slack, and how are its dependencies?

Only the store is required: without it no request can be recorded, so the answer is 503 and a
load balancer takes the replica out. A Management API or Redis outage makes the answer
``degraded`` with 200 — an upstream outage must not take every replica out at once
(interface.md §8).

Load balancers give a probe about a second, and a probe that times out takes the replica out
just like a 503. So the checks run concurrently and each has a short deadline: the store
``store_timeout`` (the only check that can make the answer 503), Redis ``redis_timeout``
(``degraded`` past it), and the API none at all — it is pinged at most every ``api_interval``
seconds, because every ping spends the key's small rate budget, in the background; the answer
waits ``answer_within`` seconds for a ping under way and otherwise reports the last known
result. Any failure of the store's ping counts as unreachable; ``/healthz`` itself never fails.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from bot.fingerprint.errors import FingerprintError
from bot.log import get_logger
from bot.store import Store

log = get_logger(__name__)


class _Pingable(Protocol):
    async def hello(self) -> object: ...


class Health:
    """Collects the checks behind ``/healthz``.

    Args:
        store: the store; ``/healthz`` is 503 when it does not answer.
        client: the Management API client (``hello`` is its ping).
        redis: the shared Redis, when there is one.
        api_interval: seconds between two pings of the API.
        timeout: seconds one ping of the API may take in all (it runs in the background).
        answer_within: seconds ``/healthz`` waits for a ping of the API before answering with
            the last known result (the ping goes on in the background).
        store_timeout: seconds the store has to answer before it counts as unreachable (503).
        redis_timeout: seconds Redis has to answer before it counts as down (``degraded``).
    """

    def __init__(
        self,
        store: Store,
        client: _Pingable,
        redis: Any = None,
        *,
        api_interval: float = 30.0,
        timeout: float = 3.0,
        answer_within: float = 0.5,
        store_timeout: float = 0.8,
        redis_timeout: float = 0.5,
    ) -> None:
        self._store = store
        self._client = client
        self._redis = redis
        self._api_interval = api_interval
        self._timeout = timeout
        self._answer_within = answer_within
        self._store_timeout = store_timeout
        self._redis_timeout = redis_timeout
        self._api_checked_at = float("-inf")
        self._api_status = "unknown"
        self._api_ping: asyncio.Task[None] | None = None

    async def report(self) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and the JSON body of ``/healthz``.

        The checks run at the same time, so the answer takes as long as the slowest deadline
        (``store_timeout``), not their sum.
        """
        store, redis, api = await asyncio.gather(
            self._check_store(),
            self._check_redis() if self._redis is not None else _nothing(),
            self._check_api(),
        )
        checks: dict[str, str] = {"store": store}
        if redis is not None:
            checks["redis"] = redis
        checks["fingerprint_api"] = api
        if checks["store"] != "ok":
            return 503, {"status": "unavailable", "checks": checks}
        degraded = any(value not in ("ok", "unknown") for value in checks.values())
        return 200, {"status": "degraded" if degraded else "ok", "checks": checks}

    async def close(self) -> None:
        """Stop a ping of the API still under way (shutdown)."""
        if self._api_ping is not None:
            self._api_ping.cancel()
            await asyncio.gather(self._api_ping, return_exceptions=True)

    async def _check_store(self) -> str:
        try:
            await asyncio.wait_for(self._store.ping(), self._store_timeout)
        except Exception as exc:  # whatever the driver raises, the store cannot be used
            log.warning("health_store_unreachable", error=type(exc).__name__)
            return "unreachable"
        return "ok"

    async def _check_redis(self) -> str:
        try:
            await asyncio.wait_for(self._redis.ping(), self._redis_timeout)
        except TimeoutError:
            return "timeout"
        except Exception:
            return "unreachable"
        return "ok"

    async def _check_api(self) -> str:
        stale = time.monotonic() - self._api_checked_at >= self._api_interval
        if stale and self._api_ping is None:
            self._api_ping = asyncio.create_task(self._ping_api(), name="health:api")
        if self._api_ping is not None:
            await asyncio.wait({self._api_ping}, timeout=self._answer_within)
        return self._api_status

    async def _ping_api(self) -> None:
        try:
            await asyncio.wait_for(self._client.hello(), self._timeout)
            status = "ok"
        except FingerprintError as exc:
            status = "key rejected" if exc.status in (401, 403) else f"error ({exc.error_code})"
        except TimeoutError:
            status = "timeout"
        except Exception as exc:
            log.warning("health_api_check_failed", error=type(exc).__name__)
            status = "error"
        finally:
            self._api_ping = None
        self._api_status = status
        self._api_checked_at = time.monotonic()


async def _nothing() -> None:
    """The result of a check that does not apply (no Redis configured)."""
