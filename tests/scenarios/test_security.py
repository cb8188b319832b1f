"""Who may do what, and what never leaks: default deny, the channel guard, user-group grants,
Slack's request signature, and a scan of every log line and every Slack message for secrets.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from bot.render.ids import APPROVE
from sandbox.run import BOT_TOKEN, SIGNING_SECRET, Sandbox
from tests.scenarios.bot_helpers import (
    APPROVALS,
    APPROVER,
    ELSEWHERE,
    OPERATOR,
    OPS,
    STRANGER,
    VIEWER,
    WAIT,
    api_calls,
    everything_slack_saw,
    fp,
    reply_to,
    settled,
    visible,
)
from tests.scenarios.conftest import StackFactory

EVERY_COMMAND = [
    "envs",
    "envs create Intruder Env",
    "envs rename ae_abc123 Renamed",
    "envs delete ae_abc123",
    "keys",
    "keys --type secret",
    "keys create secret Stolen",
    "keys rename tok_abc123 Renamed",
    "keys disable tok_abc123",
    "keys delete tok_abc123",
    "keys rotate tok_abc123",
    "webhooks",
    "webhooks create https://attacker.example/hook",
    "webhooks delete wh_abc123",
    "requests",
    "audit",
]


# ── default deny ────────────────────────────────────────────────────────────────────────


async def test_someone_the_policy_does_not_know_is_refused_every_command_without_any_api_call(
    stack: Sandbox,
) -> None:
    for number, text in enumerate(EVERY_COMMAND, start=1):
        await fp(stack, text, user=STRANGER)
        refusal = visible(await reply_to(stack, STRANGER, count=number))
        assert "no fpbot roles" in refusal, f"/fp {text}: {refusal}"

    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.channel_messages(OPS) == []
    assert stack.slack.channel_messages(APPROVALS) == []
    assert all(m.ephemeral_for == STRANGER for m in stack.slack.messages())


async def test_someone_the_policy_does_not_know_may_still_ask_for_help_and_whoami(
    stack: Sandbox,
) -> None:
    await fp(stack, "help", user=STRANGER)
    help_text = visible(await reply_to(stack, STRANGER))
    await fp(stack, "whoami", user=STRANGER)
    whoami_text = visible(await reply_to(stack, STRANGER, count=2))

    assert "Ask an admin to grant you a role" in help_text
    assert "denies everything" in whoami_text
    assert api_calls(stack) == 0


async def test_a_viewer_is_refused_a_change_naming_the_permission_it_needs(stack: Sandbox) -> None:
    await fp(stack, "keys rotate tok_abc123", user=VIEWER)

    assert "`keys.rotate`" in visible(await reply_to(stack, VIEWER))
    assert api_calls(stack) == 0
    assert stack.slack.channel_messages(APPROVALS) == []


# ── the channel guard ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("text", ["envs", "keys --status enabled", "envs create Side Door"])
async def test_a_command_outside_the_command_channel_is_refused_with_a_link_to_it(
    stack: Sandbox, text: str
) -> None:
    await fp(stack, text, user=OPERATOR, channel=ELSEWHERE)

    refusal = await reply_to(stack, OPERATOR)
    assert refusal.channel == ELSEWHERE and refusal.ephemeral_for == OPERATOR
    assert "<#C0OPS>" in visible(refusal), "the allowed channel is a link, not escaped text"
    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.channel_messages(ELSEWHERE) == []


async def test_help_and_whoami_work_outside_the_command_channel(stack: Sandbox) -> None:
    await fp(stack, "whoami", user=OPERATOR, channel=ELSEWHERE)
    assert "operator, viewer" in visible(await reply_to(stack, OPERATOR))
    await fp(stack, "help keys", user=OPERATOR, channel=ELSEWHERE)
    topic_help = visible(await reply_to(stack, OPERATOR, count=2))
    assert "Your other commands work only in <#C0OPS>" in topic_help
    assert "Ask an admin" not in topic_help, "an operator has roles, just not here"
    assert api_calls(stack) == 0


# ── user-group grants ───────────────────────────────────────────────────────────────────


async def test_a_user_group_grant_gives_its_members_the_role_and_slack_is_asked_once(
    stack: Sandbox,
) -> None:
    await fp(stack, "whoami", user=APPROVER)
    first = visible(await reply_to(stack, APPROVER))
    await fp(stack, "requests", user=APPROVER)
    await reply_to(stack, APPROVER, count=2)

    assert "approver, viewer" in first and "`requests.approve`" in first
    lookups = stack.slack.calls("usergroups.users.list")
    assert [c.args.get("usergroup") for c in lookups] == ["S0APPROVERS"]
    assert all(c.ok for c in lookups)


async def test_someone_outside_the_user_group_does_not_get_its_role(stack: Sandbox) -> None:
    await fp(stack, "whoami", user=VIEWER)

    text = visible(await reply_to(stack, VIEWER))
    assert "approver" not in text and "`requests.approve`" not in text


# ── Slack's signature ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("how", "forge"),
    [
        ("a forged signature", {"signature": "v0=" + "0" * 64}),
        ("a signature by another secret", {"signature": "v0=" + "ab" * 32}),
        ("a timestamp six minutes old", {"timestamp": -6 * 60}),
        ("a timestamp six minutes ahead", {"timestamp": 6 * 60}),
    ],
)
async def test_a_request_with_a_bad_signature_or_stale_timestamp_gets_401_and_nothing_else(
    stack: Sandbox, log_buffer: io.StringIO, how: str, forge: dict[str, Any]
) -> None:
    assert stack.slack.driver is not None
    if "timestamp" in forge:  # an offset from now, signed correctly for that moment
        forge = {"timestamp": int(time.time()) + forge["timestamp"]}
    response = await stack.slack.driver.command("envs", user=OPERATOR, channel=OPS, **forge)

    assert response.status == 401, how
    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.messages() == []
    assert stack.slack.calls() == []
    # Bolt logs a refused body; its live response_url must not be in the log.
    assert "/response/R" not in log_buffer.getvalue()


async def test_a_replayed_request_inside_the_window_is_accepted_but_changes_nothing_twice(
    stack: Sandbox,
) -> None:
    """A signature proves freshness, not one-time use: a replayed listing is just a listing."""
    assert stack.slack.driver is not None
    stamp = int(time.time()) - 60
    for _ in range(2):
        response = await stack.slack.driver.command(
            "envs", user=VIEWER, channel=OPS, timestamp=stamp
        )
        assert response.status == 200
    await settled(stack)
    assert len([m for m in stack.slack.channel_messages(OPS) if "Environments" in m.text]) == 2


# ── secrets ─────────────────────────────────────────────────────────────────────────────


async def test_no_secret_appears_in_any_log_line_or_slack_message(
    make_stack: StackFactory, log_buffer: io.StringIO
) -> None:
    """The bot token, signing secret, Management API key and a freshly created secret key's
    token appear nowhere — except the token, once, in the requester's direct message."""
    async with make_stack(fp_retry_budget=0.5, fp_timeout=1) as stack:
        assert stack.slack.driver is not None
        await fp(stack, "envs", user=VIEWER)
        await fp(stack, "keys", user=VIEWER)
        await fp(stack, "webhooks", user=VIEWER)
        await fp(stack, "keys --bogus", user=VIEWER)
        await stack.slack.driver.command("keys", user=VIEWER, channel=OPS, signature="v0=bad")
        await settled(stack)

        await fp(stack, 'keys create secret "Scan key"', user=OPERATOR)
        await stack.slack.wait_for(
            lambda: bool(stack.slack.channel_messages(APPROVALS)), WAIT, what="approval message"
        )
        (approval,) = stack.slack.channel_messages(APPROVALS)
        await stack.slack.driver.click(approval, APPROVE, user=APPROVER)
        await stack.slack.wait_for(
            lambda: any("New secret key token" in visible(m) for m in stack.slack.dms(OPERATOR)),
            WAIT,
            what="the new token delivered to the requester",
        )
        await settled(stack)

        stack.fingerprint.faults.revoked = True
        await fp(stack, "keys --type secret", user=VIEWER)
        await settled(stack)

        created = next(
            k for k in stack.fingerprint.workspace.api_keys.values() if k.name == "Scan key"
        )
        logs = log_buffer.getvalue()
        slack = everything_slack_saw(stack)
        assert logs and slack
        for name, secret in [
            ("the bot token", BOT_TOKEN),
            ("the signing secret", SIGNING_SECRET),
            ("the Management API key", stack.api.key),
            ("the created token", created.token),
        ]:
            assert secret not in logs, f"{name} is in the logs"
            if secret != created.token:
                assert secret not in slack, f"{name} reached Slack"
        (delivery,) = [m for m in stack.slack.messages() if created.token in visible(m)]
        assert delivery.channel == stack.slack.dm_channel(OPERATOR)
        assert created.token not in delivery.text, "not in the notification preview"
        outside = [m for m in stack.slack.messages() if m is not delivery]
        assert all(created.token not in visible(m) for m in outside)
        for seeded in stack.fingerprint.workspace.api_keys.values():
            if seeded is not created:
                assert seeded.token not in slack and seeded.token not in logs
