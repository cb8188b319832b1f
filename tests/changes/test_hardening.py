"""The workflow faults found by attacking fpbot (the README's fault table), each as a person would
notice it, against the in-memory fakes: a click that lands before Slack answers the card's post,
creates whose answer is lost, requests whose card Slack refuses, names that collide after planning,
and what was left open (a lease lost mid-write, delivered secrets, a reconcile Fingerprint did not
answer, Check now and Retry).

Races are interleaved deterministically: a Slack post held until the test releases it, store
hooks, and API calls that do something else (a sweep, a write) before answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest

from bot import commands
from bot.changes import actions
from bot.changes.actions import ExecutionFailed, SecretDelivery
from bot.changes.sweeper import Sweeper
from bot.domain import ChangeRequest, State
from bot.fingerprint.client import ManagementClient
from bot.fingerprint.errors import ServerError, Timeout
from bot.fingerprint.models import ApiKey, Environment, KeyType, Status
from bot.forms import Forms
from bot.ledger import Ledger
from bot.ports import DeliveryFailed, Origin, Posted
from bot.render import Message
from bot.render import changes as say
from bot.render.ids import APPROVE, CANCEL, CHECK, DENY, RETRY
from bot.runner import CommandRunner
from bot.store import Store
from bot.watch.digest import Digest
from sandbox.fingerprint import FakeFingerprint, StandInServer
from tests.changes.fakes import NOW, FakeApi, seeded
from tests.changes.world import ALICE, BOB, REQUESTER, VIEWER, World, meet

APPROVALS = "C0APPROVALS"
LOST = Timeout("no answer", status=None, code="transport.timeout")


def executing(plan: actions.Plan) -> ChangeRequest:
    """The request as the store hands it to execute: params through JSON, executing."""
    return ChangeRequest(
        id="CR-HARD01",
        action=plan.action,
        params=dict(plan.params),
        summary=plan.summary,
        requester=REQUESTER,
        channel_id="C0OPS",
        state=State.EXECUTING,
        required_approvals=1,
        created_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=23),
        before=plan.before,
        after=plan.after,
        executing_since=NOW,
    )


class Courier:
    """Stands in for the requester's DMs: records every secret handed to it."""

    def __init__(self) -> None:
        self.delivered: list[SecretDelivery] = []

    async def __call__(self, delivery: SecretDelivery) -> bool:
        self.delivered.append(delivery)
        return True


