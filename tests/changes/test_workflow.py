"""The workflow's rules against in-memory fakes of the store, the account and Slack: approve,
deny, races decided by the store, expiry, and a lost lease — no network, no database.

Races are interleaved deterministically: a store hook holds one click until the other has
reached the same point (events and barriers, never sleeps).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bot import commands
from bot.changes.sweeper import Sweeper
from bot.domain import State
from bot.ports import Posted
from tests.changes.world import ALICE, BOB, POLICY, REQUESTER, VIEWER, World, meet


@pytest.fixture
def world() -> World:
    return World()


async def test_an_approved_request_runs_once_and_everyone_is_told(world: World) -> None:
    request = await world.ask(commands.CreateEnv("QA"))
    assert request.approval_channel == "C0APPROVALS"

    await world.click(request, ALICE)

    done = await world.now(request)
    assert done.state is State.SUCCEEDED and done.decided_by == ALICE
    assert world.env_writes() == ["create_environment"]
    assert "Succeeded" in world.card_of(done)
    assert any(
        "succeeded" in text
        for text in world.slack.thread(Posted("C0APPROVALS", done.approval_ts or ""))
    )
    assert [user for user, _ in world.slack.dms] == [REQUESTER]
    assert world.store.kinds(request.id) == [
        "requested",
        "approval",
        "approved",
        "executing",
        "succeeded",
    ]


async def test_a_denied_request_changes_nothing_and_the_requester_hears_it(world: World) -> None:
    request = await world.ask(commands.CreateEnv("QA"))

    await world.click(request, BOB, approve=False)

    denied = await world.now(request)
    assert denied.state is State.DENIED and denied.decided_by == BOB
    assert world.env_writes() == []
    assert "Denied" in world.card_of(denied)
    assert [user for user, _ in world.slack.dms] == [REQUESTER]


async def test_one_of_two_approvals_waits_for_the_second(world: World) -> None:
    world.api.keys.clear()  # nothing enabled left in Staging
    request = await world.ask(commands.DeleteEnv("ae_stage"))

    await world.click(request, ALICE)

    waiting = await world.now(request)
    assert waiting.state is State.PENDING and waiting.approvers == {ALICE}
    assert "1 more" in world.card_of(waiting)
    await world.click(request, BOB)
    assert (await world.now(request)).state is State.SUCCEEDED
    assert world.env_writes() == ["delete_environment"]


async def test_two_last_approvals_at_once_run_the_change_once(world: World) -> None:
    """Both clicks read the request and record their approval before either moves it on; one
    conditional move wins. The other approver is told it was decided meanwhile."""
    request = await world.ask(commands.CreateEnv("Raced"))
    world.store.hooks["transition"] = meet(2)

    await asyncio.gather(world.click(request, ALICE), world.click(request, BOB))

    done = await world.now(request)
    assert done.state is State.SUCCEEDED
    assert done.approvers == {ALICE, BOB}
    assert world.env_writes() == ["create_environment"]
    loser = BOB if done.decided_by == ALICE else ALICE
    [told] = world.slack.answered(loser)
    assert "Your approval was recorded" in told and request.id in told


async def test_a_deny_that_lands_first_wins_over_an_approval_read_before_it(
    world: World,
) -> None:
    """The approval's read saw a pending request; the deny lands before its insert: the store
    records nothing and the approver hears the request was denied."""
    request = await world.ask(commands.CreateEnv("Stopped"))
    denied = asyncio.Event()
    release_approval = asyncio.Event()

    async def hold_approval() -> None:
        release_approval.set()
        await denied.wait()

    world.store.hooks["add_approval"] = hold_approval
    approving = asyncio.create_task(world.click(request, ALICE))
    await release_approval.wait()
    await world.click(request, BOB, approve=False)
    denied.set()
    await approving

    final = await world.now(request)
    assert final.state is State.DENIED and final.approvers == frozenset()
    assert world.env_writes() == []
    [told] = world.slack.answered(ALICE)
    assert "already been denied" in told


async def test_a_click_after_expiry_says_expired_and_expires_the_request(world: World) -> None:
    request = await world.ask(commands.CreateEnv("Too Late"))
    world.clock.now = request.expires_at + timedelta(seconds=1)

    await world.click(request, ALICE)

    expired = await world.now(request)
    assert expired.state is State.EXPIRED
    [told] = world.slack.answered(ALICE)
    assert "expired" in told and "not denied" in told
    assert "Expired" in world.card_of(expired)
    assert world.env_writes() == []


async def test_the_sweeper_expires_what_is_due_and_tells_the_requester(world: World) -> None:
    request = await world.ask(commands.CreateEnv("Forgotten"))
    world.clock.now = request.expires_at

    await Sweeper(world.workflow, world.store, POLICY).sweep()

    assert (await world.now(request)).state is State.EXPIRED
    assert [user for user, _ in world.slack.dms] == [REQUESTER]


async def test_a_change_whose_lease_was_lost_before_it_started_is_not_run(world: World) -> None:
    """Another replica claimed the request (it looked dead): the change must not start, and
    the request is left executing for that replica to reconcile."""
    request = await world.ask(commands.CreateEnv("Claimed Elsewhere"))
    world.store.lease_refused = True

    await world.click(request, ALICE)

    running = await world.now(request)
    assert running.state is State.EXECUTING
    assert world.env_writes() == []


async def test_an_interrupted_change_is_reconciled_from_the_account_not_rerun(
    world: World,
) -> None:
    request = await world.ask(commands.CreateEnv("Half Done"))
    await world.store.transition(request.id, State.PENDING, State.APPROVED)
    started = world.clock.now
    await world.store.transition(
        request.id, State.APPROVED, State.EXECUTING, executing_since=started
    )
    await world.api.create_environment("Half Done")  # the write landed, then the process died
    world.api.writes.clear()
    world.clock.now = started + world.workflow.lease + timedelta(seconds=1)

    await Sweeper(world.workflow, world.store, POLICY).sweep()

    final = await world.now(request)
    assert final.state is State.SUCCEEDED
    assert world.env_writes() == []
    assert "reconciled" in world.store.kinds(request.id)


async def test_a_viewer_cannot_approve(world: World) -> None:
    request = await world.ask(commands.CreateEnv("Viewers Watch"))

    await world.click(request, VIEWER)

    assert (await world.now(request)).state is State.PENDING
    [told] = world.slack.answered(VIEWER)
    assert "`requests.approve`" in told
    assert world.store.kinds(request.id) == ["requested", "refused"]


async def test_an_unknown_request_id_is_refused_naming_it(world: World) -> None:
    request = await world.ask(commands.CreateEnv("Real One"))
    ghost = replace(request, id="CR-ZZZZZZ")

    await world.click(ghost, ALICE)

    [told] = world.slack.answered(ALICE)
    assert "no change request with that id" in told and "CR-ZZZZZZ" in told
