"""User-group membership: cached for a while, fetched once at a time, failing closed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from structlog.testing import capture_logs

from bot.policy import Actor, actor_of, parse_policy
from bot.slack.groups import GroupDirectory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSlack:
    """``usergroups.users.list`` as a dict, with a call log, failures and an optional gate."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.calls: list[str] = []
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def fetch(self, group_id: str) -> Sequence[str]:
        self.calls.append(group_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise RuntimeError("usergroups.users.list: ratelimited")
        return self.groups[group_id]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack({"S0LEADS": ["U0ALICE", "U0BOB"], "S0OPS": ["U0BOB"]})


@pytest.fixture
def directory(slack: FakeSlack, clock: FakeClock) -> GroupDirectory:
    return GroupDirectory(slack.fetch, ttl=300.0, clock=clock)


async def test_a_user_is_in_the_groups_that_list_them(directory: GroupDirectory) -> None:
    assert await directory.groups_of("U0BOB", ["S0LEADS", "S0OPS"]) == {"S0LEADS", "S0OPS"}
    assert await directory.groups_of("U0ALICE", ["S0LEADS", "S0OPS"]) == {"S0LEADS"}
    assert await directory.groups_of("U0CAROL", ["S0LEADS", "S0OPS"]) == frozenset()


async def test_members_are_fetched_once_within_the_ttl(
    directory: GroupDirectory, slack: FakeSlack, clock: FakeClock
) -> None:
    await directory.groups_of("U0ALICE", ["S0LEADS"])
    clock.now += 299
    await directory.groups_of("U0BOB", ["S0LEADS", "S0LEADS"])
    assert slack.calls == ["S0LEADS"]


async def test_members_are_fetched_again_after_the_ttl(
    directory: GroupDirectory, slack: FakeSlack, clock: FakeClock
) -> None:
    assert await directory.groups_of("U0CAROL", ["S0LEADS"]) == frozenset()
    slack.groups["S0LEADS"].append("U0CAROL")
    clock.now += 300
    assert await directory.groups_of("U0CAROL", ["S0LEADS"]) == {"S0LEADS"}
    assert slack.calls == ["S0LEADS", "S0LEADS"]


async def test_concurrent_lookups_of_a_group_share_one_fetch(
    directory: GroupDirectory, slack: FakeSlack
) -> None:
    slack.gate = asyncio.Event()
    lookups = [
        asyncio.create_task(directory.groups_of(user, ["S0LEADS"]))
        for user in ("U0ALICE", "U0BOB", "U0CAROL")
    ]
    await asyncio.sleep(0)
    slack.gate.set()
    results = await asyncio.gather(*lookups)
    assert results == [{"S0LEADS"}, {"S0LEADS"}, frozenset()]
    assert slack.calls == ["S0LEADS"]


async def test_one_cancelled_caller_does_not_cancel_the_shared_fetch(
    directory: GroupDirectory, slack: FakeSlack
) -> None:
    slack.gate = asyncio.Event()
    impatient = asyncio.create_task(directory.groups_of("U0ALICE", ["S0LEADS"]))
    patient = asyncio.create_task(directory.groups_of("U0BOB", ["S0LEADS"]))
    await asyncio.sleep(0)
    impatient.cancel()
    slack.gate.set()
    assert await patient == {"S0LEADS"}
    assert impatient.cancelled()
    assert slack.calls == ["S0LEADS"]


async def test_a_failed_fetch_falls_back_to_the_last_known_members(
    directory: GroupDirectory, slack: FakeSlack, clock: FakeClock
) -> None:
    assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == {"S0LEADS"}
    clock.now += 301
    slack.failing = True
    with capture_logs() as logs:
        assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == {"S0LEADS"}
    assert [(e["event"], e["log_level"]) for e in logs] == [("group_members_stale", "warning")]
    # The stale list is not renewed: the next look-up asks Slack again.
    assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == {"S0LEADS"}
    assert slack.calls == ["S0LEADS", "S0LEADS", "S0LEADS"]


async def test_a_failed_fetch_with_nothing_known_means_not_a_member(
    directory: GroupDirectory, slack: FakeSlack
) -> None:
    slack.failing = True
    with capture_logs() as logs:
        assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == frozenset()
    assert [(e["event"], e["log_level"]) for e in logs] == [("group_members_unknown", "warning")]
    slack.failing = False
    assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == {"S0LEADS"}


async def test_an_unknown_group_is_a_failure_not_a_crash(directory: GroupDirectory) -> None:
    assert await directory.groups_of("U0ALICE", ["S0GONE", "S0LEADS"]) == {"S0LEADS"}


async def test_forget_drops_cached_members(directory: GroupDirectory, slack: FakeSlack) -> None:
    await directory.groups_of("U0ALICE", ["S0LEADS", "S0OPS"])
    directory.forget("S0LEADS")
    await directory.groups_of("U0ALICE", ["S0LEADS", "S0OPS"])
    directory.forget()
    await directory.groups_of("U0ALICE", ["S0OPS"])
    assert slack.calls == ["S0LEADS", "S0OPS", "S0LEADS", "S0OPS"]


async def test_the_actor_carries_only_groups_the_policy_grants_to(
    directory: GroupDirectory, slack: FakeSlack
) -> None:
    policy = parse_policy(
        "roles: {approver: [requests.approve]}\ngrants: {S0LEADS: [approver], U0BOB: [approver]}\n"
    )
    assert await actor_of(policy, directory, "U0BOB") == Actor("U0BOB", frozenset({"S0LEADS"}))
    assert slack.calls == ["S0LEADS"]


async def test_a_policy_without_group_grants_asks_slack_nothing(
    directory: GroupDirectory, slack: FakeSlack
) -> None:
    policy = parse_policy("roles: {viewer: [envs.list]}\ngrants: {U0BOB: [viewer]}\n")
    assert await actor_of(policy, directory, "U0BOB") == Actor("U0BOB")
    assert slack.calls == []


async def test_members_too_old_to_trust_stop_counting_while_slack_keeps_failing(
    slack: FakeSlack, clock: FakeClock
) -> None:
    # Bob was removed from the approvers in Slack, but usergroups.users.list keeps failing.
    directory = GroupDirectory(slack.fetch, ttl=300.0, max_stale=3600.0, clock=clock)
    assert await directory.groups_of("U0BOB", ["S0LEADS"]) == {"S0LEADS"}
    slack.failing = True

    clock.now += 3599
    assert await directory.groups_of("U0BOB", ["S0LEADS"]) == {"S0LEADS"}, "still within the hour"

    clock.now += 1
    with capture_logs() as logs:
        assert await directory.groups_of("U0BOB", ["S0LEADS"]) == frozenset()
        assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == frozenset()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("group_members_expired", "error"),
        ("group_members_unknown", "warning"),
    ]

    slack.failing = False
    slack.groups["S0LEADS"].remove("U0BOB")
    assert await directory.groups_of("U0ALICE", ["S0LEADS"]) == {"S0LEADS"}, "Slack is back"
    assert await directory.groups_of("U0BOB", ["S0LEADS"]) == frozenset()


async def test_by_default_stale_members_are_trusted_for_an_hour_at_most(
    directory: GroupDirectory, slack: FakeSlack, clock: FakeClock
) -> None:
    assert await directory.groups_of("U0BOB", ["S0OPS"]) == {"S0OPS"}
    slack.failing = True
    clock.now += 3600
    assert await directory.groups_of("U0BOB", ["S0OPS"]) == frozenset()