def answered_then_lost(create: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A create Fingerprint carries out but whose answer never comes back."""

    async def lost(**fields: Any) -> Any:
        await create(**fields)
        raise LOST

    return lost


def texts(message: Message) -> str:
    return message.text + str(message.blocks)


def buttons(message: Message) -> list[tuple[str, str]]:
    """(action_id, value) of every button the message carries."""
    return [
        (str(element["action_id"]), str(element.get("value")))
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def card_now(world: World, request: ChangeRequest) -> Message:
    assert request.approval_channel and request.approval_ts
    return world.slack.card(Posted(request.approval_channel, request.approval_ts))


def thread(world: World, request: ChangeRequest) -> list[str]:
    assert request.approval_channel and request.approval_ts
    return world.slack.thread(Posted(request.approval_channel, request.approval_ts))


def from_card(world: World, user: str, card: Posted) -> Origin:
    """A click on the card: Slack's payload names the message it was on."""
    return replace(world.origin(user), message=card)


# ── fault 6: a click lands before Slack answers the card's post ─────────────────────────────


class HeldPost:
    """Holds the first card's ``chat.postMessage``: Slack shows the message at once (``shown``)
    but its answer reaches fpbot only when the test sets ``answer``."""

    def __init__(self, world: World) -> None:
        self.shown = asyncio.Event()
        self.answer = asyncio.Event()
        self.card: Posted | None = None
        post = world.slack.post

        async def held(channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
            posted = await post(channel, message, thread_ts=thread_ts)
            if thread_ts is None and channel == APPROVALS and self.card is None:
                self.card = posted
                self.shown.set()
                await self.answer.wait()
            return posted

        world.slack.post = held  # type: ignore[method-assign]

    async def until_shown(self) -> Posted:
        await self.shown.wait()
        assert self.card is not None
        return self.card


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
async def test_a_decision_clicked_before_slack_answers_the_post_shows_on_the_card_and_in_its_thread(
    approve: bool,
) -> None:
    world = World()
    held = HeldPost(world)
    asking = asyncio.create_task(world.ask(commands.CreateEnv("QA")))
    card = await held.until_shown()
    (request,) = world.store.requests.values()
    assert request.approval_ts is None  # fpbot does not know where its card is yet

    await world.workflow.click(request.id, approve=approve, origin=from_card(world, ALICE, card))
    decided = await world.now(request)
    assert decided.state is (State.SUCCEEDED if approve else State.DENIED)
    assert (decided.approval_channel, decided.approval_ts) == (card.channel, card.ts)

    held.answer.set()
    await asking
    shown = world.slack.card(card)
    assert f"({decided.state.value})" in shown.text
    assert (APPROVE, request.id) not in buttons(shown)
    (outcome,) = thread(world, decided)  # told once in the thread …
    assert ("succeeded" if approve else "denied") in outcome
    assert [user for user, _ in world.slack.dms] == [REQUESTER]  # … and once by DM


async def test_a_request_decided_before_its_card_is_known_is_shown_decided_once_slack_answers() -> (
    None
):
    world = World()
    held = HeldPost(world)
    asking = asyncio.create_task(world.ask(commands.CreateEnv("QA")))
    card = await held.until_shown()
    (request,) = world.store.requests.values()

    # Approved where the click names no card (the `/fp requests` listing, App Home).
    await world.workflow.click(request.id, approve=True, origin=world.origin(ALICE))
    assert (await world.now(request)).state is State.SUCCEEDED
    assert world.slack.edits == []  # nothing to edit yet: the card's ts is not known

    held.answer.set()
    posted = await asking
    assert posted.state is State.SUCCEEDED and posted.approval_ts == card.ts
    shown = world.slack.card(card)
    assert "(succeeded)" in shown.text and (APPROVE, request.id) not in buttons(shown)
    (outcome,) = thread(world, posted)
    assert "succeeded" in outcome


async def test_an_approval_before_the_post_answers_counts_towards_the_card_it_was_clicked_on() -> (
    None
):
    world = World()
    held = HeldPost(world)
    asking = asyncio.create_task(world.ask(commands.DeleteEnv("ae_stage")))  # needs two
    card = await held.until_shown()
    (request,) = world.store.requests.values()

    await world.workflow.click(request.id, approve=True, origin=from_card(world, ALICE, card))
    held.answer.set()
    await asking
    one_of_two = await world.now(request)
    assert one_of_two.state is State.PENDING and one_of_two.approvers == {ALICE}
    assert "1 of 2" in texts(world.slack.card(card))


# ── fault 8: a create whose answer is lost ──────────────────────────────────────────────────


async def test_a_webhook_whose_create_answer_was_lost_is_found_disabled_and_reported_exactly() -> (
    None
):
    api = seeded()
    url = "https://example.com/new-hook"
    request = executing(await actions.plan(api, commands.CreateWebhook(url, None, "ae_prod")))
    api.create_webhook = answered_then_lost(api.create_webhook)  # type: ignore[method-assign,assignment]
    courier = Courier()
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, courier)
    (made,) = [h for h in api.hooks.values() if h.url == url]
    assert made.status is Status.DISABLED
    assert courier.delivered == []
    assert failed.value.state_of_account == say.webhook_exists_disabled(made.id)
    assert made.id in failed.value.message and not failed.value.uncertain


async def test_a_webhook_create_with_a_lost_answer_fails_saying_the_webhook_exists_disabled() -> (
    None
):
    world = World()
    url = "https://example.com/new-hook"
    request = await world.ask(commands.CreateWebhook(url, None, "ae_stage"))
    world.api.create_webhook = answered_then_lost(  # type: ignore[method-assign,assignment]
        world.api.create_webhook
    )
    await world.click(request, ALICE)
    failed = await world.now(request)
    (made,) = [h for h in world.api.hooks.values() if h.url == url]
    assert failed.state is State.FAILED
    assert say.webhook_exists_disabled(made.id) in (failed.error or "")
    assert (CHECK, request.id) not in buttons(card_now(world, failed))  # nothing left to check
    assert world.slack.secrets == []


async def test_a_rotation_whose_replacement_answer_was_lost_disables_it_spares_the_old_key() -> (
    None
):
    api = seeded()
    request = executing(await actions.plan(api, commands.RotateKey("tok_sec")))
    api.create_api_key = answered_then_lost(api.create_api_key)  # type: ignore[method-assign,assignment]
    courier = Courier()
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, courier)
    (replacement,) = [k for k in api.keys.values() if k.id not in ("tok_pub", "tok_sec", "tok_off")]
    assert replacement.status is Status.DISABLED
    assert api.keys["tok_sec"].status is Status.ENABLED
    assert [w for w in api.writes if w[1] == "tok_sec"] == []  # the old key was not touched
    assert courier.delivered == []
    assert failed.value.state_of_account == say.key_exists_disabled(
        replacement.id, say.old_key_untouched("tok_sec")
    )


