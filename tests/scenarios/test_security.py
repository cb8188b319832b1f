"""Who may do what, and what never leaks: default deny, the channel guard, user-group grants,
Slack's request signature, and a scan of every log line and every Slack message for secrets.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.log import Throttle, get_logger
from bot.render.ids import APPROVE
from bot.store import StoreUnavailable
from handlers.guard import REFUSAL_LOG_INTERVAL
from sandbox.run import BOT_TOKEN, SIGNING_SECRET, Sandbox
from sandbox.slack import DriverResponse, SlackDriver
from sandbox.slack.signing import sign
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

    assert "Ask an fpbot admin (<@U0OPERATOR>) to grant you a role" in help_text
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
    assert [c.method for c in stack.slack.calls()] == ["auth.test"], "only the start-up check"
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


# ── before anything is parsed ───────────────────────────────────────────────────────────

FORM = "application/x-www-form-urlencoded"
TIMESTAMP = "X-Slack-Request-Timestamp"
NOW = "now"  # stands for a fresh timestamp, computed when the request is sent
BY_ANOTHER_SECRET = "by another secret"  # stands for a signature made with the wrong secret


async def post_raw(stack: Sandbox, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST exactly these bytes and headers to the bot's Slack endpoint."""
    assert stack.bot is not None
    async with (
        aiohttp.ClientSession() as session,
        session.post(stack.bot.url + "/slack/events", data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


def signed_headers(body: bytes, content_type: str = FORM) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SIGNING_SECRET, stamp, body),
    }


def log_records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def refusals(buffer: io.StringIO) -> list[dict[str, Any]]:
    """The warning lines about refused Slack requests."""
    return [r for r in log_records(buffer) if r["event"] == "slack_request_refused"]


def assert_no_error_or_traceback(buffer: io.StringIO) -> None:
    noisy = [r for r in log_records(buffer) if r["level"] in ("error", "critical")]
    assert noisy == [], noisy
    assert "Traceback" not in buffer.getvalue()


