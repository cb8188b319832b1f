"""The rules of a request's life: reasons, one pending request per change, a cap
per person, routes by environment, withdrawal, reminders, and the policy in force deciding —
against the in-memory fakes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bot import commands
from bot.changes import actions
from bot.domain import State
from bot.fingerprint.errors import RateLimited
from bot.fingerprint.models import Status
from bot.policy import parse_policy
from bot.ports import Posted
from tests.changes.world import (
    ALICE,
    BOB,
    POLICY_TEXT,
    REQUESTER,
    VIEWER,
    Groups,
    World,
    meet,
)

CAROL = "U0CAROL"

ROUTED = parse_policy(
    """
roles:
  operator: [envs.*, keys.*, webhooks.*]
  approver: [requests.approve]
grants:
  U0REQUESTER: [operator]
  U0ALICE: [approver]
  U0BOB: [approver]
  S0PRODLEADS: [approver]
channels:
  approvals: C0APPROVALS
approvals:
  required: 1
  expires_after: 24h
  remind_after: 4h
  max_pending_per_person: 2
  routes:
    - environments: [ae_prod]
      approvers: [S0PRODLEADS]
      required: 2
      channel: C0PRODAPPROVALS
"""
)
LEADS = Groups({"S0PRODLEADS": frozenset({CAROL, BOB})})


@pytest.fixture
def routed() -> World:
    return World(ROUTED, LEADS)


def thread_of(world: World, request_id: str) -> list[str]:
    request = world.store.requests[request_id]
    assert request.approval_channel and request.approval_ts
    return world.slack.thread(Posted(request.approval_channel, request.approval_ts))


# ── reasons ─────────────────────────────────────────────────────────────────────────────────


async def test_a_reason_reaches_the_card_the_audit_and_the_requesters_dm() -> None:
    world = World()
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU", "EU customers moved"))
    assert "EU customers moved" in world.card_of(request)
    await world.click(request, ALICE)
    (requested,) = [e for e in world.store.events if e.kind == "requested"]
    assert "EU customers moved" in requested.detail
    ((user, dm),) = world.slack.dms
    assert user == REQUESTER and "EU customers moved" in dm.text + str(dm.blocks)


async def test_when_a_reason_is_required_a_request_without_one_is_refused_and_not_stored() -> None:
    strict = parse_policy(
        POLICY_TEXT.replace("expires_after: 1h", "expires_after: 1h\n  reason_required: true")
    )
    world = World(strict)
    with pytest.raises(actions.PlanError) as refused:
        await world.ask(commands.CreateEnv("QA"))
    assert "--reason" in refused.value.message
    assert world.store.requests == {} and world.slack.posts == {}


async def test_a_deny_carries_its_reason_to_the_card_and_the_requester() -> None:
    world = World()
    request = await world.ask(commands.CreateEnv("QA"))
    await world.workflow.click(
        request.id, approve=False, origin=world.origin(ALICE), note="use the staging one"
    )
    denied = await world.now(request)
    assert denied.state is State.DENIED and denied.decision_note == "use the staging one"
    assert "use the staging one" in world.card_of(denied)
    ((_, dm),) = world.slack.dms
    assert "use the staging one" in dm.text + str(dm.blocks)


# ── one pending request per change, and a cap per person ───────────────────────────────────


async def test_the_same_change_asked_twice_is_refused_with_a_link_to_the_pending_card() -> None:
    world = World()
    first = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    with pytest.raises(actions.PlanError) as refused:
        await world.ask(commands.RenameEnv("Staging", "Another name"))
    assert first.id in refused.value.message
    assert "https://slack.test/archives/C0APPROVALS/p" in refused.value.message
    assert len(world.store.requests) == 1


async def test_the_same_change_asked_twice_at_once_makes_one_request() -> None:
    """Both asks find nothing pending (held together just before storing); the store's own
    check, made as it inserts, refuses the second with a link to the first's card."""
    world = World()
    world.store.hooks["create"] = meet(2)
    asked = await asyncio.gather(
        world.ask(commands.RenameEnv("ae_stage", "Stage EU")),
        world.ask(commands.RenameEnv("Staging", "Stage EU")),
        return_exceptions=True,
    )
    made = [a for a in asked if not isinstance(a, BaseException)]
    refused = [a for a in asked if isinstance(a, actions.PlanError)]
    assert len(made) == 1 and len(refused) == 1, asked
    assert made[0].id in refused[0].message
    assert len(world.store.requests) == 1