def nameless_creates(api: FakeApi) -> None:
    """Creates answered as Fingerprint's CLI fixtures do: ``{id, type, status, token}``."""
    create = api.create_api_key

    async def bare(**fields: Any) -> ApiKey:
        key = await create(**fields)
        return ApiKey(id=key.id, type=key.type, status=key.status, token=key.token)

    api.create_api_key = bare  # type: ignore[method-assign]


async def test_a_key_created_upstream_whose_answer_has_no_name_succeeds_under_the_name_asked() -> (
    None
):
    api = seeded()
    nameless_creates(api)
    request = executing(await actions.plan(api, commands.CreateKey(KeyType.SECRET, "Billing")))
    courier = Courier()
    execution = await actions.execute(api, request, courier)
    ((delivery),) = courier.delivered
    assert (delivery.resource_name, delivery.resource_id) == ("Billing", "tok_new1")
    assert execution.result["name"] == "Billing" and "Billing" in execution.message
    assert api.keys["tok_new1"].status is Status.ENABLED


async def test_a_rotation_whose_replacement_answer_has_no_name_completes() -> None:
    api = seeded()
    nameless_creates(api)
    request = executing(await actions.plan(api, commands.RotateKey("tok_sec")))
    execution = await actions.execute(api, request, Courier())
    assert execution.result["replacement_name"].startswith("Backend (rotated ")
    assert api.keys["tok_sec"].status is Status.DISABLED
    assert api.keys["tok_new1"].status is Status.ENABLED


async def test_loopback_a_key_whose_create_answer_is_terse_reaches_its_requester_by_name() -> None:
    """The real client against the stand-in answering as Fingerprint's CLI fixtures do."""
    fake = FakeFingerprint(environments=3, rate_limit=1000, burst=1000)
    fake.faults.terse_creates = True
    async with StandInServer(fake) as api:
        client = ManagementClient(
            api_key=api.key, base_url=api.url, rate_limit=1000, cache_ttl=0, retry_budget=1
        )
        try:
            plan = await actions.plan(client, commands.CreateKey(KeyType.SECRET, "Billing"))
            courier = Courier()
            execution = await actions.execute(client, executing(plan), courier)
            made = await client.get_api_key(execution.result["key_id"])
        finally:
            await client.aclose()
    ((delivery),) = courier.delivered
    assert (delivery.resource_name, delivery.resource_id) == ("Billing", made.id)
    assert execution.result["name"] == "Billing" and "Billing" in execution.message
    assert (made.name, made.status) == ("Billing", Status.ENABLED)


# ── fault 9: the approvals channel refuses the card ─────────────────────────────────────────


