"""The read commands of ``/fp``, end to end: signed requests into the running bot, answers read
back from the fake Slack, and the stand-in Management API's request log as the proof of what
the bot asked for.
"""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import UsageError, parse
from sandbox.run import Sandbox, sample_policy_path
from tests.scenarios.bot_helpers import (
    APPROVER,
    AUDITOR,
    ELSEWHERE,
    OPERATOR,
    OPS,
    STRANGER,
    VIEWER,
    api_calls,
    assert_acked_at_once,
    fp,
    joined,
    listing_in,
    reply_to,
    settled,
    visible,
)
from tests.scenarios.conftest import BOTH_VERSIONS, StackFactory

#: Every scenario here runs under both Management API versions.
pytestmark = BOTH_VERSIONS

ENV_ID = re.compile(r"`(ae_[A-Za-z0-9]+)`")
KEY_ID = re.compile(r"`(tok_[A-Za-z0-9]+)`")
HOOK_ID = re.compile(r"`(wh_[A-Za-z0-9]+)`")
REQUEST_ID = re.compile(r"CR-[0-9A-Z]{6}")


def _commands_in_help(text: str) -> set[str]:
    return set(re.findall(r"`/fp ([a-z]+(?: [a-z|]+)?)", text))


# ── help and whoami ─────────────────────────────────────────────────────────────────────


async def test_help_shows_a_viewer_only_the_listings_and_an_operator_the_changes_too(
    stack: Sandbox,
) -> None:
    await fp(stack, "help", user=VIEWER)
    await fp(stack, "", user=OPERATOR)

    viewer_help = visible(await reply_to(stack, VIEWER))
    operator_help = visible(await reply_to(stack, OPERATOR))
    viewer_commands = _commands_in_help(viewer_help)
    operator_commands = _commands_in_help(operator_help)
    assert {"help", "whoami", "envs", "keys", "webhooks", "requests"} <= viewer_commands
    assert not any(
        word in c for c in viewer_commands for word in ("create", "delete", "rotate", "rename")
    )
    assert {"envs create", "envs delete", "keys rotate", "webhooks create"} <= operator_commands
    assert "audit" not in viewer_commands | operator_commands
    assert api_calls(stack) == 0


async def test_help_offers_only_the_commands_of_the_api_version_fpbot_speaks(
    stack: Sandbox, api_version: str
) -> None:
    await fp(stack, "help", user=OPERATOR)
    help_text = visible(await reply_to(stack, OPERATOR))
    commands = _commands_in_help(help_text)
    assert {"rules", "rules add", "rules remove", "envs limit", "keys rotate"} <= commands
    if api_version == "2024-05-20":
        assert not {"enckeys", "subdomains", "rules move"} & commands
        assert "allow|deny &lt;origin&gt;" in help_text and "&lt;expression&gt;" not in help_text
    else:
        assert {"enckeys", "enckeys rotate", "subdomains create", "rules move"} <= commands
        assert "&lt;expression&gt;" in help_text and "allow|deny <origin>" not in help_text


async def test_help_outside_the_command_channel_lists_only_what_works_there(
    stack: Sandbox,
) -> None:
    await fp(stack, "help", user=OPERATOR, channel=ELSEWHERE)

    text = visible(await reply_to(stack, OPERATOR))
    assert _commands_in_help(text) == {"help", "whoami", "requests", "requests cancel"}
    assert "Your other commands work only in <#C0OPS>" in text


async def test_whoami_tells_the_caller_their_roles_and_permissions_privately(
    stack: Sandbox,
) -> None:
    await fp(stack, "whoami", user=OPERATOR)

    reply = await reply_to(stack, OPERATOR)
    assert reply.ephemeral_for == OPERATOR
    text = visible(reply)
    assert "<@U0OPERATOR>" in text and "operator, viewer" in text
    assert "`envs.delete`" in text and "`keys.rotate`" in text
    assert "`audit.read`" not in text
    assert api_calls(stack) == 0


