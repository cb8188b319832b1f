"""Rotations with a grace period: the replacement is made and its token delivered, the old key
keeps working until the grace ends, then the sweeper disables it (the card's thread is told an
hour before). The requester may disable the old key sooner or revert the rotation — each a
change request under the policy's usual rules. A grace that ended while fpbot was down is
acted on when it starts again. Time is moved on the workflow's clock, never slept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.changes.actions import rotation_name
from bot.changes.lease import EXECUTION_LEASE
from bot.domain import ChangeRequest, GraceState, State
from bot.render.ids import END_GRACE, REVERT_ROTATION
from bot.server import BotServer
from bot.store import Store
from sandbox.fingerprint import FakeFingerprint
from sandbox.fingerprint.state import ApiKey
from sandbox.run import SIGNING_SECRET, Sandbox
from tests.scenarios.change_helpers import (
    APPROVER_1,
    FAST_SETTINGS,
    REQUESTER,
    VIEWER,
    WAIT,
    Desk,
    button_ids,
    everything,
    move_clock,
    policy_yaml,
    restart,
)
from tests.scenarios.conftest import API_2025, BOTH_VERSIONS, StackFactory


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/fpbot.sqlite3"


@pytest.fixture
async def sandbox(make_stack: StackFactory, database_url: str) -> AsyncIterator[Sandbox]:
    async with make_stack(database_url=database_url, **FAST_SETTINGS) as running:
        yield running
        assert running.slack.violations == []


@pytest.fixture
def desk(sandbox: Sandbox) -> Desk:
    return Desk.of(sandbox)


def key_named(fp: FakeFingerprint, name: str) -> ApiKey:
    return next(k for k in fp.workspace.api_keys.values() if k.name == name)


def replacement_of(fp: FakeFingerprint, old: ApiKey) -> ApiKey:
    [new] = [
        k
        for k in fp.workspace.api_keys.values()
        if k.name.startswith(f"{old.name} (rotated ") and k.id != old.id
    ]
    return new


async def rotated(desk: Desk, text: str) -> ChangeRequest:
    request_id = await desk.request(text)
    await desk.click(request_id, user=APPROVER_1)
    done = await desk.settled(request_id)
    await desk.quiet()
    assert done.state is State.SUCCEEDED, done.error
    return done


async def sweep_at(desk: Desk, later: timedelta) -> None:
    """One sweeper pass as if ``later`` had passed."""
    move_clock(desk.workflow, later)
    await desk.sweeper.sweep()
    await desk.quiet()


async def press(desk: Desk, rotation: str, action_id: str, *, user: str = REQUESTER) -> str:
    """Click a grace button on the rotation's card; return the ephemeral answer."""
    seen = len(desk.slack.ephemerals(user))
    card = desk.approval(rotation)
    assert action_id in button_ids(card)
    response = await desk.replicas[0].driver.click(card, action_id, user=user)
    assert response.status == 200
    await desk.slack.wait_for(
        lambda: len(desk.slack.ephemerals(user)) > seen, WAIT, what="the answer to the button"
    )
    return everything(desk.slack.ephemerals(user)[seen])


async def follow_up_approved(desk: Desk, answer: str) -> ChangeRequest:
    """Approve the request a grace button made (its id is in the requester's receipt)."""
    [pending] = await desk.store.list_requests(states=[State.PENDING])
    assert pending.id in answer
    await desk.click(pending.id, user=APPROVER_1)
    done = await desk.settled(pending.id)
    await desk.quiet()  # the rotation's card and thread are told after the outcome
    assert done.state is State.SUCCEEDED, done.error
    return done