class Refusing:
    """Slack refuses every post to the approvals channel until ``accept()``; counts attempts."""

    def __init__(self, world: World, error: str = "channel_not_found") -> None:
        self.attempts = 0
        self.refusing = True
        post = world.slack.post

        async def refused(
            channel: str, message: Message, *, thread_ts: str | None = None
        ) -> Posted:
            if channel == APPROVALS and thread_ts is None:
                self.attempts += 1
                if self.refusing:
                    raise DeliveryFailed("chat.postMessage", error)
            return await post(channel, message, thread_ts=thread_ts)

        world.slack.post = refused  # type: ignore[method-assign]

    def accept(self) -> None:
        self.refusing = False


def runner_of(world: World) -> CommandRunner:
    """`/fp` as the world's people type it."""
    store, slack = world.store, world.slack
    return CommandRunner(
        policy=world.policy,
        groups=world.groups,
        client=world.api,
        store=store,
        slack=slack,
        notifier=world.workflow.cards._notifier,
        changes=world.workflow,
        ledger=Ledger(cast(Store, store)),
        digest=Digest(
            store=cast(Store, store),
            client=world.api,
            slack=slack,
            notifier=world.workflow.cards._notifier,
            at=None,
            channel=None,
        ),
        forms=Forms(
            policy=world.policy,
            groups=world.groups,
            client=world.api,
            store=store,
            slack=slack,
            changes=world.workflow,
        ),
    )


async def test_a_card_the_approvals_channel_refuses_leaves_the_request_pending_and_the_receipt_says_so() -> (  # noqa: E501
    None
):
    world = World()
    Refusing(world)
    await runner_of(world).run(commands.CreateEnv("QA"), world.origin(REQUESTER))
    (request,) = world.store.requests.values()
    assert request.state is State.PENDING and request.approval_ts is None
    assert request.card_error == "channel_not_found"
    ((_, answer),) = world.slack.answers
    receipt = texts(answer)
    assert request.id in receipt
    assert "could not be posted" in receipt and "channel_not_found" in receipt
    assert "/fp requests" in receipt


async def test_the_sweeper_posts_a_refused_card_again_backing_off_until_slack_takes_it() -> None:
    world = World()
    slack = Refusing(world)
    request = await world.ask(commands.CreateEnv("QA"))
    assert slack.attempts == 1
    sweeper = Sweeper(world.workflow, world.store, world.policy)
    tried_at: list[float] = []
    for half_minute in range(1, 21):  # ten minutes of sweeps, one every 30 s
        world.clock.now = NOW + timedelta(seconds=30 * half_minute)
        before = slack.attempts
        await sweeper.sweep()
        if slack.attempts > before:
            tried_at.append(half_minute / 2)
    assert tried_at == [1, 2, 4, 8]  # one minute, then twice as long each time
    assert (await world.now(request)).approval_ts is None

    slack.accept()
    for half_minute in range(21, 41):
        world.clock.now = NOW + timedelta(seconds=30 * half_minute)
        await sweeper.sweep()
    posted = await world.now(request)
    assert slack.attempts == 6  # at 16 minutes, and never again once it was posted
    assert posted.state is State.PENDING and posted.approval_channel == APPROVALS
    assert posted.card_error is None
    assert (APPROVE, request.id) in buttons(card_now(world, posted))


async def test_two_replicas_posting_a_refused_card_again_at_once_leave_one_card() -> None:
    """Both sweepers post before either records its card: the one that records second takes
    its message back, so approvers never see a card that no longer moves."""
    world = World()
    slack = Refusing(world)
    request = await world.ask(commands.CreateEnv("QA"))
    slack.accept()
    world.clock.now = NOW + timedelta(minutes=2)
    sweepers = [Sweeper(world.workflow, world.store, world.policy) for _ in range(2)]
    world.store.hooks["set_card"] = meet(2)

    await asyncio.gather(*(s.sweep() for s in sweepers))

    posted = await world.now(request)
    assert slack.attempts == 3  # the refused post, then one by each replica
    cards = [
        ts
        for ts, (channel, _, thread) in world.slack.posts.items()
        if channel == APPROVALS and thread is None
    ]
    assert cards == [posted.approval_ts]
    assert len(world.slack.taken_back) == 1 and world.slack.taken_back[0].ts != posted.approval_ts