UNSIGNED: dict[str, tuple[dict[str, str], bytes]] = {
    "no headers and a broken payload": ({}, b"payload=%7B"),
    "a timestamp that is not a number": (
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
        b"payload=%7B",
    ),
    "a timestamp with a sign": ({"X-Slack-Request-Timestamp": "+" + NOW}, b"command=%2Ffp"),
    "a fresh timestamp and no signature": ({"X-Slack-Request-Timestamp": NOW}, b"payload=%7B"),
    "a signature that is not hex": (
        {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=" + "zz" * 32},
        b"command=%2Ffp",
    ),
    "a body that is not UTF-8": (
        {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=" + "ab" * 32},
        b"\xff\xfe\x00payload",
    ),
    "a JSON body signed by another secret": (
        {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": NOW,
            "X-Slack-Signature": BY_ANOTHER_SECRET,
        },
        b'{"type": "event_callback", "team_id": "T0FPBOT"}',
    ),
}


@pytest.mark.parametrize("case", list(UNSIGNED))
async def test_an_unsigned_request_gets_401_before_its_body_is_parsed_and_one_warning_line(
    stack: Sandbox, log_buffer: io.StringIO, case: str
) -> None:
    headers, body = UNSIGNED[case]
    headers = {"Content-Type": FORM, **headers}
    if NOW in headers.get(TIMESTAMP, ""):
        headers[TIMESTAMP] = headers[TIMESTAMP].replace(NOW, str(int(time.time())))
    if headers.get("X-Slack-Signature") == BY_ANOTHER_SECRET:
        headers["X-Slack-Signature"] = sign("not-our-secret", headers[TIMESTAMP], body)

    status, _ = await post_raw(stack, body, headers)

    assert status == 401, case
    assert len(refusals(log_buffer)) == 1
    assert_no_error_or_traceback(log_buffer)
    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.messages() == []


async def test_a_flood_of_unsigned_requests_is_refused_in_a_few_log_lines_not_one_each(
    stack: Sandbox, log_buffer: io.StringIO
) -> None:
    headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": "abc"}
    started = time.monotonic()
    for _ in range(6):
        statuses = await asyncio.gather(
            *(post_raw(stack, b"payload=%7B", headers) for _ in range(50))
        )
        assert {status for status, _ in statuses} == {401}
    elapsed = time.monotonic() - started

    # One line at once, then at most one per interval carrying the count held back.
    assert 1 <= len(refusals(log_buffer)) <= 1 + elapsed / REFUSAL_LOG_INTERVAL
    assert_no_error_or_traceback(log_buffer)


def test_refusals_held_back_are_counted_in_the_next_line_that_goes_out(
    log_buffer: io.StringIO,
) -> None:
    now = [0.0]
    throttle = Throttle(10.0, clock=lambda: now[0])
    logger = get_logger("test")

    for second in range(25):  # one refusal a second, for 25 seconds
        now[0] = float(second)
        throttle.warning(logger, "slack_request_refused", key="bad signature")

    lines = refusals(log_buffer)
    assert len(lines) == 3, "at 0 s, 10 s and 20 s"
    assert [line.get("held_back") for line in lines] == [None, 9, 9]


UNREADABLE: dict[str, tuple[bytes, str]] = {
    "a payload that is not JSON": (b"payload=%7B", FORM),
    "a payload that is a JSON list": (b"payload=%5B1%2C2%5D", FORM),
    "a body that is not UTF-8": (b"command=%2Ffp&text=\xff\xfe", FORM),
    "a JSON body cut short": (b'{"type": "event_callback", "team_id": "T0', "application/json"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
async def test_a_signed_but_unreadable_body_gets_400_and_one_warning_line(
    stack: Sandbox, log_buffer: io.StringIO, case: str
) -> None:
    body, content_type = UNREADABLE[case]

    status, _ = await post_raw(stack, body, signed_headers(body, content_type))

    assert status == 400, case
    assert len(refusals(log_buffer)) == 1
    assert_no_error_or_traceback(log_buffer)
    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.messages() == []


# ── one workspace ───────────────────────────────────────────────────────────────────────

#: What the sandbox driver sends and the fake Slack's ``auth.test`` names: the bot's own.
OUR_TEAM, OUR_APP = "T0FPBOT", "A0FPBOT"


def driver_for(stack: Sandbox, **identity: str) -> SlackDriver:
    """A driver signing with the right secret but naming another workspace or app."""
    assert stack.bot is not None
    return SlackDriver(stack.slack, stack.bot.url + "/slack/events", SIGNING_SECRET, **identity)


async def nothing_stored(stack: Sandbox) -> bool:
    assert stack.bot is not None and stack.bot.services is not None
    store = stack.bot.services.store
    return await store.list_requests() == [] and await store.audit() == []


@pytest.mark.parametrize(
    "identity",
    [
        {"team_id": "T0EVIL"},
        {"api_app_id": "A0EVIL"},
        {"team_id": "T0EVIL", "api_app_id": "A0EVIL"},
    ],
    ids=["another workspace", "another app", "both"],
)
async def test_a_signed_command_from_another_workspace_or_app_is_refused_and_changes_nothing(
    stack: Sandbox, log_buffer: io.StringIO, identity: dict[str, str]
) -> None:
    async with driver_for(stack, **identity) as stranger:
        response = await stranger.command("envs create Evil Twin", user=OPERATOR, channel=OPS)

    assert response.status == 403
    assert len(refusals(log_buffer)) == 1
    assert_no_error_or_traceback(log_buffer)
    await settled(stack)
    assert api_calls(stack) == 0
    assert stack.slack.messages() == [] and stack.slack.calls("chat.postMessage") == []
    assert await nothing_stored(stack)


async def test_a_signed_click_from_another_workspace_is_refused_and_approves_nothing(
    stack: Sandbox,
) -> None:
    await fp(stack, "envs create Approved Elsewhere", user=OPERATOR)
    await stack.slack.wait_for(
        lambda: bool(stack.slack.channel_messages(APPROVALS)), WAIT, what="approval message"
    )
    (approval,) = stack.slack.channel_messages(APPROVALS)
    await settled(stack)
    calls = api_calls(stack)

    async with driver_for(stack, team_id="T0EVIL") as stranger:
        response = await stranger.click(approval, APPROVE, user=APPROVER)

    assert response.status == 403
    await settled(stack)
    assert api_calls(stack) == calls, "nothing ran"
    assert stack.slack.ephemerals(APPROVER) == []
    assert stack.bot is not None and stack.bot.services is not None
    (pending,) = await stack.bot.services.store.list_requests()
    assert pending.approvals == ()


async def test_a_signed_event_from_another_workspace_is_refused(
    stack: Sandbox, log_buffer: io.StringIO
) -> None:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0EVIL",
            "api_app_id": OUR_APP,
            "event_id": "Ev0EVIL",
            "event": {"type": "app_home_opened", "user": OPERATOR, "tab": "home"},
        }
    ).encode()

    status, _ = await post_raw(stack, body, signed_headers(body, "application/json"))

    assert status == 403
    assert [r["reason"] for r in refusals(log_buffer)] == ["another workspace"]


async def test_our_own_workspace_and_app_are_served(stack: Sandbox) -> None:
    async with driver_for(stack, team_id=OUR_TEAM, api_app_id=OUR_APP) as ours:
        response = await ours.command("whoami", user=VIEWER, channel=OPS)

    assert response.status == 200
    assert "viewer" in visible(await reply_to(stack, VIEWER))


# ── replays ─────────────────────────────────────────────────────────────────────────────


def command_body(stack: Sandbox, text: str, *, user: str, trigger_id: str) -> bytes:
    """A slash command's body as Slack sends it, with the given ``trigger_id``."""
    fields = {
        "token": "sandbox-verification-token",
        "team_id": OUR_TEAM,
        "team_domain": "fpbot-sandbox",
        "channel_id": OPS,
        "channel_name": "ops",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/fp",
        "text": text,
        "api_app_id": OUR_APP,
        "is_enterprise_install": "false",
        "response_url": stack.slack.new_response_url(OPS, user),
        "trigger_id": trigger_id,
    }
    return urlencode(fields).encode()


def replays(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in refusals(buffer) if r["reason"] == "already handled (replay)"]


async def test_the_same_signed_command_sent_twice_makes_one_change_request(
    stack: Sandbox, log_buffer: io.StringIO
) -> None:
    """A signature proves freshness, not one-time use: the second delivery of the very same
    bytes, inside the five minutes, is acknowledged and dropped."""
    body = command_body(stack, "envs create Made Twice", user=OPERATOR, trigger_id="111.222.aaa")
    headers = signed_headers(body)

    first = await post_raw(stack, body, headers)
    await stack.slack.wait_for(
        lambda: bool(stack.slack.channel_messages(APPROVALS)), WAIT, what="approval message"
    )
    second = await post_raw(stack, body, headers)
    await settled(stack)

    assert first[0] == second[0] == 200
    assert second[1] == "", "acknowledged with nothing to show"
    assert len(stack.slack.channel_messages(APPROVALS)) == 1
    assert stack.bot is not None and stack.bot.services is not None
    assert len(await stack.bot.services.store.list_requests()) == 1
    assert len(replays(log_buffer)) == 1
    assert_no_error_or_traceback(log_buffer)


async def test_a_click_delivered_twice_is_answered_once(stack: Sandbox) -> None:
    await fp(stack, "envs create Clicked Twice", user=OPERATOR)
    await stack.slack.wait_for(
        lambda: bool(stack.slack.channel_messages(APPROVALS)), WAIT, what="approval message"
    )
    (approval,) = stack.slack.channel_messages(APPROVALS)
    sent: list[bytes] = []
    assert stack.slack.driver is not None
    driver = stack.slack.driver
    original = driver.send

    async def send_twice(body: str, **kwargs: Any) -> DriverResponse:
        sent.append(body.encode())
        await original(body, **kwargs)
        return await original(body, **kwargs)

    driver.send = send_twice  # type: ignore[method-assign]
    try:
        response = await driver.click(approval, APPROVE, user=APPROVER)
    finally:
        driver.send = original  # type: ignore[method-assign]
    await settled(stack)

    assert response.status == 200 and response.body == ""
    assert len(sent) == 1
    thread = stack.slack.thread(APPROVALS, approval.ts)
    assert len([m for m in thread if "succeeded" in visible(m).lower()]) == 1
    assert stack.slack.ephemerals(APPROVER) == [], "no 'already decided' answer to a replay"


async def test_a_command_replayed_to_another_replica_is_handled_once(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    async with make_stack(database_url=shared) as one, make_stack(database_url=shared) as two:
        body = command_body(one, "envs create Two Replicas", user=OPERATOR, trigger_id="333.444")
        headers = signed_headers(body)

        statuses = [(await post_raw(replica, body, headers))[0] for replica in (one, two)]
        await settled(one)
        await settled(two)

        assert statuses == [200, 200]
        assert one.bot is not None and one.bot.services is not None
        assert len(await one.bot.services.store.list_requests()) == 1
        # Either may win: the claim is written beside the ack, so the first to arrive can
        # still be the second to claim. The other does nothing.
        spoke = [replica for replica in (one, two) if replica.slack.messages()]
        assert len(spoke) == 1, "one replica handled it, the other did nothing"


async def test_triggers_handled_over_an_hour_ago_are_forgotten_in_the_background(
    stack: Sandbox,
) -> None:
    assert stack.bot is not None and stack.bot.services is not None
    store = stack.bot.services.store
    now = datetime.now(UTC)
    await store.claim_triggers(["seen.two.hours.ago"], now - timedelta(hours=2))
    await store.claim_triggers(["seen.a.minute.ago"], now - timedelta(minutes=1))

    await fp(stack, "whoami", user=VIEWER)  # the first claim of this process reaps
    await settled(stack)

    claimed = await store.claim_triggers(["seen.two.hours.ago", "seen.a.minute.ago"], now)
    assert claimed == {"seen.two.hours.ago"}, "the older one forgotten, the recent one not"


@pytest.mark.parametrize(
    ("how", "logged"),
    [("hangs", "timeout"), ("refuses", "store failed (StoreUnavailable)")],
)
async def test_a_store_that_hangs_or_refuses_does_not_hold_up_the_ack_and_the_command_runs(
    stack: Sandbox, log_buffer: io.StringIO, how: str, logged: str
) -> None:
    """Failing open: a command that needs the store fails visibly later, when it needs it;
    refusing every command while the store is slow would fail them all, silently."""
    assert stack.bot is not None and stack.bot.services is not None
    store = stack.bot.services.store
    never = asyncio.Event()

    async def claim(trigger_ids: object, at: object) -> set[str]:
        if how == "refuses":
            raise StoreUnavailable("the database is unavailable: connection refused")
        await never.wait()
        return set()

    store.claim_triggers = claim  # type: ignore[method-assign]
    try:
        await fp(stack, "whoami", user=VIEWER)
        reply = visible(await reply_to(stack, VIEWER))
    finally:
        never.set()

    assert "viewer" in reply
    skipped = [r for r in log_records(log_buffer) if r["event"] == "replay_check_skipped"]
    assert [r["error"] for r in skipped] == [logged]


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