async def test_a_person_asking_for_two_changes_at_once_at_the_cap_gets_one(
    routed: World,
) -> None:
    await routed.ask(commands.CreateEnv("QA one"))
    routed.store.hooks["create"] = meet(2)
    asked = await asyncio.gather(
        routed.ask(commands.CreateEnv("QA two")),
        routed.ask(commands.CreateEnv("QA three")),
        return_exceptions=True,
    )
    refused = [a for a in asked if isinstance(a, actions.PlanError)]
    assert len(refused) == 1 and "You have 2 requests waiting" in refused[0].message, asked
    assert len(routed.store.requests) == 2


async def test_a_decided_request_no_longer_blocks_asking_again() -> None:
    world = World()
    first = await world.ask(commands.DeleteKey("tok_pub"))
    await world.click(first, ALICE, approve=False)
    second = await world.ask(commands.DeleteKey("tok_pub"))
    assert second.id != first.id and second.state is State.PENDING


async def test_two_different_changes_to_one_key_may_wait_side_by_side() -> None:
    world = World()
    await world.ask(commands.RenameKey("tok_pub", "Website EU"))
    await world.ask(commands.SetKeyStatus("tok_pub", Status.DISABLED))
    assert len(world.store.requests) == 2


async def test_a_person_with_too_many_pending_requests_is_refused_the_next(routed: World) -> None:
    await routed.ask(commands.CreateEnv("QA one"))
    await routed.ask(commands.CreateEnv("QA two"))
    with pytest.raises(actions.PlanError) as refused:
        await routed.ask(commands.CreateEnv("QA three"))
    assert "You have 2 requests waiting" in refused.value.message
    assert len(routed.store.requests) == 2


# ── routes ──────────────────────────────────────────────────────────────────────────────────


async def test_a_change_in_a_routed_environment_goes_to_its_channel_needing_its_count(
    routed: World,
) -> None:
    request = await routed.ask(commands.RotateKey("tok_sec"))
    assert request.approval_channel == "C0PRODAPPROVALS"
    assert request.required_approvals == 2
    assert request.environment == "ae_prod" and request.environment_name == "Production"
    card = routed.card_of(request)
    assert "Production" in card and "<!subteam^S0PRODLEADS>" in card


async def test_an_approver_off_the_route_is_refused_and_nothing_is_recorded(routed: World) -> None:
    request = await routed.ask(commands.RotateKey("tok_sec"))
    await routed.click(request, ALICE)
    assert (await routed.now(request)).approvals == ()
    (refusal,) = routed.slack.answered(ALICE)
    assert "Production" in refusal or "S0PRODLEADS" in refusal


async def test_the_routes_approvers_run_it_once_two_of_them_agree(routed: World) -> None:
    request = await routed.ask(commands.RotateKey("tok_sec"))
    await routed.click(request, CAROL)
    assert (await routed.now(request)).state is State.PENDING
    await routed.click(request, BOB)
    assert (await routed.now(request)).state is State.SUCCEEDED


async def test_a_change_outside_every_route_follows_the_general_rules(routed: World) -> None:
    request = await routed.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    assert request.approval_channel == "C0APPROVALS" and request.required_approvals == 1
    await routed.click(request, ALICE)
    assert (await routed.now(request)).state is State.SUCCEEDED


# ── withdrawal ──────────────────────────────────────────────────────────────────────────────


async def test_the_requester_withdraws_and_nothing_runs() -> None:
    world = World()
    request = await world.ask(commands.DeleteEnv("ae_stage"))
    await world.workflow.withdraw(request.id, world.origin(REQUESTER))
    withdrawn = await world.now(request)
    assert withdrawn.state is State.WITHDRAWN
    assert "withdrawn" in world.card_of(withdrawn).lower()
    assert "approve_request" not in world.card_of(withdrawn)
    await world.click(request, ALICE)
    await world.click(request, BOB)
    assert world.api.writes == []
    assert "withdrawn" in " ".join(world.slack.answered(REQUESTER))


