"""The digest: the account's counts against the plan's limits, what is off or unverified, what
waits and for how long, the last day's changes — now on ``/fp digest``, and once a day to the
notifications channel, once across replicas."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.watch import Digest
from bot.watch.digest import next_at
from sandbox.run import Sandbox
from tests.scenarios.change_helpers import (
    ALERTS,
    APPROVER_1,
    AUDITOR,
    REQUESTER,
    Desk,
    policy_yaml,
)
from tests.scenarios.conftest import StackFactory


async def test_the_digest_counts_the_stand_ins_account_and_lists_what_waits(
    stack: Sandbox,
) -> None:
    desk = Desk.of(stack)
    workspace = stack.fingerprint.workspace
    env = next(e for e in workspace.environments.values() if not e.is_default)
    done = await desk.request(f"envs rename {env.id} Digest renamed")
    await desk.decide(done, user=APPROVER_1, approve=True)
    await desk.settled(done)
    waiting = await desk.request("envs create Digest pending")

    digest = await desk.command("digest", user=AUDITOR)

    keys, hooks = len(workspace.api_keys), len(workspace.webhooks)
    assert f"*API keys*\n{keys}/10" in digest and f"*Webhooks*\n{hooks}/5" in digest
    assert f"*Environments*\n{len(workspace.environments)}" in digest
    assert "not counted: API version 2024-05-20" in digest, "said, not failed"
    disabled = [k for k in workspace.api_keys.values() if k.status == "disabled"]
    assert f"*Disabled keys ({len(disabled)})*" in digest
    assert all(f"`{k.id}`" in digest for k in disabled[:10])
    unverified = [h for h in workspace.webhooks.values() if not h.verified]
    assert f"*Unverified webhooks ({len(unverified)})*" in digest
    assert "*Pending requests (1)*" in digest and waiting in digest and "waiting 0 min" in digest
    assert "*Last 24 hours: 1 changes* (1 by fpbot, 0 outside it)" in digest
    assert "Digest renamed" in digest
    assert desk.slack.ephemerals(AUDITOR)[-1].ephemeral_for == AUDITOR
    refused = await desk.command("digest", user=REQUESTER)
    assert "`audit.read`" in refused


async def test_the_daily_digest_is_posted_once_across_replicas_at_its_time(
    make_stack: StackFactory,
) -> None:
    """Two replicas with their own clock. The stack's policy has no daily digest, so that the
    running bot's own (on the real clock) never claims a day before them."""
    async with make_stack(policy=policy_yaml()) as stack:
        await _posted_once_across_replicas(stack)


async def _posted_once_across_replicas(stack: Sandbox) -> None:
    desk = Desk.of(stack)
    services = stack.bot.services if stack.bot else None
    assert services is not None
    nine = time(9, 0)
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

    def replica() -> Digest:
        return Digest(
            store=services.store,
            client=services.client,
            slack=services.slack,
            notifier=services.notifier,
            at=nine,
            channel=ALERTS,
            clock=lambda: now,
        )

    one, two = replica(), replica()
    assert await one.step() > 0 and await two.step() > 0, "not yet: first due at 09:00"
    assert [m for m in desk.alerts() if "digest" in m.text] == []
    now = datetime(2026, 12, 3, 9, 0, 5, tzinfo=UTC)
    await one.step()
    await two.step()
    await one.step()
    posted = [m for m in desk.alerts() if "fpbot digest" in m.text]
    assert len(posted) == 1 and "2026-12-03" in posted[0].text
    now += timedelta(days=1)
    await two.step()
    assert len([m for m in desk.alerts() if "fpbot digest" in m.text]) == 2


async def test_rules_are_counted_under_the_api_version_that_has_them(
    make_stack: StackFactory,
) -> None:
    async with make_stack(fp_api_version="2025-11-20") as stack:
        desk = Desk.of(stack)
        digest = await desk.command("digest", user=AUDITOR)
        rules = len(stack.fingerprint.workspace.expression_rules)
        assert f"*Filtering rules*\n{rules}/15" in digest


def test_the_next_digest_is_the_next_time_of_day_after_now() -> None:
    at = time(9, 0)
    assert next_at(datetime(2026, 1, 1, 8, 59, tzinfo=UTC), at) == datetime(
        2026, 1, 1, 9, 0, tzinfo=UTC
    )
    assert next_at(datetime(2026, 1, 1, 9, 0, tzinfo=UTC), at) == datetime(
        2026, 1, 2, 9, 0, tzinfo=UTC
    )
