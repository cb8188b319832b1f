"""``/healthz`` and the bot when a dependency stops answering.

A load balancer's probe gives up after about a second, and a probe that times out takes the
replica out just like a 503. Only the store may do that; a Redis that hangs makes the answer
``degraded``, and commands that need Redis fail with an error within seconds instead of hanging.
A hung Redis is played by a relay in front of the real one that stops passing bytes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot.domain.incidents import Cause
from bot.health import Health
from bot.notify import Failure
from bot.ports import DeliveryFailed
from sandbox.run import Sandbox
from tests.scenarios.bot_helpers import OPS, VIEWER, fp, reply_to, visible
from tests.scenarios.conftest import StackFactory

REDIS = ("127.0.0.1", 6379)

#: Load balancers give a health probe a second or a few; /healthz must never be that slow.
PROBE_TIMEOUT = 1.0


class FreezingRelay:
    """A TCP relay to Redis that a test can freeze: connections stay open (and new ones are
    accepted) but no byte is passed on — a Redis that stops answering, not one that refuses."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    def freeze(self) -> None:
        self._thawed.clear()

    async def __aenter__(self) -> FreezingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        await self._thawed.wait()
        try:
            server_r, server_w = await asyncio.open_connection(*REDIS)
        except OSError:
            client_w.close()
            return
        self._writers.add(server_w)
        for reader, writer in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                await self._thawed.wait()
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def redis_relay() -> AsyncIterator[FreezingRelay]:
    client = aioredis.Redis(host=REDIS[0], port=REDIS[1], socket_connect_timeout=1)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:  # pragma: no cover — depends on the machine
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    finally:
        await client.aclose()
    async with FreezingRelay() as relay:
        yield relay


async def healthz(stack: Sandbox) -> tuple[int, dict[str, Any], float]:
    """``GET /healthz`` as a load balancer's probe that gives up after a second."""
    assert stack.bot is not None
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as session,
        session.get(stack.bot.url + "/healthz") as response,
    ):
        return response.status, await response.json(), time.monotonic() - started


@pytest.mark.redis
async def test_a_hung_redis_makes_healthz_degraded_within_a_probes_timeout(
    make_stack: StackFactory, redis_relay: FreezingRelay
) -> None:
    async with make_stack(redis_url=redis_relay.url) as stack:
        status, body, _ = await healthz(stack)
        assert (status, body["checks"]["redis"]) == (200, "ok")

        redis_relay.freeze()
        answers = [await healthz(stack) for _ in range(3)]

    for status, body, elapsed in answers:
        assert status == 200, "a Redis outage must not take the replica out"
        assert body["status"] == "degraded"
        assert body["checks"]["store"] == "ok"
        assert body["checks"]["redis"] == "timeout"
        assert elapsed < PROBE_TIMEOUT


@pytest.mark.redis
async def test_a_command_fails_with_an_error_within_seconds_when_redis_hangs(
    make_stack: StackFactory, redis_relay: FreezingRelay
) -> None:
    async with make_stack(redis_url=redis_relay.url) as stack:
        redis_relay.freeze()
        started = time.monotonic()
        await fp(stack, "envs", user=VIEWER, channel=OPS)
        reply = visible(await reply_to(stack, VIEWER))
        elapsed = time.monotonic() - started

    # Two Redis round trips are tried (the shared cache, then the rate budget), each bounded.
    assert elapsed < 7, f"the user waited {elapsed:.1f} s for an answer"
    assert "Redis" in reply
    assert stack.fingerprint.count() == 0, "no call leaves without the shared budget"


# ── the checks themselves, with dependencies that hang ──────────────────────────────────


class _Hangs:
    """A store, Redis or API client whose ping never returns."""

    async def ping(self) -> None:
        await asyncio.sleep(3600)

    async def hello(self) -> None:
        await asyncio.sleep(3600)


class _Answers:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def ping(self) -> None:
        await asyncio.sleep(self.delay)

    async def hello(self) -> None:
        await asyncio.sleep(self.delay)


async def timed(health: Health) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    status, body = await health.report()
    return status, body, time.monotonic() - started


async def test_everything_hanging_is_a_503_answered_before_a_probe_gives_up() -> None:
    health = Health(_Hangs(), _Hangs(), _Hangs())  # type: ignore[arg-type]
    try:
        status, body, elapsed = await timed(health)
    finally:
        await health.close()

    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {"store": "unreachable", "redis": "timeout", "fingerprint_api": "unknown"},
    }
    assert elapsed < PROBE_TIMEOUT, "the checks run at the same time, not one after another"


