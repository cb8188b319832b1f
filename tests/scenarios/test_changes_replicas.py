"""Two fpbot replicas behind one Slack app, sharing PostgreSQL and Redis: a change runs once.

Slack sends each click to whichever replica its load balancer picks. However many approvers
click, however often and on whichever replica, the stand-in API sees the change exactly once
and the approval message ends in one state. A property test then throws random sequences of
clicks by random people at requests and checks the same promises, and that the message always
tells the truth about the stored request.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import State
from tests.scenarios.change_helpers import (
    APPROVER_1,
    APPROVER_2,
    REQUESTER,
    STRANGER,
    VIEWER,
    Desk,
    bot_settings,
    button_ids,
    everything,
    new_fake_slack,
    policy_yaml,
    private_stand_in,
    start_replica,
    status_of,
    stop_replica,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_or_skip() -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError) as exc:
        pytest.skip(f"Redis on 127.0.0.1:6379 is not available: {exc}")
    finally:
        await client.aclose()


@pytest.fixture
async def twins(pg_url: str, tmp_path: Path, log_buffer: object) -> AsyncIterator[Desk]:
    """Two bots on one PostgreSQL and one Redis, one fake Slack and one stand-in API."""
    await _redis_or_skip()
    policy = tmp_path / "fpbot.yml"
    policy.write_text(policy_yaml())
    slack = new_fake_slack()
    async with private_stand_in() as api:
        await slack.start()
        settings_ = bot_settings(
            slack, api, policy_path=policy, database_url=pg_url, redis_url=REDIS_URL
        )
        replicas = [await start_replica(slack, settings_) for _ in range(2)]
        try:
            yield Desk(slack, api.fake, replicas)
            assert slack.violations == []
        finally:
            for replica in replicas:
                await stop_replica(replica)
            await slack.stop()


def deletable_env(desk: Desk) -> str:
    """An environment that still exists, is not the default one and holds no keys."""
    keyed = {k.environment for k in desk.fingerprint.workspace.api_keys.values()}
    for env in desk.fingerprint.workspace.environments.values():
        if env.id not in keyed and not env.is_default:
            return env.id
    raise AssertionError("the seed has run out of deletable environments")


async def test_approvers_clicking_at_once_on_both_replicas_make_one_change(twins: Desk) -> None:
    desk = twins
    fp = desk.fingerprint
    env_id = deletable_env(desk)
    request_id = await desk.request(f"envs delete {env_id}")
    rng = random.Random(2024)
    clicks = [APPROVER_1, APPROVER_2] * 12
    rng.shuffle(clicks)

    await asyncio.gather(
        *(desk.click(request_id, user=u, replica=rng.randrange(2)) for u in clicks)
    )
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    assert fp.count(method="DELETE", path=f"/environments/{env_id}") == 1
    assert sum(fp.count(method=m) for m in ("POST", "PATCH", "DELETE")) == 1
    await desk.quiet()
    message = desk.approval(request_id)
    assert button_ids(message) == [] and "*Succeeded*" in status_of(message)
    assert len(desk.thread(request_id)) == 1 and len(desk.dms_about(request_id)) == 1
    kinds = await desk.audit_kinds(request_id)
    for once in ("approved", "executing", "succeeded"):
        assert kinds.count(once) == 1, kinds
    assert kinds.count("approval") == 2


async def test_approve_and_deny_racing_on_both_replicas_end_in_one_consistent_state(
    twins: Desk,
) -> None:
    desk = twins
    fp = desk.fingerprint
    rng = random.Random(99)
    for round_ in range(3):
        name = f"Raced Env {round_}"
        request_id = await desk.request(f"envs create {name}")
        clicks = [(APPROVER_1, True), (APPROVER_2, False)] * 6
        rng.shuffle(clicks)
        await asyncio.gather(
            *(
                desk.click(request_id, user=u, approve=a, replica=rng.randrange(2))
                for u, a in clicks
            )
        )
        final = await desk.settled(request_id)
        await desk.quiet()

        made = sum(e.name == name for e in fp.workspace.environments.values())
        assert final.state in (State.SUCCEEDED, State.DENIED)
        assert made == (1 if final.state is State.SUCCEEDED else 0)
        status = status_of(desk.approval(request_id))
        assert ("*Succeeded*" in status) == (final.state is State.SUCCEEDED)
        assert ("*Denied*" in status) == (final.state is State.DENIED)
        assert len(desk.thread(request_id)) == 1
    assert fp.count(method="POST", path="/environments") <= 3


# ── random clicks by random people ──────────────────────────────────────────────────────────

PEOPLE = [APPROVER_1, APPROVER_2, REQUESTER, VIEWER, STRANGER]
APPROVERS = {APPROVER_1, APPROVER_2}

clicks_strategy = st.lists(
    st.tuples(
        st.sampled_from([APPROVER_1, APPROVER_2, *PEOPLE]),  # approvers click most
        st.sampled_from([True, True, False]),  # approve more often than deny
        st.integers(0, 1),  # the replica Slack's load balancer picks
    ),
    min_size=1,
    max_size=8,
)


def expected_outcome(required: int, clicks: list[tuple[str, bool, int]]) -> tuple[State, int]:
    """The sample policy's rules, applied click by click: the final state and refusals."""
    state, approvals, refusals = State.PENDING, set[str](), 0
    for user, approve, _ in clicks:
        may_decide = user in APPROVERS  # the requester may not deny either (§5)
        if not may_decide or state is not State.PENDING or (approve and user in approvals):
            refusals += 1
        elif not approve:
            state = State.DENIED
        else:
            approvals.add(user)
            if len(approvals) >= required:
                state = State.SUCCEEDED
    return state, refusals


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(clicks=clicks_strategy, two_approvals=st.booleans())
async def test_random_clicks_by_random_people_run_a_change_at_most_once(
    twins: Desk, clicks: list[tuple[str, bool, int]], two_approvals: bool
) -> None:
    desk = twins
    fp = desk.fingerprint
    if two_approvals:
        target = deletable_env(desk)
        request_id = await desk.request(f"envs delete {target}")

        def writes() -> int:
            return fp.count(method="DELETE", path=f"/environments/{target}")
    else:
        name = f"Random Clicks {secrets.token_hex(4)}"
        request_id = await desk.request(f"envs create {name}")

        def writes() -> int:
            return sum(e.name == name for e in fp.workspace.environments.values())

    heard = {user: len(desk.slack.ephemerals(user)) for user in PEOPLE}

    for user, approve, replica in clicks:
        await desk.decide(request_id, user=user, approve=approve, replica=replica)

    expected, refusals = expected_outcome(2 if two_approvals else 1, clicks)
    final = await desk.get(request_id)
    assert final.state is expected
    assert writes() == (1 if expected is State.SUCCEEDED else 0)
    assert sum(len(desk.slack.ephemerals(u)) - n for u, n in heard.items()) == refusals
    assert (await desk.audit_kinds(request_id)).count("refused") == refusals

    message = desk.approval(request_id)
    status = status_of(message)
    if expected is State.PENDING:
        assert button_ids(message) == ["approve_request", "deny_request"]
        assert "Waiting for approval" in status
        assert desk.thread(request_id) == []
    else:
        assert button_ids(message) == []
        word = "*Succeeded*" if expected is State.SUCCEEDED else "*Denied*"
        assert word in status
        assert len(desk.thread(request_id)) == 1 and len(desk.dms_about(request_id)) == 1
    for approver in final.approvers:
        assert f"<@{approver}>" in everything(message)
    if expected is State.PENDING:  # the next example may ask for the same change
        await desk.command(f"requests cancel {request_id}")
        await desk.quiet()
