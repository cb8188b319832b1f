"""The faults found by attacking fpbot (the README's fault table) that only the whole stack shows:
signed HTTP from the fake Slack to a running fpbot, its real store and the stand-in API.

A click that Slack delivers before fpbot hears where its card was posted (the payload's
``container.message_ts`` is all fpbot knows of the card), and an approvals channel that refuses
the card (decided from ``/fp requests`` meanwhile, posted by the sweeper once it can be).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.domain import State
from bot.ports import Posted
from bot.render.blocks import Message
from bot.render.ids import APPROVE, CANCEL, DENY
from bot.slack.conversation import SlackConversation
from sandbox.run import Sandbox
from sandbox.slack import RecordedMessage
from tests.scenarios.change_helpers import (
    APPROVALS,
    APPROVER_1,
    FAST_SETTINGS,
    OPS,
    REQUEST_ID,
    REQUESTER,
    Desk,
    button_ids,
    everything,
    move_clock,
    status_of,
)
from tests.scenarios.conftest import StackFactory


@pytest.fixture
async def sandbox(make_stack: StackFactory) -> AsyncIterator[Sandbox]:
    async with make_stack(**FAST_SETTINGS) as running:
        yield running
        assert running.slack.violations == []


@pytest.fixture
def desk(sandbox: Sandbox) -> Desk:
    return Desk.of(sandbox)


def env_count(desk: Desk, name: str) -> int:
    return sum(e.name == name for e in desk.fingerprint.workspace.environments.values())


# ── fault 6: the click comes before the post's answer ───────────────────────────────────────


async def test_an_approval_clicked_before_the_cards_post_answers_is_shown_and_told_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack shows the card in #approvals, an approver clicks it, and only then does fpbot
    hear chat.postMessage's answer."""
    answer = asyncio.Event()
    post = desk.messenger.post

    async def answered_late(channel: str, message: Message, **kwargs: Any) -> Posted:
        posted = await post(channel, message, **kwargs)
        if channel == APPROVALS and kwargs.get("thread_ts") is None:
            await answer.wait()
        return posted

    monkeypatch.setattr(desk.messenger, "post", answered_late)
    response = await desk.replicas[0].driver.command(
        "envs create Early Click", user=REQUESTER, channel=OPS
    )
    assert response.status == 200
    await desk.slack.wait_for(
        lambda: bool(desk.slack.channel_messages(APPROVALS)), what="the card in #approvals"
    )
    found = REQUEST_ID.search(desk.slack.channel_messages(APPROVALS)[0].text)
    assert found is not None
    request_id = found.group(0)
    assert (await desk.get(request_id)).approval_ts is None

    await desk.click(request_id, user=APPROVER_1)
    done = await desk.wait_state(request_id, State.SUCCEEDED)
    assert done.approval_ts == desk.approval(request_id).ts  # learnt from the click
    answer.set()
    await desk.quiet()

    card = desk.approval(request_id)
    assert "*Succeeded*" in status_of(card)
    assert APPROVE not in button_ids(card)
    assert len(desk.thread(request_id)) == 1
    assert len(desk.dms_about(request_id)) == 1
    assert env_count(desk, "Early Click") == 1


# ── fault 9: the approvals channel refuses the card ─────────────────────────────────────────


async def test_a_card_posted_twice_is_taken_back_from_the_channel_and_a_second_try_only_logs(
    desk: Desk,
) -> None:
    """What the sweeper that lost the race for a card does with its own copy, through the
    real adapter: the message leaves the channel; one already gone is no error."""
    slack = SlackConversation(desk.messenger)
    posted = await slack.post(APPROVALS, Message(text="a second card", blocks=[]))
    assert [m.text for m in desk.slack.channel_messages(APPROVALS)] == ["a second card"]

    await slack.take_back(posted)
    assert desk.slack.channel_messages(APPROVALS) == []
    await slack.take_back(posted)  # message_not_found: logged, not raised


def listing_for(desk: Desk, user: str) -> RecordedMessage:
    """The last `/fp requests` answer ``user`` was shown."""
    return [m for m in desk.slack.ephemerals(user) if "Pending change requests" in m.text][-1]


async def test_a_card_the_channel_refuses_waits_in_requests_and_is_posted_once_it_can_be(
    desk: Desk,
) -> None:
    name = desk.slack.state.channels.pop(APPROVALS)  # the bot is not in #approvals (any more)
    receipt = await desk.command("envs create Orphan QA")
    found = REQUEST_ID.search(receipt)
    assert found is not None
    request_id = found.group(0)
    assert "could not be posted" in receipt and "channel_not_found" in receipt
    request = await desk.get(request_id)
    assert request.state is State.PENDING and request.card_error == "channel_not_found"

    await desk.command("requests", user=APPROVER_1, channel=OPS)
    listed = listing_for(desk, APPROVER_1)
    assert request_id in everything(listed)
    assert {APPROVE, DENY} <= set(button_ids(listed))
    await desk.command("requests", user=REQUESTER, channel=OPS)
    assert button_ids(listing_for(desk, REQUESTER)) == [CANCEL]

    desk.slack.state.channels[APPROVALS] = name  # someone invites the bot back
    move_clock(desk.workflow, timedelta(minutes=2))
    await desk.sweeper.sweep()
    posted = await desk.get(request_id)
    assert posted.approval_ts == desk.approval(request_id).ts and posted.card_error is None
    await desk.decide(request_id, user=APPROVER_1, approve=True)
    assert (await desk.settled(request_id)).state is State.SUCCEEDED
    assert env_count(desk, "Orphan QA") == 1


async def test_approve_from_requests_runs_a_change_whose_card_could_not_be_posted(
    desk: Desk,
) -> None:
    desk.slack.state.channels.pop(APPROVALS)
    receipt = await desk.command("envs create Listed QA")
    found = REQUEST_ID.search(receipt)
    assert found is not None
    request_id = found.group(0)

    await desk.command("requests", user=APPROVER_1, channel=OPS)
    response = await desk.replicas[0].driver.click(
        listing_for(desk, APPROVER_1), APPROVE, user=APPROVER_1
    )
    assert response.status == 200
    done = await desk.wait_state(request_id, State.SUCCEEDED)
    await desk.quiet()
    assert done.approval_ts is None  # an ephemeral listing is no card
    assert env_count(desk, "Listed QA") == 1
    await desk.slack.wait_for(lambda: bool(desk.dms_about(request_id)), what="the outcome DM")
