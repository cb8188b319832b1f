"""The fake Slack answers slack_sdk and Bolt the way Slack does, and records what it was asked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from sandbox.slack import FakeSlack, RecordedMessage, SlackDriver

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
USERS = {
    "U0ALICE": {"name": "alice", "real_name": "Alice Martin", "tz": "Europe/Paris"},
    "W0BOB": {"name": "bob", "real_name": "Bob Chen", "tz": "America/New_York"},
}
GROUPS = {"S0LEADS": ["U0ALICE", "W0BOB"]}
CHANNELS = {"C0OPS": "ops", "C0APPROVALS": "approvals", "C0ALERTS": "alerts"}

APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Create key* `ci`"}},
    {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "action_id": "approve_request",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "cr_1",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "deny_request",
                "text": {"type": "plain_text", "text": "Deny"},
                "value": "cr_1",
                "style": "danger",
            },
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=TOKEN, users=USERS, usergroups=GROUPS, channels=CHANNELS) as f:
        f.faults.retry_after = 0
        yield f


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    web_client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    yield web_client


async def post_approval(client: AsyncWebClient, fake: FakeSlack) -> RecordedMessage:
    answer = await client.chat_postMessage(
        channel="C0APPROVALS", text="Approval needed", blocks=APPROVAL_BLOCKS
    )
    found = fake.message("C0APPROVALS", answer["ts"])
    assert found is not None
    return found


# -- Web API ---------------------------------------------------------------------------------


async def test_auth_test_answers_for_the_configured_token_only(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.auth_test()
    assert answer["ok"] and answer["team_id"] == "T0FPBOT" and answer["bot_id"]
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.api_url).auth_test()
    assert missing.value.response["error"] == "not_authed"


async def test_an_unknown_method_answers_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.api_call("chat.teleport", json={"channel": "C0OPS"})
    assert refused.value.response["error"] == "unknown_method"


async def test_post_message_records_it_with_increasing_ts(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C0OPS", text="one")
    second = await client.chat_postMessage(channel="C0OPS", text="two", thread_ts=first["ts"])
    assert first["ts"] == "1700000000.000100" and first["message"]["ts"] == first["ts"]
    assert float(second["ts"]) > float(first["ts"])
    assert [m.text for m in fake.channel_messages("C0OPS")] == ["one", "two"]
    assert [m.text for m in fake.thread("C0OPS", first["ts"])] == ["two"]
    call = fake.calls("chat.postMessage")[0]
    assert call.args["channel"] == "C0OPS" and call.ok
    assert fake.messages()[0].via == "api" and fake.violations == []


async def test_slack_fills_in_missing_block_ids(fake: FakeSlack, client: AsyncWebClient) -> None:
    message = await post_approval(client, fake)
    assert message.blocks[0]["block_id"] and message.blocks[1]["block_id"] == "decision"


async def test_posting_to_an_unknown_channel_is_channel_not_found(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0NOWHERE", text="hi")
    assert refused.value.response["error"] == "channel_not_found"


async def test_a_form_encoded_call_with_json_blocks_works(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C0OPS", "text": "form", "blocks": json.dumps(APPROVAL_BLOCKS)},
    )
    assert fake.channel_messages("C0OPS")[0].blocks[1]["elements"][0]["value"] == "cr_1"


async def test_a_message_over_the_limits_is_refused_and_recorded(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0OPS", text="too long", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["response_metadata"]["messages"]
    assert fake.messages() == []
    assert len(fake.violations) == 1 and "chat.postMessage to C0OPS" in fake.violations[0]


async def test_blocks_without_fallback_text_are_a_violation(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError), pytest.warns(UserWarning, match="text"):
        await client.chat_postMessage(channel="C0OPS", blocks=APPROVAL_BLOCKS)
    assert "fallback" in fake.violations[0]


async def test_post_ephemeral_answers_message_ts_not_ts(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.chat_postEphemeral(channel="C0OPS", user="U0ALICE", text="psst")
    assert "message_ts" in answer.data and "ts" not in answer.data
    (whisper,) = fake.ephemerals("U0ALICE")
    assert whisper.text == "psst" and whisper.ts == answer["message_ts"]
    assert fake.channel_messages("C0OPS") == []
    assert fake.messages(include_ephemeral=False) == []


async def test_chat_update_edits_in_place_and_counts_edits(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    message = await post_approval(client, fake)
    answer = await client.chat_update(
        channel="C0APPROVALS", ts=message.ts, text="Approved by Alice", blocks=[]
    )
    assert answer["ts"] == message.ts and answer["text"] == "Approved by Alice"
    assert message.edited == 1 and message.blocks == [] and message.text == "Approved by Alice"


async def test_chat_update_cannot_touch_an_ephemeral_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    answer = await client.chat_postEphemeral(channel="C0OPS", user="U0ALICE", text="psst")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_update(channel="C0OPS", ts=answer["message_ts"], text="edited")
    assert refused.value.response["error"] == "message_not_found"


async def test_conversations_open_gives_each_user_a_stable_dm(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users="U0ALICE")
    again = await client.api_call("conversations.open", json={"users": "U0ALICE"})
    assert opened["channel"] == {"id": again["channel"]["id"]}
    assert opened["channel"]["id"].startswith("D")
    await client.chat_postMessage(channel=opened["channel"]["id"], text="your secret")
    assert [m.text for m in fake.dms("U0ALICE")] == ["your secret"]
    assert fake.dms("W0BOB") == []


async def test_usergroup_members_mix_u_and_w_ids(client: AsyncWebClient) -> None:
    answer = await client.usergroups_users_list(usergroup="S0LEADS")
    assert answer["users"] == ["U0ALICE", "W0BOB"]
    with pytest.raises(SlackApiError) as refused:
        await client.usergroups_users_list(usergroup="S0NOBODY")
    assert refused.value.response["error"] == "no_such_subteam"


async def test_users_info_has_time_zone_and_real_name(client: AsyncWebClient) -> None:
    user = (await client.users_info(user="W0BOB"))["user"]
    assert user["real_name"] == "Bob Chen" and user["tz"] == "America/New_York"
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    with pytest.raises(SlackApiError) as refused:
        await client.users_info(user="U0GHOST")
    assert refused.value.response["error"] == "user_not_found"


async def test_views_open_spends_its_trigger_id_once(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Request"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    trigger = fake.new_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=view)
    assert opened["view"]["id"].startswith("V")
    with pytest.raises(SlackApiError) as reused:
        await client.views_open(trigger_id=trigger, view=view)
    assert reused.value.response["error"] == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as invented:
        await client.views_open(trigger_id="1.2.3", view=view)
    assert invented.value.response["error"] == "invalid_trigger_id"
    assert [v.kind for v in fake.views] == ["modal"]


async def test_views_publish_checks_the_home_tab(fake: FakeSlack, client: AsyncWebClient) -> None:
    dividers = [{"type": "divider"}] * 100
    await client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": dividers})
    with pytest.raises(SlackApiError) as refused:
        await client.views_publish(
            user_id="U0ALICE", view={"type": "home", "blocks": dividers + dividers}
        )
    assert refused.value.response["error"] == "invalid_arguments"
    assert fake.violations and fake.views[0].user == "U0ALICE"


# -- faults ----------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack) -> None:
    fake.faults.retry_after = 1
    fake.faults.rate_limit_next = 1
    with pytest.raises(SlackApiError) as limited:
        await AsyncWebClient(token=TOKEN, base_url=fake.api_url).auth_test()
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "1"


async def test_the_rate_limit_retry_handler_recovers(fake: FakeSlack) -> None:
    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    fake.faults.rate_limit_next = 1
    answer = await retrying.chat_postMessage(channel="C0OPS", text="eventually")
    assert answer["ok"]
    assert [c.error for c in fake.calls("chat.postMessage")] == ["ratelimited", None]
    assert len(fake.channel_messages("C0OPS")) == 1


async def test_server_error_is_an_html_page(fake: FakeSlack) -> None:
    fake.faults.server_error_next = 1
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.api_url}auth.test", headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        assert r.status == 500 and r.content_type == "text/html"
        assert "Server Error | Slack" in await r.text()
    with pytest.raises(SlackApiError) as failed:
        fake.faults.server_error_next = 1
        await AsyncWebClient(token=TOKEN, base_url=fake.api_url).auth_test()
    assert failed.value.response.status_code == 500
    assert (await AsyncWebClient(token=TOKEN, base_url=fake.api_url).auth_test())["ok"]


async def test_fail_dm_refuses_direct_messages(fake: FakeSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users="U0ALICE"))["channel"]["id"]
    fake.faults.fail_dm = True
    with pytest.raises(SlackApiError) as not_opened:
        await client.conversations_open(users="U0ALICE")
    assert not_opened.value.response["error"] == "cannot_dm_bot"
    with pytest.raises(SlackApiError) as not_posted:
        await client.chat_postMessage(channel=dm, text="secret")
    assert not_posted.value.response["error"] == "cannot_dm_bot"
    assert fake.dms("U0ALICE") == []
    await client.chat_postMessage(channel="C0OPS", text="channels still work")


# -- response_url ----------------------------------------------------------------------------


async def respond(url: str, **payload: Any) -> tuple[int, str]:
    response = await AsyncWebhookClient(url).send_dict(payload)
    return response.status_code, response.body


async def test_a_response_is_ephemeral_unless_in_channel(fake: FakeSlack) -> None:
    url = fake.new_response_url("C0OPS", "U0ALICE")
    assert (await respond(url, text="only you"))[0] == 200
    assert (await respond(url, text="everyone", response_type="in_channel"))[0] == 200
    assert [m.text for m in fake.ephemerals("U0ALICE")] == ["only you"]
    assert [m.text for m in fake.channel_messages("C0OPS")] == ["everyone"]
    assert {m.via for m in fake.messages()} == {"response_url"}


async def test_replace_original_edits_the_clicked_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    message = await post_approval(client, fake)
    url = fake.new_response_url("C0APPROVALS", "W0BOB", source_ts=message.ts)
    await respond(url, text="Approved by Bob", replace_original=True)
    assert message.text == "Approved by Bob" and message.edited == 1 and message.blocks == []
    assert message.ephemeral_for is None
    await respond(url, text="You may not approve", replace_original=False)
    assert [m.text for m in fake.ephemerals("W0BOB")] == ["You may not approve"]
    assert message.text == "Approved by Bob"


async def test_a_command_url_replaces_its_last_ephemeral(fake: FakeSlack) -> None:
    url = fake.new_response_url("C0OPS", "U0ALICE")
    await respond(url, text="working…")
    await respond(url, text="done", replace_original=True)
    (reply,) = fake.ephemerals("U0ALICE")
    assert reply.text == "done" and reply.edited == 1


async def test_delete_original_deletes(fake: FakeSlack, client: AsyncWebClient) -> None:
    message = await post_approval(client, fake)
    url = fake.new_response_url("C0APPROVALS", "U0ALICE", source_ts=message.ts)
    await respond(url, delete_original=True)
    assert message.deleted and fake.channel_messages("C0APPROVALS") == []
    assert fake.messages("C0APPROVALS") == [message]


async def test_a_response_url_takes_five_posts_then_used_url(fake: FakeSlack) -> None:
    url = fake.new_response_url("C0OPS", "U0ALICE")
    for n in range(5):
        assert (await respond(url, text=f"post {n}"))[0] == 200
    assert await respond(url, text="sixth") == (404, "used_url")
    assert len(fake.ephemerals("U0ALICE")) == 5
    assert len(fake.violations) == 1 and "used_url" in fake.violations[0]


async def test_a_response_url_expires_after_thirty_minutes() -> None:
    now = [1000.0]
    async with FakeSlack(users=USERS, channels=CHANNELS, clock=lambda: now[0]) as fake:
        url = fake.new_response_url("C0OPS", "U0ALICE")
        now[0] += 30 * 60 + 1
        assert await respond(url, text="late") == (404, "expired_url")


async def test_an_unknown_response_url_is_404(fake: FakeSlack) -> None:
    assert (await respond(f"{fake.url}/response/R999999", text="x"))[0] == 404
    assert fake.violations


async def test_a_response_over_the_limits_is_refused(fake: FakeSlack) -> None:
    url = fake.new_response_url("C0OPS", "U0ALICE")
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    assert await respond(url, text="t", blocks=blocks) == (400, "invalid_blocks")
    assert fake.messages() == [] and fake.violations


# -- live updates and waiting ----------------------------------------------------------------


async def test_subscribers_see_messages_created_changed_and_deleted(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    events = fake.subscribe()
    message = await post_approval(client, fake)
    await client.chat_update(channel="C0APPROVALS", ts=message.ts, text="done", blocks=[])
    await client.chat_delete(channel="C0APPROVALS", ts=message.ts)
    kinds = [events.get_nowait()["type"] for _ in range(3)]
    assert kinds == ["message_created", "message_changed", "message_deleted"]
    fake.unsubscribe(events)


async def test_the_console_state_and_event_stream(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0OPS", text="hello")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.url}/_console/state") as r:
            state = await r.json()
        assert state["messages"][0]["text"] == "hello"
        assert {"id": "C0OPS", "name": "ops"} in state["channels"]
        async with session.get(f"{fake.url}/_console/events") as stream:
            assert stream.content_type == "text/event-stream"
            assert (await stream.content.readline()).startswith(b":")
            await stream.content.readline()
            await client.chat_postMessage(channel="C0OPS", text="live")
            line = await asyncio.wait_for(stream.content.readline(), 2)
            event = json.loads(line.removeprefix(b"data: "))
            assert event["type"] == "message_created" and event["message"]["text"] == "live"


async def test_stopping_the_fake_ends_open_event_streams() -> None:
    fake = FakeSlack(users=USERS, channels=CHANNELS)
    await fake.start()
    async with aiohttp.ClientSession() as session, session.get(f"{fake.url}/_console/events") as r:
        await r.content.readline()
        await asyncio.wait_for(fake.stop(), 2)
        assert await asyncio.wait_for(r.content.read(), 2) in (b"", b"\n")


async def test_wait_for_times_out_with_a_description(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C0OPS", text="something else")
    with pytest.raises(AssertionError) as timed_out:
        await fake.wait_for(lambda: bool(fake.dms("U0ALICE")), timeout=0.05)
    assert "fake.dms" in str(timed_out.value) and "something else" in str(timed_out.value)


# -- the driver ------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"

    yield start
    for runner in runners:
        await runner.cleanup()


class Capture:
    """A bot that only records what it receives and answers as told."""

    def __init__(self, answer: Any = "", delay: float = 0.0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer = answer
        self.delay = delay

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack/events", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        await asyncio.sleep(self.delay)
        if isinstance(self.answer, dict):
            return web.json_response(self.answer)
        return web.Response(text=self.answer)

    def form(self, index: int = -1) -> dict[str, str]:
        body = self.requests[index][1].decode()
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def test_the_driver_signs_a_command_as_slack_does(
    fake: FakeSlack, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    bot = Capture()
    driver = SlackDriver(fake, await serve(bot.app()), SECRET)
    answer = await driver.command('envs create "Staging EU"', user="U0ALICE", channel="C0OPS")
    await driver.aclose()
    assert answer.status == 200 and answer.elapsed < 3
    headers, body = bot.requests[0]
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    form = bot.form()
    assert form["command"] == "/fp" and form["text"] == 'envs create "Staging EU"'
    assert (form["user_id"], form["user_name"]) == ("U0ALICE", "alice")
    assert (form["channel_id"], form["channel_name"]) == ("C0OPS", "ops")
    assert (form["team_id"], form["api_app_id"]) == ("T0FPBOT", "A0FPBOT")
    assert form["response_url"].startswith(f"{fake.url}/response/")
    assert form["trigger_id"] and form["token"]
    assert fake.violations == [] and fake.messages() == []


async def test_the_driver_can_forge_signatures_and_timestamps(
    fake: FakeSlack, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    bot = Capture()
    driver = SlackDriver(fake, await serve(bot.app()), SECRET)
    await driver.command("help", user="U0ALICE", channel="C0OPS", signature="v0=bad")
    await driver.command("help", user="U0ALICE", channel="C0OPS", timestamp=1)
    await driver.aclose()
    forged, stale = (headers for headers, _ in bot.requests)
    assert forged["X-Slack-Signature"] == "v0=bad"
    assert stale["X-Slack-Request-Timestamp"] == "1"
    assert not SignatureVerifier(SECRET).is_valid_request(bot.requests[1][1], stale)


async def test_a_click_on_a_channel_message_carries_the_message(
    fake: FakeSlack, client: AsyncWebClient, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    bot = Capture()
    driver = SlackDriver(fake, await serve(bot.app()), SECRET)
    message = await post_approval(client, fake)
    await driver.click(message, "approve_request", user="W0BOB")
    await driver.aclose()
    headers, body = bot.requests[0]
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    payload = json.loads(bot.form()["payload"])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "W0BOB"
    assert payload["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": "C0APPROVALS",
        "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == "C0APPROVALS"
    assert payload["message"]["ts"] == message.ts and payload["message"]["blocks"]
    (action,) = payload["actions"]
    assert action["action_id"] == "approve_request" and action["value"] == "cr_1"
    assert action["block_id"] == "decision" and action["type"] == "button"
    assert payload["response_url"].startswith(fake.url) and payload["trigger_id"]


async def test_a_click_on_an_ephemeral_message_has_no_message(
    fake: FakeSlack, client: AsyncWebClient, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    bot = Capture()
    driver = SlackDriver(fake, await serve(bot.app()), SECRET)
    await client.chat_postEphemeral(
        channel="C0OPS", user="U0ALICE", text="Approve?", blocks=APPROVAL_BLOCKS
    )
    (whisper,) = fake.ephemerals("U0ALICE")
    await driver.click(whisper, "deny_request", user="U0ALICE", value="cr_tampered")
    with pytest.raises(ValueError):
        await driver.click(whisper, "deny_request", user="W0BOB")
    with pytest.raises(LookupError):
        await driver.click(whisper, "no_such_button", user="U0ALICE")
    await driver.aclose()
    payload = json.loads(bot.form()["payload"])
    assert "message" not in payload and payload["container"]["is_ephemeral"] is True
    assert payload["actions"][0]["value"] == "cr_tampered"


async def test_a_commands_answer_body_shows_as_a_reply(
    fake: FakeSlack, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    bot = Capture(answer={"text": "Working on it…"})
    driver = SlackDriver(fake, await serve(bot.app()), SECRET)
    await driver.command("envs", user="U0ALICE", channel="C0OPS")
    await driver.aclose()
    (reply,) = fake.ephemerals("U0ALICE")
    assert reply.text == "Working on it…" and reply.via == "ack"


async def test_a_slow_or_failed_ack_is_a_violation(
    fake: FakeSlack, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    slow = SlackDriver(fake, await serve(Capture(delay=0.2).app()), SECRET, ack_deadline=0.05)
    answer = await slow.command("envs", user="U0ALICE", channel="C0OPS")
    await slow.aclose()
    assert answer.timed_out and answer.body == "operation_timeout"
    assert "not acknowledged" in fake.violations[0]


async def test_connect_bot_keeps_a_driver_for_the_console(
    serve: Callable[[web.Application], Awaitable[str]],
) -> None:
    bot = Capture()
    async with FakeSlack(users=USERS, channels=CHANNELS) as fake:
        driver = fake.connect_bot(await serve(bot.app()), SECRET)
        assert fake.driver is driver
        assert (await driver.command("help", user="U0ALICE", channel="C0OPS")).status == 200
    assert len(bot.requests) == 1


# -- a real Bolt app -------------------------------------------------------------------------


@pytest.fixture
async def bolt(
    fake: FakeSlack, serve: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[tuple[SlackDriver, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=fake.api_url))

    @app.command("/fp")
    async def fp(ack: Any, command: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        received.append(command)
        await respond(text=f"You said {command['text']}", response_type="in_channel")
        await client.chat_postMessage(
            channel="C0APPROVALS", text="Approval needed", blocks=APPROVAL_BLOCKS
        )

    @app.action("approve_request")
    async def approve(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        received.append(body)
        await respond(
            text=f"Request {action['value']} approved by <@{body['user']['id']}>",
            replace_original=True,
        )

    driver = SlackDriver(fake, await serve(app.web_app(path="/slack/events")), SECRET)
    yield driver, received
    await driver.aclose()


async def test_a_bolt_app_acks_a_command_and_answers_into_the_fake(
    fake: FakeSlack, bolt: tuple[SlackDriver, list[dict[str, Any]]]
) -> None:
    driver, received = bolt
    answer = await driver.command("envs", user="U0ALICE", channel="C0OPS")
    assert answer.status == 200
    await fake.wait_for(lambda: len(fake.channel_messages("C0APPROVALS")) == 1)
    await fake.wait_for(lambda: len(fake.channel_messages("C0OPS")) == 1)
    assert fake.channel_messages("C0OPS")[0].text == "You said envs"
    assert received[0]["user_id"] == "U0ALICE"
    assert fake.calls("auth.test") and fake.violations == []


async def test_a_bolt_app_handles_a_click_and_replaces_the_message(
    fake: FakeSlack, client: AsyncWebClient, bolt: tuple[SlackDriver, list[dict[str, Any]]]
) -> None:
    driver, received = bolt
    message = await post_approval(client, fake)
    started = time.perf_counter()
    answer = await driver.click(message, "approve_request", user="W0BOB")
    assert answer.status == 200 and time.perf_counter() - started < 3
    await fake.wait_for(lambda: message.edited == 1)
    assert message.text == "Request cr_1 approved by <@W0BOB>" and message.blocks == []
    assert received[0]["container"]["message_ts"] == message.ts
    assert fake.violations == []


async def test_bolt_refuses_a_forged_signature(
    fake: FakeSlack, bolt: tuple[SlackDriver, list[dict[str, Any]]]
) -> None:
    driver, received = bolt
    answer = await driver.command("envs", user="U0ALICE", channel="C0OPS", signature="v0=00")
    stale = await driver.command("envs", user="U0ALICE", channel="C0OPS", timestamp=1_000_000)
    assert (answer.status, stale.status) == (401, 401)
    assert received == [] and fake.messages() == [] and fake.violations == []