# ── listings ────────────────────────────────────────────────────────────────────────────


async def test_envs_posts_every_environment_once_to_the_channel(stack: Sandbox) -> None:
    await fp(stack, "envs", user=VIEWER)

    messages = await listing_in(stack, OPS, "Environments")
    assert messages and all(m.ephemeral_for is None for m in messages)
    shown = ENV_ID.findall(joined(messages))
    assert sorted(shown) == sorted(stack.fingerprint.workspace.environments)
    assert stack.fingerprint.count("GET", "/environments") == 1
    assert stack.slack.ephemerals(VIEWER) == []
    assert stack.slack.violations == []


async def test_a_listing_of_120_environments_is_complete_in_order_and_within_slack_limits(
    make_stack: StackFactory,
) -> None:
    async with make_stack(environments=120) as stack:
        await fp(stack, "envs", user=VIEWER)
        messages = await listing_in(stack, OPS, "Environments")

        assert len(messages) > 1, "120 environments do not fit one message"
        shown = ENV_ID.findall(joined(messages))
        envs = stack.fingerprint.workspace.environments.values()
        by_name = sorted(envs, key=lambda e: (e.name.casefold(), e.name, e.id))
        assert shown == [e.id for e in by_name], "every id exactly once, in name order"
        assert [m.ts for m in messages] == sorted(m.ts for m in messages)
        assert [m.text for m in messages[1:]] == [
            f"Environments (120) (continued, {n}/{len(messages)})"
            for n in range(2, len(messages) + 1)
        ]
        assert stack.slack.violations == []


async def test_a_listing_longer_than_a_response_url_takes_continues_in_the_channel_in_order(
    make_stack: StackFactory,
) -> None:
    """Seven pages of environments (1.4 s at least): "Fetching…" first, replaced by the first
    part; the parts a ``response_url`` cannot take (five posts at most) go through the Web API.
    """
    async with make_stack(environments=700, api_latency=0.2) as stack:
        await fp(stack, "envs", user=VIEWER)
        messages = await listing_in(stack, OPS, "Environments")

        total = len(messages)
        assert total > 5
        assert messages[0].edited == 1 and messages[0].via == "api", "the placeholder, replaced"
        assert [m.text for m in messages[1:]] == [
            f"Environments (700) (continued, {n}/{total})" for n in range(2, total + 1)
        ]
        shown = ENV_ID.findall(joined(messages))
        assert len(shown) == len(set(shown)) == 700
        assert stack.fingerprint.count("GET", "/environments") == 7
        assert stack.slack.violations == [], "no response_url was used more than five times"


async def test_twenty_people_listing_at_once_are_all_answered_from_one_walk_of_the_api(
    stack: Sandbox,
) -> None:
    assert stack.slack.driver is not None
    driver = stack.slack.driver
    responses = await asyncio.gather(
        *(driver.command("envs", user=VIEWER, channel=OPS) for _ in range(20))
    )

    for response in responses:
        assert_acked_at_once(response)
    await settled(stack)
    listings = [m for m in stack.slack.channel_messages(OPS) if m.text == "Environments (32)"]
    assert len(listings) == 20
    assert stack.fingerprint.count("GET", "/environments") == 1


async def test_a_slow_listing_shows_fetching_first_and_the_result_replaces_it_in_place(
    make_stack: StackFactory,
) -> None:
    async with make_stack(api_latency=1.5) as stack:
        await fp(stack, "envs", user=VIEWER)
        await stack.slack.wait_for(
            lambda: any("Fetching" in m.text for m in stack.slack.channel_messages(OPS)),
            what="the Fetching… placeholder",
        )
        (placeholder,) = stack.slack.channel_messages(OPS)
        assert placeholder.text == "Fetching environments…"

        await settled(stack)
        (listing,) = stack.slack.channel_messages(OPS)
        assert listing is placeholder and listing.edited == 1
        assert listing.text == "Environments (32)"
        assert sorted(ENV_ID.findall(visible(listing))) == sorted(
            stack.fingerprint.workspace.environments
        )
        assert stack.slack.violations == []