@pytest.mark.parametrize("someone", [ALICE, VIEWER], ids=["an approver", "a viewer"])
async def test_only_the_requester_may_withdraw(someone: str) -> None:
    world = World()
    request = await world.ask(commands.DeleteEnv("ae_stage"))
    await world.workflow.withdraw(request.id, world.origin(someone))
    assert (await world.now(request)).state is State.PENDING
    (refusal,) = world.slack.answered(someone)
    assert f"Only <@{REQUESTER}> can withdraw" in refusal


async def test_a_decided_request_cannot_be_withdrawn() -> None:
    world = World()
    request = await world.ask(commands.CreateEnv("QA"))
    await world.click(request, ALICE)
    await world.workflow.withdraw(request.id, world.origin(REQUESTER))
    assert (await world.now(request)).state is State.SUCCEEDED
    assert world.slack.answered(REQUESTER)


# ── reminders ───────────────────────────────────────────────────────────────────────────────


async def sweep_after(world: World, hours: float) -> None:
    world.clock.now += timedelta(hours=hours)
    await world.sweep()


async def test_reminders_mention_only_who_may_still_approve_at_most_three_times(
    routed: World,
) -> None:
    request = await routed.ask(commands.RotateKey("tok_sec"))
    await routed.click(request, CAROL)
    for _ in range(5):
        await sweep_after(routed, 4.5)
    reminders = thread_of(routed, request.id)
    assert len(reminders) == 3
    for text in reminders:
        assert "<@U0BOB>" in text
        assert CAROL not in text and REQUESTER not in text and ALICE not in text
        assert "<!channel>" not in text and "<!here>" not in text and "subteam" not in text


async def test_no_reminder_before_remind_after_nor_after_a_decision(routed: World) -> None:
    request = await routed.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    await sweep_after(routed, 3)
    assert thread_of(routed, request.id) == []
    await routed.click(request, ALICE)
    await sweep_after(routed, 5)
    assert not any("still needs" in t for t in thread_of(routed, request.id))


async def test_without_remind_after_nobody_is_reminded() -> None:
    world = World()
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    await sweep_after(world, 0.9)
    assert thread_of(world, request.id) == []


# ── the policy in force decides ──────────────────────────────────────────────────────────────


async def test_a_policy_asking_more_approvals_now_makes_a_waiting_request_wait_for_them() -> None:
    world = World()
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    world.start(parse_policy(POLICY_TEXT.replace("required: 1", "required: 2")))
    await world.click(request, ALICE)
    assert (await world.now(request)).state is State.PENDING
    await world.click(request, BOB)
    assert (await world.now(request)).state is State.SUCCEEDED


async def test_a_requester_who_lost_the_permission_gets_nothing_run_and_is_told_why() -> None:
    world = World()
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    world.start(
        parse_policy(POLICY_TEXT.replace("U0REQUESTER: [operator]", "U0REQUESTER: [viewer]"))
    )
    await world.click(request, ALICE)
    failed = await world.now(request)
    assert failed.state is State.FAILED
    assert "no longer holds" in (failed.error or "")
    assert world.api.writes == []


# ── held back, not lost ─────────────────────────────────────────────────────────────────────


async def test_a_change_held_back_by_the_rate_limit_stays_approved_and_runs_later() -> None:
    world = World()
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    world.api.fail(
        "update_environment", RateLimited("slow", status=429, code="general.too-many-requests")
    )
    await world.click(request, ALICE)
    held = await world.now(request)
    assert held.state is State.APPROVED
    world.api.writes.clear()
    await sweep_after(world, 0.1)
    assert (await world.now(request)).state is State.SUCCEEDED
    assert world.env_writes() == ["update_environment"]


async def test_a_request_stored_without_a_route_keeps_what_it_was_made_with() -> None:
    world = World()
    request = await world.ask(commands.CreateEnv("QA"))
    stored = world.store.requests[request.id]
    world.store.requests[request.id] = replace(stored, required_approvals=2)
    await world.click(request, ALICE)
    assert (await world.now(request)).state is State.PENDING
