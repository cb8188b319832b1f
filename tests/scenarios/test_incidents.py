"""Incidents: alerts grouped by cause, whatever command met it, resolved when it clears.

A revoked Management API key fails every command that reads the account; the alerts channel
gets one card naming them, the people they failed for, the fix and who is on call, and the
card says "Resolved" once a call gets through again. The people who typed the commands are
told it failed, not how an operator fixes it.
"""

from __future__ import annotations

from sandbox.run import Sandbox, sample_policy_path
from tests.scenarios.bot_helpers import (
    ALERTS,
    AUDITOR,
    OPERATOR,
    VIEWER,
    fp,
    listing_in,
    reply_to,
    settled,
    visible,
)
from tests.scenarios.change_helpers import Desk
from tests.scenarios.conftest import StackFactory


def with_oncall() -> str:
    policy = sample_policy_path().read_text()
    assert "oncall:" in policy, "the sample policy names someone on call"
    return policy


async def test_a_revoked_key_across_three_commands_is_one_incident_resolved_when_it_works(
    make_stack: StackFactory,
) -> None:
    async with make_stack(policy=with_oncall()) as stack:
        stack.fingerprint.faults.revoked = True
        await fp(stack, "envs", user=VIEWER)
        await fp(stack, "keys", user=OPERATOR)
        await fp(stack, "webhooks", user=AUDITOR)
        await settled(stack)

        (card,) = stack.slack.channel_messages(ALERTS)
        shown = visible(card)
        assert "(3 times)" in card.text
        for command in ("/fp envs", "/fp keys", "/fp webhooks"):
            assert command in shown
        for person in (VIEWER, OPERATOR, AUDITOR):
            assert f"<@{person}>" in shown
        assert "FP_MANAGEMENT_API_KEY" in shown and "restart fpbot" in shown
        assert "<!subteam^" in shown or "<@U" in shown.split("On call:")[-1]
        for person in (VIEWER, OPERATOR, AUDITOR):
            reply = visible(await reply_to(stack, person))
            assert "rejected" in reply and "FP_MANAGEMENT_API_KEY" not in reply

        stack.fingerprint.faults.revoked = False
        await fp(stack, "envs", user=VIEWER)
        assert await listing_in(stack, "C0OPS", "Environments")
        await stack.slack.wait_for(
            lambda: "Resolved" in visible(stack.slack.channel_messages(ALERTS)[0]),
            10,
            what="the incident card edited to resolved",
        )
        (card,) = stack.slack.channel_messages(ALERTS)
        assert "Resolved at" in visible(card) and "FP_MANAGEMENT_API_KEY" not in visible(card)


async def test_a_change_that_fails_for_the_cause_keeps_its_card_linked_to_the_incident(
    stack: Sandbox,
) -> None:
    desk = Desk.of(stack)
    env_id = next(e.id for e in stack.fingerprint.workspace.environments.values())
    request_id = await desk.request(f"envs rename {env_id} Renamed by request")
    stack.fingerprint.faults.revoked = True
    await desk.decide(request_id, user="U0APPROVER1", approve=True)
    await desk.settled(request_id)

    alerts = stack.slack.channel_messages(ALERTS)
    incident = next(m for m in alerts if "incident" in m.text)
    card = next(m for m in alerts if m is not incident)
    assert request_id in visible(incident), "the incident counts the request"
    assert request_id in card.text and "Part of an incident" in visible(card)