async def test_a_slow_listing_where_the_bot_may_not_post_still_arrives_through_the_response_url(
    make_stack: StackFactory,
) -> None:
    anywhere = sample_policy_path().read_text().replace("commands: [C0OPS]", "commands: []")
    async with make_stack(policy=anywhere, api_latency=1.2) as stack:
        await fp(stack, "envs", user=VIEWER, channel="C0PRIVATE")
        messages = await listing_in(stack, "C0PRIVATE", "Environments")

        (listing,) = messages
        assert listing.via == "response_url" and listing.ephemeral_for is None
        refused = stack.slack.calls("chat.postMessage")
        assert [c.error for c in refused] == ["channel_not_found"], "the placeholder was tried"
        assert stack.slack.violations == []


async def test_a_long_listing_in_a_channel_the_bot_is_not_in_loses_nothing_and_says_why(
    make_stack: StackFactory,
) -> None:
    """Several parts; the ``response_url`` takes four (one kept in reserve) and the bot may not
    post the rest to the channel: they reach the person by DM, and the reserved post tells
    them what is missing from the channel and that @fpbot must be invited."""
    anywhere = sample_policy_path().read_text().replace("commands: [C0OPS]", "commands: []")
    async with make_stack(policy=anywhere, environments=700) as stack:
        await fp(stack, "envs", user=VIEWER, channel="C0PRIVATE")
        in_channel = await listing_in(stack, "C0PRIVATE", "Environments")

        dms = [m for m in stack.slack.dms(VIEWER) if m.text.startswith("Environments")]
        total = len(in_channel) + len(dms)
        assert len(in_channel) == 4 and total > 5
        assert all(m.via == "response_url" and m.ephemeral_for is None for m in in_channel)
        assert [m.text for m in dms] == [
            f"Environments (700) (continued, {n}/{total})" for n in range(5, total + 1)
        ], "the rest, in order"
        shown = ENV_ID.findall(joined([*in_channel, *dms]))
        assert len(shown) == len(set(shown)) == 700, "nothing dropped, nothing doubled"

        (notice,) = stack.slack.ephemerals(VIEWER)
        text = visible(notice)
        assert "incomplete" in text and f"{total - 4} of its {total} messages" in text
        assert "direct message" in text and "/invite @fpbot" in text
        assert "Something went wrong" not in text
        assert stack.slack.violations == [], "the response_url was used five times at most"


async def test_when_the_rest_of_a_listing_cannot_be_sent_anywhere_the_person_is_told_how_much(
    make_stack: StackFactory,
) -> None:
    anywhere = sample_policy_path().read_text().replace("commands: [C0OPS]", "commands: []")
    async with make_stack(policy=anywhere, environments=700) as stack:
        stack.slack.faults.fail_dm = True
        await fp(stack, "envs", user=VIEWER, channel="C0PRIVATE")
        in_channel = await listing_in(stack, "C0PRIVATE", "Environments")

        total = int(in_channel[-1].text.rsplit("/", 1)[1].rstrip(")"))
        (notice,) = stack.slack.ephemerals(VIEWER)
        text = visible(notice)
        assert f"{total - len(in_channel)} of its {total} messages" in text
        assert "direct message either" in text and "/invite @fpbot" in text
        assert stack.slack.violations == []