async def test_requests_lists_a_request_without_a_card_with_the_buttons_to_decide_it() -> None:
    world = World()
    Refusing(world)
    request = await world.ask(commands.CreateEnv("QA"))
    runner = runner_of(world)

    await runner.run(commands.ListRequests(), world.origin(ALICE))
    ((_, listing),) = [(u, m) for u, m in world.slack.answers if u == ALICE]
    assert request.id in texts(listing) and "could not be posted" in texts(listing)
    assert (APPROVE, request.id) in buttons(listing) and (DENY, request.id) in buttons(listing)

    await runner.run(commands.ListRequests(), world.origin(REQUESTER))
    ((_, own),) = [(u, m) for u, m in world.slack.answers if u == REQUESTER]
    assert buttons(own) == [(CANCEL, request.id)]

    # Approve from the listing (an ephemeral message: the click names no card).
    await world.click(request, ALICE)
    done = await world.now(request)
    assert done.state is State.SUCCEEDED
    assert [name for name in (e.name for e in world.api.envs.values()) if name == "QA"] == ["QA"]
    assert [user for user, _ in world.slack.dms] == [REQUESTER]


# ── fault 11: names that collide after planning ─────────────────────────────────────────────


async def test_a_second_request_for_a_name_differing_only_in_case_is_refused_as_a_duplicate() -> (
    None
):
    world = World()
    first = await world.ask(commands.CreateEnv("Twin env"))
    with pytest.raises(actions.PlanError) as refused:
        await world.ask(commands.CreateEnv("twin ENV"))
    assert first.id in refused.value.message
    assert list(world.store.requests) == [first.id]


async def test_a_name_taken_outside_fpbot_after_the_request_stops_it_with_nothing_written() -> None:
    world = World()
    request = await world.ask(commands.CreateEnv("Twin env"))
    world.api.envs["ae_twin"] = Environment(id="ae_twin", name="twin ENV", created_at=NOW)
    await world.click(request, ALICE)
    failed = await world.now(request)
    assert failed.state is State.FAILED
    assert "ae_twin" in (failed.error or "") and say.NOTHING_CHANGED in (failed.error or "")
    assert world.api.writes == []
    assert sorted(e.name for e in world.api.envs.values() if "twin" in e.name.lower()) == [
        "twin ENV"
    ]


async def test_two_renames_to_one_name_both_approved_only_the_first_is_written() -> None:
    world = World()
    stage = await world.ask(commands.RenameEnv("ae_stage", "Twin env"))
    prod = await world.ask(commands.RenameEnv("ae_prod", "twin ENV"))  # planned: still free
    await world.click(stage, ALICE)
    await world.click(prod, ALICE)
    assert (await world.now(stage)).state is State.SUCCEEDED
    refused = await world.now(prod)
    assert refused.state is State.FAILED and "ae_stage" in (refused.error or "")
    assert [(op, target) for op, target, _ in world.api.writes] == [
        ("update_environment", "ae_stage")
    ]
    assert world.api.envs["ae_prod"].name == "Production"


# ── also left open: the lease, delivered secrets, a reconcile without an answer ─────────────


async def test_an_owner_whose_lease_was_claimed_mid_write_does_not_deliver_the_secret() -> None:
    world = World()
    request = await world.ask(commands.CreateKey(KeyType.SECRET, "Billing"))
    create = world.api.create_api_key

    async def slow_create(**fields: Any) -> ApiKey:
        key = await create(**fields)
        # The answer takes longer than a lease: another replica's sweeper reconciles meanwhile.
        world.clock.now += world.workflow.lease + timedelta(seconds=1)
        await world.sweep()
        return key

    world.api.create_api_key = slow_create  # type: ignore[method-assign]
    await world.click(request, ALICE)
    (key,) = [k for k in world.api.keys.values() if k.name == "Billing"]
    assert world.slack.secrets == []  # a token for a key the reconciler disables is useless
    assert key.status is Status.DISABLED
    assert "secret_delivered" not in world.store.kinds(request.id)
    assert (await world.now(request)).state is State.FAILED