async def test_a_slow_api_is_reported_from_the_last_known_result_without_waiting() -> None:
    health = Health(_Answers(), _Answers(delay=0.8), _Answers())  # type: ignore[arg-type]
    try:
        status, body, elapsed = await timed(health)
        assert (status, body["checks"]["fingerprint_api"]) == (200, "unknown")
        assert elapsed < 0.7

        await asyncio.sleep(0.5)  # the ping started by the first probe has finished
        status, body, elapsed = await timed(health)
    finally:
        await health.close()

    assert (status, body) == (
        200,
        {"status": "ok", "checks": dict.fromkeys(("store", "redis", "fingerprint_api"), "ok")},
    )
    assert elapsed < 0.2, "a fresh result is not fetched again"


# ── the Slack token ─────────────────────────────────────────────────────────────────────


class _Slack:
    """Slack's ``auth.test`` for the bot token: fine, or answering ``error``."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.calls = 0

    async def auth_test(self) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise DeliveryFailed("auth.test", self.error)
        return {"ok": True, "team_id": "T0FPBOT"}


class _Alerts:
    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.proofs: list[Cause] = []

    async def report(self, failure: Failure) -> None:
        self.failures.append(failure)

    def proven(self, causes: Iterable[Cause]) -> None:
        self.proofs.extend(causes)


async def test_a_revoked_slack_token_makes_healthz_degraded_and_is_alerted_once() -> None:
    slack, alerts = _Slack(), _Alerts()
    health = Health(
        _Answers(),  # type: ignore[arg-type]
        _Answers(),
        slack=slack,
        notifier=alerts,
        slack_interval=0,  # every probe asks Slack again
    )
    try:
        before = await health.report()
        slack.error = "token_revoked"
        during = [await health.report() for _ in range(3)]
        slack.error = None
        after = await health.report()
    finally:
        await health.close()

    assert before == (
        200,
        {"status": "ok", "checks": {"store": "ok", "fingerprint_api": "ok", "slack": "ok"}},
    )
    for status, body in during:
        assert (status, body["status"]) == (200, "degraded"), "Slack is not the store"
        assert body["checks"]["slack"] == "token rejected (token_revoked)"
    (alert,) = alerts.failures
    assert alert.error_code == "slack.token_revoked" and "SLACK_BOT_TOKEN" in alert.detail
    assert after[1]["status"] == "ok"
    assert alerts.proofs[-1] is Cause.SLACK_TOKEN_REJECTED, "a working token resolves it"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("invalid_auth", "token rejected (invalid_auth)"),
        ("account_inactive", "token rejected (account_inactive)"),
        ("unreachable", "unreachable"),
        ("ratelimited", "error (ratelimited)"),
    ],
)
async def test_the_slack_check_says_what_slack_answered(error: str, shown: str) -> None:
    slack, alerts = _Slack(), _Alerts()
    slack.error = error
    health = Health(_Answers(), _Answers(), slack=slack, notifier=alerts)  # type: ignore[arg-type]
    try:
        status, body = await health.report()
    finally:
        await health.close()

    assert (status, body["status"], body["checks"]["slack"]) == (200, "degraded", shown)
    assert len(alerts.failures) == (1 if shown.startswith("token rejected") else 0)


async def test_the_slack_token_is_checked_at_most_once_a_minute() -> None:
    slack = _Slack()
    health = Health(_Answers(), _Answers(), slack=slack)  # type: ignore[arg-type]
    try:
        answers = [await health.report() for _ in range(5)]
    finally:
        await health.close()

    assert all(body["checks"]["slack"] == "ok" for _, body in answers)
    assert slack.calls == 1


async def test_healthz_says_when_slack_no_longer_accepts_the_bot_token(
    stack: Sandbox, log_buffer: io.StringIO
) -> None:
    stack.slack.bot_token = "xoxb-the-new-one"  # the app was reinstalled: ours is revoked

    status, body, elapsed = await healthz(stack)

    assert (status, body["status"]) == (200, "degraded")
    assert body["checks"]["slack"] == "token rejected (invalid_auth)"
    assert elapsed < PROBE_TIMEOUT
    logged = [json.loads(line) for line in log_buffer.getvalue().splitlines()]
    assert [r["error_code"] for r in logged if r["event"] == "failure"] == ["slack.invalid_auth"]