async def test_keys_lists_every_key_by_environment_name_and_never_shows_a_token(
    stack: Sandbox,
) -> None:
    await fp(stack, "keys", user=VIEWER)

    messages = await listing_in(stack, OPS, "API keys")
    text = joined(messages)
    workspace = stack.fingerprint.workspace
    assert sorted(KEY_ID.findall(text)) == sorted(workspace.api_keys)
    assert ENV_ID.findall(text) == [], "environments are named, not shown as ids"
    for key in workspace.api_keys.values():
        line = next(line for line in text.splitlines() if key.id in line)
        if key.environment is not None:
            assert workspace.environments[key.environment].name in line
        else:
            assert "workspace-wide" in line
    everything = "\n".join(visible(m) for m in stack.slack.messages())
    for key in workspace.api_keys.values():
        assert key.token not in everything, f"the token of {key.type} key {key.id} was shown"


@pytest.mark.parametrize(
    ("option", "query"),
    [
        ("--type secret", {"type": "secret"}),
        ("--status disabled", {"status": "disabled"}),
        ("--env {env}", {"environment": "{env}"}),
        (
            "--type public --status enabled --env {env}",
            {"type": "public", "status": "enabled", "environment": "{env}"},
        ),
    ],
    ids=["type", "status", "env", "all-three"],
)
async def test_keys_with_a_filter_lists_exactly_the_matching_keys(
    stack: Sandbox, option: str, query: dict[str, str]
) -> None:
    workspace = stack.fingerprint.workspace
    production = next(e for e in workspace.environments.values() if e.name == "Production")
    wanted = {name: value.format(env=production.id) for name, value in query.items()}

    await fp(stack, "keys " + option.format(env=production.id), user=OPERATOR)

    messages = await listing_in(stack, OPS, "API keys")
    expected = sorted(
        key.id
        for key in workspace.api_keys.values()
        if all(getattr(key, name) == value for name, value in wanted.items())
    )
    assert expected, "the seed has keys for every filter"
    assert sorted(KEY_ID.findall(joined(messages))) == expected
    (sent,) = [r.query for r in stack.fingerprint.requests if r.path == "/api-keys"]
    assert {name: sent.get(name) for name in wanted} == wanted, "the API did the filtering"
    if "environment" in wanted:
        assert "Production" in visible(messages[0]), "the filter names the environment"
        assert production.id not in joined(messages)


async def test_webhooks_lists_every_webhook_and_never_a_signing_key(stack: Sandbox) -> None:
    await fp(stack, "webhooks", user=VIEWER)

    messages = await listing_in(stack, OPS, "Webhooks")
    text = joined(messages)
    hooks = stack.fingerprint.workspace.webhooks.values()
    assert sorted(HOOK_ID.findall(text)) == sorted(h.id for h in hooks)
    assert "Production" in text and "Staging" in text
    for hook in hooks:
        assert hook.signing_key not in text


# ── requests and audit ──────────────────────────────────────────────────────────────────


async def test_requests_shows_a_pending_request_to_its_requester_and_approvers_only(
    stack: Sandbox,
) -> None:
    await fp(stack, "envs create Scenario Sandbox", user=OPERATOR)
    created = visible(await reply_to(stack, OPERATOR))
    match = REQUEST_ID.search(created)
    assert match, created
    request_id = match.group()
    calls_before = api_calls(stack)

    for user in (OPERATOR, APPROVER, VIEWER):
        await fp(stack, "requests", user=user)
    operator_sees = visible(await reply_to(stack, OPERATOR, count=2))
    approver_sees = visible(await reply_to(stack, APPROVER))
    viewer_sees = visible(await reply_to(stack, VIEWER))

    assert request_id in operator_sees and "Scenario Sandbox" in operator_sees
    assert request_id in approver_sees
    assert request_id not in viewer_sees and "No pending change requests" in viewer_sees
    assert api_calls(stack) == calls_before, "requests come from the store, not the API"