async def test_a_key_whose_token_was_delivered_before_a_crash_is_kept_by_the_reconciler() -> None:
    world = World()
    request = await world.ask(commands.CreateKey(KeyType.SECRET, "Billing"))
    transition = world.store.transition

    async def dies_before_success(
        request_id: str, expected: State, new: State, **fields: Any
    ) -> ChangeRequest | None:
        if new is State.SUCCEEDED:
            raise asyncio.CancelledError  # the process is gone before it could record success
        return await transition(request_id, expected, new, **fields)

    world.store.transition = dies_before_success  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await world.click(request, ALICE)
    world.store.transition = transition  # type: ignore[method-assign]
    assert (await world.now(request)).state is State.EXECUTING
    assert len(world.slack.secrets) == 1

    world.clock.now += world.workflow.lease + timedelta(seconds=1)
    await world.sweep()
    settled = await world.now(request)
    (key,) = [k for k in world.api.keys.values() if k.name == "Billing"]
    assert settled.state is State.SUCCEEDED
    assert key.status is Status.ENABLED  # its owner holds the token: it stays on
    assert [op for op, _, _ in world.api.writes] == ["create_api_key"]


async def test_a_delivered_key_is_kept_however_many_clicks_came_after_the_delivery() -> None:
    world = World()
    request = await world.ask(commands.CreateKey(KeyType.SECRET, "Billing"))
    transition = world.store.transition

    async def dies_before_success(
        request_id: str, expected: State, new: State, **fields: Any
    ) -> ChangeRequest | None:
        if new is State.SUCCEEDED:
            raise asyncio.CancelledError
        return await transition(request_id, expected, new, **fields)

    world.store.transition = dies_before_success  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await world.click(request, ALICE)
    world.store.transition = transition  # type: ignore[method-assign]
    for _ in range(120):  # a stale screen's clicks, each refused and in the trail
        await world.click(request, VIEWER)

    world.clock.now += world.workflow.lease + timedelta(seconds=1)
    await world.sweep()
    (key,) = [k for k in world.api.keys.values() if k.name == "Billing"]
    assert (await world.now(request)).state is State.SUCCEEDED
    assert key.status is Status.ENABLED


async def stuck_executing(world: World, command: commands.Command) -> ChangeRequest:
    """A request whose process died right after it started executing."""
    request = await world.ask(command)
    await world.store.transition(request.id, State.PENDING, State.APPROVED, decided_by=ALICE)
    running = await world.store.transition(
        request.id, State.APPROVED, State.EXECUTING, executing_since=world.clock.now
    )
    assert running is not None
    return running


async def test_a_reconcile_fingerprint_did_not_answer_is_tried_again_at_the_next_sweep() -> None:
    world = World()
    request = await stuck_executing(world, commands.RenameEnv("ae_stage", "Stage EU"))
    world.clock.now += world.workflow.lease + timedelta(seconds=1)
    world.api.fail("list_environments", ServerError("down", status=503, code="server.error"))
    await world.sweep()
    assert (await world.now(request)).state is State.EXECUTING

    world.clock.now += timedelta(seconds=15)  # the next sweep, long before another lease
    await world.sweep()
    settled = await world.now(request)
    assert settled.state is State.FAILED and settled.error_code == "change.interrupted"
    assert world.api.envs["ae_stage"].name == "Staging"  # reconciled, never rerun
    assert world.api.writes == []


# ── also left open: Check now and Retry ─────────────────────────────────────────────────────