@BOTH_VERSIONS
async def test_the_old_key_works_until_the_grace_ends_then_the_sweeper_disables_it(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 24h")
    new = replacement_of(fp, old)
    assert (old.status, new.status) == ("enabled", "enabled")
    assert any(new.token in everything(m) for m in desk.slack.dms(REQUESTER))
    assert done.grace_state is GraceState.OPEN and done.grace_ends_at is not None
    card = desk.approval(done.id)
    assert {END_GRACE, REVERT_ROTATION} <= set(button_ids(card))
    assert "stays enabled until" in everything(card)

    await sweep_at(desk, timedelta(hours=23, minutes=30))
    assert old.status == "enabled"
    assert any("will be disabled" in everything(m) for m in desk.thread(done.id))
    assert (await desk.get(done.id)).grace_state is GraceState.WARNED

    await sweep_at(desk, timedelta(hours=24, minutes=1))
    assert (old.status, new.status) == ("disabled", "enabled")
    assert fp.count(method="PATCH", path=f"/api-keys/{old.id}") == 1
    ended = await desk.get(done.id)
    assert ended.grace_state is GraceState.ENDED
    assert button_ids(desk.approval(done.id)) == []
    assert "Grace period ended" in everything(desk.approval(done.id))
    assert any("is disabled" in everything(m) for m in desk.dms_about(done.id))

    await sweep_at(desk, timedelta(hours=25))  # nothing more to do
    assert fp.count(method="PATCH", path=f"/api-keys/{old.id}") == 1


async def test_disable_old_key_now_is_a_request_of_its_own_and_ends_the_grace(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 24h")

    refused = await press(desk, done.id, END_GRACE, user=VIEWER)
    assert "Only the person who asked" in refused
    assert await desk.store.list_requests(states=[State.PENDING]) == []

    answer = await press(desk, done.id, END_GRACE)
    assert old.status == "enabled"  # nothing happens before the approval
    finished = await follow_up_approved(desk, answer)
    assert finished.action == "keys.update" and finished.params["grace_of"] == done.id
    assert old.status == "disabled"
    assert (await desk.get(done.id)).grace_state is GraceState.FINISHED
    assert button_ids(desk.approval(done.id)) == []
    assert any("finished early" in everything(m) for m in desk.thread(done.id))

    await sweep_at(desk, timedelta(hours=25))
    assert fp.count(method="PATCH", path=f"/api-keys/{old.id}") == 1


async def test_revert_enables_the_old_key_and_disables_the_replacement(desk: Desk) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 2h")
    new = replacement_of(fp, old)

    answer = await press(desk, done.id, REVERT_ROTATION)
    reverted = await follow_up_approved(desk, answer)
    assert reverted.action == "keys.rotate" and reverted.params["op"] == "revert"
    assert (old.status, new.status) == ("enabled", "disabled")
    assert (await desk.get(done.id)).grace_state is GraceState.REVERTED

    await sweep_at(desk, timedelta(hours=3))
    assert old.status == "enabled"  # the sweeper leaves a reverted rotation alone
    assert button_ids(desk.approval(done.id)) == []


async def test_a_grace_that_ended_while_fpbot_was_down_is_acted_on_at_start(
    sandbox: Sandbox, desk: Desk, database_url: str
) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 2h")
    assert old.status == "enabled"

    bot = sandbox.bot
    assert bot is not None
    await bot.stop(0.2)
    # Two hours go by while fpbot is down.
    store = await Store.connect(database_url)
    try:
        await store.update_fields(done.id, grace_ends_at=datetime.now(UTC) - timedelta(minutes=1))
    finally:
        await store.close()
    assert old.status == "enabled"
    restarted = BotServer(bot.settings)
    await restarted.start()
    sandbox.bot = restarted
    if sandbox.slack.driver is not None:
        await sandbox.slack.driver.aclose()
    sandbox.slack.connect_bot(restarted.url + "/slack/events", SIGNING_SECRET)

    await sandbox.slack.wait_for(lambda: old.status == "disabled", WAIT, what="the old key off")
    again = Desk.of(sandbox)
    # The sweeper disables the key, then records that the grace ended: wait for the record.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (await again.get(done.id)).grace_state is not GraceState.ENDED:
        assert loop.time() < deadline, "the grace was never recorded as ended"
        await asyncio.sleep(0.05)


async def test_the_policys_default_grace_applies_unless_the_command_says_zero(
    make_stack: StackFactory,
) -> None:
    async with make_stack(policy=policy_yaml(rotation_grace="12h"), **FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        fp = desk.fingerprint
        graceful = key_named(fp, "Backend events")
        done = await rotated(desk, f"keys rotate {graceful.id}")
        assert graceful.status == "enabled"
        assert done.grace_ends_at is not None and done.executing_since is not None
        assert done.grace_ends_at - done.executing_since == timedelta(hours=12)

        at_once = key_named(fp, "Dev backend")
        immediate = await rotated(desk, f"keys rotate {at_once.id} --grace 0")
        assert at_once.status == "disabled" and immediate.grace_state is None


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_an_encryption_key_rotation_can_be_reverted_during_its_grace(desk: Desk) -> None:
    fp = desk.fingerprint
    env = next(e.id for e in fp.workspace.environments.values() if e.name == "Staging")
    key = next(k for k in fp.workspace.encryption_keys.values() if k.environment == env)
    before = key.token
    done = await rotated(desk, "enckeys rotate Staging --grace 2h")
    assert key.token != before
    card = desk.approval(done.id)
    assert button_ids(card) == [REVERT_ROTATION]  # one key object: nothing old to disable

    answer = await press(desk, done.id, REVERT_ROTATION)
    reverted = await follow_up_approved(desk, answer)
    assert reverted.params["grace_of"] == done.id
    assert key.token == before
    assert (await desk.get(done.id)).grace_state is GraceState.REVERTED


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_an_encryption_key_rotations_grace_ending_makes_it_final(desk: Desk) -> None:
    done = await rotated(desk, "enckeys rotate Staging --grace 2h")
    await sweep_at(desk, timedelta(hours=2, minutes=1))
    assert (await desk.get(done.id)).grace_state is GraceState.ENDED
    assert button_ids(desk.approval(done.id)) == []
    assert any("rotation is final" in everything(m) for m in desk.thread(done.id))


async def test_a_graceful_rotation_cut_off_by_a_restart_is_reconciled_with_its_grace(
    sandbox: Sandbox, desk: Desk
) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Staging website")
    request_id = await desk.request(f"keys rotate {old.id} --grace 2h")
    now = datetime.now(UTC)
    await desk.store.add_approval(request_id, APPROVER_1, now)
    await desk.store.transition(
        request_id, State.PENDING, State.APPROVED, decided_by=APPROVER_1, decided_at=now
    )
    await desk.store.transition(request_id, State.APPROVED, State.EXECUTING, executing_since=now)
    # The replacement landed, then fpbot stopped before it heard back.
    fp.workspace.create_api_key(
        {
            "type": "public",
            "name": rotation_name(old.name, now.date()),
            "environment": old.environment,
        }
    )

    desk = await restart(sandbox)
    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    done = await desk.settled(request_id)
    assert done.state is State.SUCCEEDED and done.grace_state is GraceState.OPEN
    assert done.grace_ends_at == now + timedelta(hours=2)
    assert old.status == "enabled" and fp.count(method="POST", path="/api-keys") == 0

    await sweep_at(desk, timedelta(hours=2, minutes=1))
    assert old.status == "disabled"


async def test_a_grace_end_fingerprint_refuses_is_reported_and_tried_again(desk: Desk) -> None:
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 1h")

    fp.faults.revoked = True
    await sweep_at(desk, timedelta(hours=1, minutes=1))
    assert old.status == "enabled"
    still = (await desk.get(done.id)).grace_state
    assert still is not None and still.is_open
    assert any(done.id in everything(m) for m in desk.alerts())

    fp.faults.revoked = False
    await sweep_at(desk, timedelta(hours=1, minutes=2))
    assert old.status == "disabled"
    assert (await desk.get(done.id)).grace_state is GraceState.ENDED


async def test_requests_offers_the_requester_their_grace_buttons_anywhere_and_they_work(
    desk: Desk,
) -> None:
    """`/fp requests` lists what the caller may still act on: a rotation in its grace period
    is one, for its requester (in a DM too), with the card's buttons."""
    fp = desk.fingerprint
    old = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {old.id} --grace 24h")

    await desk.command("requests", user=REQUESTER)
    listing = desk.slack.ephemerals(REQUESTER)[-1]
    assert "grace period" in everything(listing) and done.id in everything(listing)
    assert {END_GRACE, REVERT_ROTATION} <= set(button_ids(listing))
    await desk.command("requests", user=APPROVER_1)
    assert REVERT_ROTATION not in button_ids(desk.slack.ephemerals(APPROVER_1)[-1])

    seen = len(desk.slack.ephemerals(REQUESTER))
    response = await desk.replicas[0].driver.click(listing, REVERT_ROTATION, user=REQUESTER)
    assert response.status == 200
    await desk.slack.wait_for(
        lambda: len(desk.slack.ephemerals(REQUESTER)) > seen, WAIT, what="the receipt"
    )
    await follow_up_approved(desk, everything(desk.slack.ephemerals(REQUESTER)[seen]))
    assert (old.status, replacement_of(fp, old).status) == ("enabled", "disabled")
