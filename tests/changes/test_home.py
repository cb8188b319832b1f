"""App Home against the in-memory fakes: what each person's tab shows, and that a burst of
changes publishes each tab once, not once per change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot import commands as cmd
from bot.domain import GraceState
from bot.home import OWN_SHOWN, HomeTabs
from bot.policy import parse_policy
from bot.render.ids import END_GRACE, REVERT_ROTATION
from tests.changes.world import ALICE, BOB, REQUESTER, Groups, World

STRANGER = "U0NOBODY"


def tabs_of(world: World) -> HomeTabs:
    return HomeTabs(
        policy=world.policy,
        groups=world.groups,
        client=world.api,
        store=world.store,
        slack=world.slack,
        clock=world.clock,
        spacing=0,
    )


def shown(world: World, user: str) -> str:
    return str(world.slack.homes[user])


async def test_an_approver_sees_what_waits_for_them_and_a_requester_their_own() -> None:
    world = World()
    first = await world.ask(cmd.CreateEnv("QA one"))
    second = await world.ask(cmd.DeleteEnv("ae_stage"))
    await world.click(second, BOB)
    tabs = tabs_of(world)
    await tabs.publish(ALICE)
    await tabs.publish(BOB)
    await tabs.publish(REQUESTER)
    assert "Waiting for you (2)" in shown(world, ALICE)
    assert "Waiting for you (1)" in shown(world, BOB), "what Bob approved waits for others"
    assert first.id in shown(world, BOB)
    assert "Waiting for you" not in shown(world, REQUESTER)
    assert "Your requests (2)" in shown(world, REQUESTER)
    assert "cancel_request" in shown(world, REQUESTER)
    assert "3/10" in shown(world, ALICE), "three keys of the plan's ten"


async def test_a_rotation_in_its_grace_period_offers_its_buttons_however_old_it_is() -> None:
    world = World()
    rotation = await world.ask(cmd.RotateKey("tok_pub", grace=timedelta(hours=24)))
    await world.click(rotation, ALICE)
    assert (await world.now(rotation)).grace_state is GraceState.OPEN
    for n in range(OWN_SHOWN + 2):  # newer requests than the rotation, more than are shown
        world.clock.now += timedelta(seconds=1)
        await world.ask(cmd.CreateEnv(f"QA {n}"))

    await tabs_of(world).publish(REQUESTER)

    view = world.slack.homes[REQUESTER]
    buttons = [
        (element["action_id"], element["value"])
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert (END_GRACE, rotation.id) in buttons and (REVERT_ROTATION, rotation.id) in buttons
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "a view's block ids are unique"
    assert len(view["blocks"]) <= 100


async def test_someone_without_a_role_is_told_whom_to_ask() -> None:
    world = World(parse_policy("roles: {v: [envs.list]}\ngrants: {U0V: [v]}\nadmins: [U0ADMIN]\n"))
    await tabs_of(world).publish(STRANGER)
    assert "<@U0ADMIN>" in shown(world, STRANGER)
    assert "Waiting for you" not in shown(world, STRANGER)
    assert "API keys" not in shown(world, STRANGER)


async def test_an_approver_off_a_route_does_not_see_its_requests() -> None:
    routed = parse_policy(
        """
roles: {operator: [envs.*, keys.*], approver: [requests.approve]}
grants: {U0REQUESTER: [operator], U0ALICE: [approver], U0BOB: [approver]}
approvals:
  routes:
    - environments: [ae_prod]
      approvers: [U0BOB]
"""
    )
    world = World(routed, Groups())
    await world.ask(cmd.RotateKey("tok_sec"))
    tabs = tabs_of(world)
    await tabs.publish(ALICE)
    await tabs.publish(BOB)
    assert "Waiting for you (0)" in shown(world, ALICE)
    assert "Waiting for you (1)" in shown(world, BOB)


async def test_a_burst_of_changes_publishes_each_open_tab_once() -> None:
    world = World()
    tabs = tabs_of(world)
    published: list[str] = []
    publish = world.slack.publish_home

    async def counted(user_id: str, view: dict[str, object]) -> None:
        published.append(user_id)
        await publish(user_id, view)

    world.slack.publish_home = counted  # type: ignore[method-assign]
    tabs.opened(ALICE)
    tabs.opened(BOB)
    for i in range(20):
        request = await world.ask(cmd.CreateEnv(f"QA {i}"))
        tabs.touched(request)
    for _ in range(50):
        await asyncio.sleep(0)
    await tabs.close()
    assert sorted(published) == [ALICE, BOB], published


def test_an_account_past_the_default_plan_reads_as_a_larger_plan_not_an_error() -> None:
    from datetime import UTC, datetime

    from bot.render.home import Glance, render_home

    view = render_home(
        "U0ALICE",
        waiting=[],
        mine=[],
        glance=Glance(32, 12, 10, 3, 5),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        can_approve=False,
    )
    assert "12 (the default plan allows 10)" in str(view) and "3/5" in str(view)