async def uncertain_rename(world: World, *, applied: bool) -> ChangeRequest:
    """An approved rename whose write got no answer (and did, or did not, happen)."""
    request = await world.ask(commands.RenameEnv("ae_stage", "Stage EU"))
    if applied:
        update = world.api.update_environment

        async def applied_unanswered(env_id: str, **fields: Any) -> Environment:
            await update(env_id, **fields)
            raise LOST

        world.api.update_environment = applied_unanswered  # type: ignore[method-assign]
    else:
        world.api.fail("update_environment", LOST)
    await world.click(request, ALICE)
    if applied:
        del world.api.update_environment
    failed = await world.now(request)
    assert failed.state is State.FAILED
    assert (CHECK, request.id) in buttons(card_now(world, failed))
    return failed


async def test_check_now_finds_a_change_that_did_happen_and_marks_it_succeeded() -> None:
    world = World()
    failed = await uncertain_rename(world, applied=True)
    await world.workflow.check(failed.id, world.origin(ALICE))
    checked = await world.now(failed)
    assert checked.state is State.SUCCEEDED
    (verdict,) = world.slack.answered(ALICE)
    assert "did happen" in verdict and "Stage EU" in verdict
    assert buttons(card_now(world, checked)) == []
    assert world.api.envs["ae_stage"].name == "Stage EU"


async def test_check_now_shows_a_change_never_happened_and_offers_a_retry() -> None:
    world = World()
    failed = await uncertain_rename(world, applied=False)
    await world.workflow.check(failed.id, world.origin(REQUESTER))
    checked = await world.now(failed)
    assert checked.state is State.FAILED
    (verdict,) = world.slack.answered(REQUESTER)
    assert "did not happen" in verdict and "Retry" in verdict
    assert buttons(card_now(world, checked)) == [(RETRY, failed.id)]
    assert world.api.envs["ae_stage"].name == "Staging"


async def test_check_now_finding_a_key_after_all_says_it_is_disabled_and_offers_no_retry() -> None:
    world = World()
    request = await world.ask(commands.CreateKey(KeyType.SECRET, "Billing"))
    create = world.api.create_api_key
    unlisted: dict[str, ApiKey] = {}

    async def created_unanswered_unlisted(**fields: Any) -> ApiKey:
        key = await create(**fields)
        unlisted[key.id] = world.api.keys.pop(key.id)  # not in the listings yet
        raise LOST

    world.api.create_api_key = created_unanswered_unlisted  # type: ignore[method-assign]
    await world.click(request, ALICE)
    failed = await world.now(request)
    assert (CHECK, request.id) in buttons(card_now(world, failed))
    world.api.keys.update(unlisted)  # the listings catch up

    await world.workflow.check(failed.id, world.origin(ALICE))
    checked = await world.now(failed)
    (key,) = unlisted.values()
    assert world.api.keys[key.id].status is Status.DISABLED
    (verdict,) = world.slack.answered(ALICE)
    assert "did not happen" not in verdict and key.id in verdict and "disabled" in verdict
    assert checked.state is State.FAILED and key.id in (checked.error or "")
    assert buttons(card_now(world, checked)) == []  # no Retry: something did happen


async def test_retry_runs_a_change_a_check_proved_never_happened_exactly_once() -> None:
    world = World()
    failed = await uncertain_rename(world, applied=False)
    world.clock.now += timedelta(minutes=10)  # long after the failed run's lease
    await world.workflow.check(failed.id, world.origin(ALICE))
    world.api.writes.clear()

    world.store.hooks["get"] = meet(2)  # two Retry clicks read the request at once
    await asyncio.gather(
        world.workflow.retry(failed.id, world.origin(ALICE)),
        world.workflow.retry(failed.id, world.origin(BOB)),
    )
    del world.store.hooks["get"]
    done = await world.now(failed)
    assert done.state is State.SUCCEEDED
    assert world.api.writes == [("update_environment", "ae_stage", {"name": "Stage EU"})]
    assert world.api.envs["ae_stage"].name == "Stage EU"
    assert world.store.kinds(failed.id).count("retried") == 1
    assert "Stage EU" in thread(world, done)[-1]