async def test_audit_shows_the_trail_to_an_auditor_and_refuses_everyone_else(
    stack: Sandbox,
) -> None:
    await fp(stack, "envs create Audited Env", user=OPERATOR)
    await reply_to(stack, OPERATOR)
    calls_before = api_calls(stack)

    await fp(stack, "audit 5", user=AUDITOR)
    await fp(stack, "audit", user=OPERATOR)

    trail = await reply_to(stack, AUDITOR)
    assert trail.ephemeral_for == AUDITOR
    assert "Audit trail" in visible(trail) and "<@U0OPERATOR>" in visible(trail)
    refusal = visible(await reply_to(stack, OPERATOR, count=2))
    assert "`audit.read`" in refusal
    assert api_calls(stack) == calls_before
    assert stack.slack.channel_messages(OPS) == []


# ── wrong input ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("envs bogus", "no command “envs bogus”", "/fp envs create &lt;name&gt;"),
        ("keys --type banana", "“banana” is not a key type", "/fp keys [--env"),
        ('envs create "Staging EU --description x', "never closed", "/fp envs create"),
        ("audit 500", "between 1 and 100", "/fp audit [N]"),
        ("envs delete tok_abc", "is a key id", "/fp envs delete &lt;env_id&gt;"),
        ("whoami please", "unexpected “please”", "/fp whoami"),
        ("deploy prod", "no command “deploy”", "/fp help [topic]"),
        ("envs create " + "x" * 4000, "4012 characters long; at most 4000", "/fp help"),
    ],
)
async def test_wrong_input_gets_the_problem_and_usage_in_the_ack_and_nothing_else_happens(
    stack: Sandbox, text: str, problem: str, usage: str
) -> None:
    response = await fp(stack, text, user=OPERATOR)

    assert response.body["response_type"] == "ephemeral"
    (reply,) = stack.slack.ephemerals(OPERATOR)
    assert reply.via == "ack"
    assert problem in visible(reply)
    assert f"`{usage}" in visible(reply)
    await settled(stack)
    assert api_calls(stack) == 0
    assert [m.via for m in stack.slack.messages()] == ["ack"]
    assert [c.method for c in stack.slack.calls()] == ["auth.test"]


async def test_a_wrong_group_command_shows_every_form_of_that_group_one_per_line(
    stack: Sandbox,
) -> None:
    await fp(stack, "keys frobnicate", user=OPERATOR)

    text = visible(stack.slack.ephemerals(OPERATOR)[0])
    usage_lines = [line for line in text.splitlines() if line.startswith("`/fp keys")]
    assert len(usage_lines) >= 6, text


# ── anything at all ─────────────────────────────────────────────────────────────────────

_WORDS = st.sampled_from(
    ["envs", "keys", "webhooks", "create", "delete", "rotate", "--env", "--type", "audit", "help"]
)
VIEWER_LISTS = ("envs.list", "keys.list", "webhooks.list")
_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=6).map(" ".join),
    st.text(alphabet="\"'\u201c\u201d\u2018\u2019<>&|`\u2014\u2013- \t\n", max_size=20),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_TEXT, user=st.sampled_from([VIEWER, OPERATOR, STRANGER]))
async def test_any_text_is_acknowledged_at_once_and_unusable_or_refused_text_never_reaches_the_api(
    stack: Sandbox, log_buffer: io.StringIO, text: str, user: str
) -> None:
    try:
        command = parse(text)
    except UsageError:
        command = None
    # The operator types in a channel where only help and whoami work; the stranger may do
    # nothing; the viewer may list.
    channel = ELSEWHERE if user == OPERATOR else OPS
    may_call_api = user == VIEWER and getattr(command, "permission", None) in VIEWER_LISTS
    before = api_calls(stack)

    response = await fp(stack, text, user=user, channel=channel)
    await settled(stack)

    if command is None:
        assert response.body["response_type"] == "ephemeral", "a usage error, in the ack"
    if not may_call_api:
        assert api_calls(stack) == before, f"/fp {text!r} by {user} reached the API"
    assert stack.slack.violations == []
    logs = log_buffer.getvalue()
    assert '"command_failed"' not in logs and '"background_task_failed"' not in logs
