"""``GET /healthz``: can this replica serve Slack, and how are its dependencies?

Only the store is required: without it no request can be recorded, so the answer is 503 and a
load balancer takes the replica out. A Management API, Redis or Slack outage makes the answer
``degraded`` with 200 — an upstream outage must not take every replica out at once.

The Slack bot token is checked too (``auth.test``, cached): a token Slack no longer
accepts (revoked, the app reinstalled, the workspace gone) leaves fpbot acknowledging commands
it can never answer. It makes the answer ``degraded`` and is reported to the alerts channel
once, when it starts — through that same token, so it is the log line that is sure to arrive.

Load balancers give a probe about a second, and a probe that times out takes the replica out
just like a 503. So the checks run concurrently and each has a short deadline: the store
``store_timeout`` (the only check that can make the answer 503), Redis ``redis_timeout``
(``degraded`` past it), and the API and Slack none at all — each is asked at most every
``api_interval`` (every ping spends the key's small rate budget) or ``slack_interval`` seconds,
in the background; the answer waits ``answer_within`` seconds for a ping under way and
otherwise reports the last known result. Any failure of the store's ping counts as
unreachable; ``/healthz`` itself never fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from bot.domain.incidents import Cause
from bot.fingerprint.errors import FingerprintError
from bot.log import get_logger, new_correlation_id
from bot.notify import Failure
from bot.ports import DeliveryFailed
from bot.render.replies import SLACK_TOKEN_REJECTED, slack_token_rejected
from bot.store import Store

log = get_logger(__name__)

#: What ``auth.test`` answers for a token Slack will not accept again.
REVOKED = frozenset({"invalid_auth", "token_revoked", "account_inactive"})


class _Pingable(Protocol):
    async def hello(self) -> object: ...


class _TokenCheck(Protocol):
    async def auth_test(self) -> object: ...


class _Alerts(Protocol):
    async def report(self, failure: Failure) -> None: ...

    def proven(self, causes: Iterable[Cause]) -> None: ...


class _Probe:
    """A check asked at most every ``interval`` seconds, in the background: a probe waits up
    to ``answer_within`` seconds for one under way, and otherwise gets the last known result.
    """

    def __init__(
        self, name: str, ping: Callable[[], Awaitable[str]], interval: float, answer_within: float
    ) -> None:
        self._name = name
        self._ping = ping
        self._interval = interval
        self._answer_within = answer_within
        self._checked_at = float("-inf")
        self._status = "unknown"
        self._running: asyncio.Task[None] | None = None

    async def status(self) -> str:
        stale = time.monotonic() - self._checked_at >= self._interval
        if stale and self._running is None:
            self._running = asyncio.create_task(self._run(), name=f"health:{self._name}")
        if self._running is not None:
            await asyncio.wait({self._running}, timeout=self._answer_within)
        return self._status

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)

    async def _run(self) -> None:
        try:
            status = await self._ping()
        finally:
            self._running = None
        self._status = status
        self._checked_at = time.monotonic()


class Health:
    """Collects the checks behind ``/healthz``.

    Args:
        store: the store; ``/healthz`` is 503 when it does not answer.
        client: the Management API client (``hello`` is its ping).
        redis: the shared Redis, when there is one.
        slack: ``auth.test`` for the bot token (`bot.slack.SlackMessenger`), when checked.
        notifier: where a rejected bot token is reported, once.
        api_interval: seconds between two pings of the API.
        slack_interval: seconds between two ``auth.test``.
        timeout: seconds one ping of the API or Slack may take in all (it runs in the
            background).
        answer_within: seconds ``/healthz`` waits for a ping of the API or Slack before
            answering with the last known result (the ping goes on in the background).
        store_timeout: seconds the store has to answer before it counts as unreachable (503).
        redis_timeout: seconds Redis has to answer before it counts as down (``degraded``).
    """

    def __init__(
        self,
        store: Store,
        client: _Pingable,
        redis: Any = None,
        *,
        slack: _TokenCheck | None = None,
        notifier: _Alerts | None = None,
        api_interval: float = 30.0,
        slack_interval: float = 60.0,
        timeout: float = 3.0,
        answer_within: float = 0.5,
        store_timeout: float = 0.8,
        redis_timeout: float = 0.5,
    ) -> None:
        self._store = store
        self._client = client
        self._redis = redis
        self._slack = slack
        self._notifier = notifier
        self._timeout = timeout
        self._store_timeout = store_timeout
        self._redis_timeout = redis_timeout
        self._api = _Probe("api", self._ping_api, api_interval, answer_within)
        self._token = _Probe("slack", self._ping_slack, slack_interval, answer_within)
        self._token_rejected = False

    async def report(self) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and the JSON body of ``/healthz``.

        The checks run at the same time, so the answer takes as long as the slowest deadline
        (``store_timeout``), not their sum.
        """
        store, redis, api, slack = await asyncio.gather(
            self._check_store(),
            self._check_redis() if self._redis is not None else _nothing(),
            self._api.status(),
            self._token.status() if self._slack is not None else _nothing(),
        )
        checks: dict[str, str] = {"store": store}
        if redis is not None:
            checks["redis"] = redis
        checks["fingerprint_api"] = api
        if slack is not None:
            checks["slack"] = slack
        if checks["store"] != "ok":
            return 503, {"status": "unavailable", "checks": checks}
        degraded = any(value not in ("ok", "unknown") for value in checks.values())
        return 200, {"status": "degraded" if degraded else "ok", "checks": checks}

    async def close(self) -> None:
        """Stop the pings still under way (shutdown)."""
        await self._api.close()
        await self._token.close()

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

    async def _ping_api(self) -> str:
        try:
            await asyncio.wait_for(self._client.hello(), self._timeout)
        except FingerprintError as exc:
            return "key rejected" if exc.status in (401, 403) else f"error ({exc.error_code})"
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            log.warning("health_api_check_failed", error=type(exc).__name__)
            return "error"
        return "ok"

    async def _ping_slack(self) -> str:
        assert self._slack is not None
        try:
            await asyncio.wait_for(self._slack.auth_test(), self._timeout)
        except DeliveryFailed as exc:
            if exc.error in REVOKED:
                await self._token_is_rejected(exc.error)
                return f"token rejected ({exc.error})"
            return "unreachable" if exc.error == "unreachable" else f"error ({exc.error})"
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            log.warning("health_slack_check_failed", error=type(exc).__name__)
            return "error"
        self._token_rejected = False
        if self._notifier is not None:
            self._notifier.proven({Cause.SLACK_TOKEN_REJECTED})
        return "ok"

    async def _token_is_rejected(self, error: str) -> None:
        """Report the rejected token when it starts being rejected, not at every check."""
        if self._token_rejected:
            return
        self._token_rejected = True
        if self._notifier is not None:
            await self._notifier.report(
                Failure(
                    title=SLACK_TOKEN_REJECTED,
                    operation="auth.test",
                    error_code=f"slack.{error}",
                    detail=slack_token_rejected(error),
                    correlation_id=new_correlation_id("fpb"),
                )
            )


async def _nothing() -> None:
    """The result of a check that does not apply (no Redis configured, Slack not checked)."""
