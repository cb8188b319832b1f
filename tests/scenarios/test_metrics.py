"""``GET /metrics``: Prometheus' text format, every name ``fpbot_…``, counters that move with
what happens — commands, acknowledgements, API requests, waits for the budget, change
requests, outside changes, notifications, watch passes — and one registry per replica."""

from __future__ import annotations

import io

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from sandbox.run import Sandbox
from tests.scenarios.change_helpers import APPROVER_1, FAST_SETTINGS, VIEWER, Desk
from tests.scenarios.conftest import StackFactory
from tests.scenarios.test_watch import passes, reports, watch_of, watching

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(sandbox: Sandbox, token: str | None = None) -> Samples:
    assert sandbox.bot is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(sandbox.bot.url + "/metrics", headers=headers) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("fpbot_"), family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_the_counters_move_with_commands_changes_failures_and_the_watch(
    make_stack: StackFactory,
) -> None:
    async with make_stack(policy=watching(), **FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        before = await scrape(sandbox)
        assert value(before, "fpbot_commands_total", command="envs", outcome="ok") == 0

        await desk.command("envs", user=VIEWER)
        env = next(e for e in sandbox.fingerprint.workspace.environments.values())
        request_id = await desk.request(f"envs rename {env.id} Metered")
        await desk.decide(request_id, user=APPROVER_1, approve=True)
        await desk.settled(request_id)
        sandbox.fingerprint.faults.revoked = True
        await desk.command("keys", user=VIEWER)
        sandbox.fingerprint.faults.revoked = False
        watch = watch_of(sandbox)
        await passes(watch, 1)
        sandbox.fingerprint.outside_change("environments", "update", env.id, name="Outside")
        await desk.slack.wait_for(lambda: bool(reports(desk)), 20, what="the outside report")

        after = await scrape(sandbox)
        assert value(after, "fpbot_commands_total", command="envs", outcome="ok") == 1
        assert value(after, "fpbot_commands_total", command="envs rename", outcome="ok") == 1
        assert value(after, "fpbot_commands_total", command="keys", outcome="api_error") == 1
        assert value(after, "fpbot_ack_seconds_count") >= 3
        ok = value(after, "fpbot_api_requests_total", operation="GET /environments", status="200")
        assert ok >= 2
        rejected = value(after, "fpbot_api_requests_total", operation="GET /api-keys", status="401")
        assert rejected >= 1
        assert value(after, "fpbot_rate_budget_wait_seconds_count", priority="foreground") >= 3
        assert value(after, "fpbot_rate_budget_wait_seconds_count", priority="background") >= 3
        for state in ("pending", "approved", "executing", "succeeded"):
            assert value(after, "fpbot_change_requests_total", state=state) == 1, state
        assert value(after, "fpbot_outside_changes_total", resource="environment") == 1
        assert value(after, "fpbot_notifications_posted_total", kind="incident") == 1
        assert value(after, "fpbot_notifications_posted_total", kind="outside_change") == 1
        assert value(after, "fpbot_watch_pass_seconds_count", outcome="ok") >= 2


async def test_each_replica_counts_its_own(make_stack: StackFactory) -> None:
    async with make_stack() as one, make_stack() as two:
        await Desk.of(one).command("envs", user=VIEWER)
        first, second = await scrape(one), await scrape(two)
        assert value(first, "fpbot_commands_total", command="envs", outcome="ok") == 1
        assert value(second, "fpbot_commands_total", command="envs", outcome="ok") == 0


async def test_with_a_metrics_token_only_a_scraper_sending_it_sees_the_metrics(
    make_stack: StackFactory, log_buffer: io.StringIO
) -> None:
    token = "scrape-0123456789abcdef"
    async with make_stack(metrics_token=token) as sandbox:
        assert sandbox.bot is not None
        url = sandbox.bot.url + "/metrics"
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                async with session.get(url, headers=headers) as refused:
                    assert refused.status == 401
                    assert refused.headers["WWW-Authenticate"] == "Bearer"
                    assert "fpbot_" not in await refused.text()
        samples = await scrape(sandbox, token)
        assert value(samples, "fpbot_notifications_posted_total") >= 0
        assert any(name.startswith("fpbot_") for name, _ in samples)
    refusals = [line for line in log_buffer.getvalue().splitlines() if "metrics_refused" in line]
    assert len(refusals) == 1, "one throttled line, not one per refusal"
    assert token not in log_buffer.getvalue()
