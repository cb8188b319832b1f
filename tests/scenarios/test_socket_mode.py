"""``fpbot serve --socket``: the bot in Socket Mode against the fake Slack's WebSocket.

The bot is `BotServer(settings, socket=True)` as ``fpbot serve --socket`` runs it: slack_bolt's
``AsyncSocketModeHandler`` calls ``apps.connections.open`` on the fake with the app-level token,
connects to the ``ws://`` URL it gets, and acknowledges each envelope the driver delivers. The
payloads are the ones the HTTP scenarios send; only the transport differs.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode

from bot.domain import State
from bot.server import BotServer
from bot.settings import Settings, SettingsError, load_settings
from sandbox.fingerprint import FakeFingerprint, StandInServer
from sandbox.run import BOT_TOKEN, CHANNELS, PERSONAS, USERGROUPS, sample_policy_path
from sandbox.slack import FakeSlack, SlackDriver
from tests.scenarios.bot_helpers import (
    OPERATOR,
    OPS,
    VIEWER,
    assert_acked_at_once,
    joined,
    visible,
)
from tests.scenarios.change_helpers import (
    APPROVER_1,
    FAST_SETTINGS,
    REQUESTER,
    Desk,
    Replica,
    speed_up,
)

APP_TOKEN = "xapp-1-A0FPBOT-1-sandboxsocket"
WAIT = 10.0


def socket_settings(slack: FakeSlack, api: StandInServer, tmp_path: Path, **extra: Any) -> Settings:
    """Settings as ``sandbox/run.py`` builds them, for Socket Mode: an app token, no secret."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": None,
        "slack_app_token": APP_TOKEN,
        "slack_api_url": slack.api_url,
        "fp_management_api_key": api.key,
        "fp_management_api_url": api.url,
        "fpbot_policy": str(sample_policy_path()),
        "database_url": f"sqlite:///{tmp_path}/fpbot.sqlite3",
        "redis_url": None,
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "DEBUG",
        **FAST_SETTINGS,
    }
    values.update(extra)
    return load_settings(**values)


@pytest.fixture
async def stand_ins() -> AsyncIterator[tuple[FakeSlack, StandInServer]]:
    """The fake Slack, accepting ``APP_TOKEN`` for Socket Mode, and the stand-in API."""
    fingerprint = FakeFingerprint(environments=12)
    speed_up(fingerprint)
    async with (
        StandInServer(fingerprint) as api,
        FakeSlack(
            bot_token=BOT_TOKEN,
            app_token=APP_TOKEN,
            users=PERSONAS,
            usergroups=USERGROUPS,
            channels=CHANNELS,
        ) as slack,
    ):
        yield slack, api


@pytest.fixture
async def bot(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, log_buffer: io.StringIO
) -> AsyncIterator[BotServer]:
    """fpbot in Socket Mode, connected to the fake; stopped at the end of the test."""
    slack, api = stand_ins
    server = BotServer(socket_settings(slack, api, tmp_path), socket=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def slack(stand_ins: tuple[FakeSlack, StandInServer], bot: BotServer) -> FakeSlack:
    return stand_ins[0]


@pytest.fixture
def driver(slack: FakeSlack) -> SlackDriver:
    return slack.connect_socket_bot()


async def settled(bot: BotServer, slack: FakeSlack) -> None:
    assert bot.services is not None
    tasks = bot.services.tasks
    await slack.wait_for(lambda: len(tasks) == 0, WAIT, what="the bot to finish its work")


# ── connecting ──────────────────────────────────────────────────────────────────────────────


async def test_the_bot_opens_one_socket_with_its_app_token_and_gets_hello(
    slack: FakeSlack, bot: BotServer
) -> None:
    [opened] = slack.calls("apps.connections.open")
    assert opened.ok
    [connection] = slack.socket.connections
    assert connection.open
    assert slack.violations == []


async def test_healthz_still_answers_on_host_and_port_in_socket_mode(bot: BotServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(bot.url + "/healthz") as health:
            assert health.status == 200, await health.text()
        async with session.post(bot.url + "/slack/events", data=b"") as events:
            assert events.status in (404, 405), "no HTTP endpoint for Slack in Socket Mode"


# ── commands and clicks over the socket ─────────────────────────────────────────────────────


async def test_envs_over_the_socket_is_acked_at_once_and_the_listing_reaches_the_channel(
    slack: FakeSlack, bot: BotServer, driver: SlackDriver, stand_ins: tuple[Any, StandInServer]
) -> None:
    response = await driver.command("envs", user=VIEWER, channel=OPS)

    assert_acked_at_once(response)
    [envelope] = slack.socket.envelopes
    assert envelope.type == "slash_commands" and envelope.payload["text"] == "envs"
    assert envelope.acked and envelope.ack == {"envelope_id": envelope.envelope_id}
    await settled(bot, slack)
    listing = [m for m in slack.channel_messages(OPS) if m.text.startswith("Environments")]
    assert listing and all(m.ephemeral_for is None for m in listing)
    fingerprint = stand_ins[1].fake
    for env_id in fingerprint.workspace.environments:
        assert env_id in joined(listing)
    assert fingerprint.count("GET", "/environments") == 1
    assert slack.violations == []


async def test_wrong_input_over_the_socket_gets_the_usage_error_in_the_ack_payload(
    slack: FakeSlack, bot: BotServer, driver: SlackDriver, stand_ins: tuple[Any, StandInServer]
) -> None:
    response = await driver.command("envs bogus", user=OPERATOR, channel=OPS)

    assert_acked_at_once(response)
    assert isinstance(response.body, dict)
    assert response.body["response_type"] == "ephemeral"
    assert "no command “envs bogus”" in json.dumps(response.body, ensure_ascii=False)
    [reply] = slack.ephemerals(OPERATOR)
    assert reply.via == "ack"
    assert "`/fp envs create &lt;name&gt;" in visible(reply)
    await settled(bot, slack)
    assert stand_ins[1].fake.count() == 0
    assert slack.violations == []


async def test_a_change_approved_by_a_click_over_the_socket_runs_once(
    slack: FakeSlack, bot: BotServer, driver: SlackDriver, stand_ins: tuple[Any, StandInServer]
) -> None:
    fingerprint = stand_ins[1].fake
    desk = Desk(slack, fingerprint, [Replica(bot, driver)])

    request_id = await desk.request("envs create Over The Socket", user=REQUESTER)
    response = await desk.click(request_id, user=APPROVER_1)
    assert_acked_at_once(response)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED, done
    assert fingerprint.count("POST", "/environments") == 1
    assert [e.name for e in fingerprint.workspace.environments.values()].count(
        "Over The Socket"
    ) == 1
    clicks = [e for e in slack.socket.envelopes if e.type == "interactive"]
    assert len(clicks) == 1 and clicks[0].payload["type"] == "block_actions"
    assert all(e.acked for e in slack.socket.envelopes)
    assert slack.violations == []


async def test_after_slack_asks_for_a_refresh_the_bot_reconnects_and_still_answers(
    slack: FakeSlack, bot: BotServer, driver: SlackDriver
) -> None:
    [first] = slack.socket.connections
    await slack.socket.disconnect("refresh_requested")
    await slack.wait_for(
        lambda: not first.open and len(slack.socket.open_connections) == 1,
        WAIT,
        what="the bot to replace its connection",
    )

    response = await driver.command("whoami", user=VIEWER, channel=OPS)

    assert_acked_at_once(response)
    assert slack.socket.envelopes[-1].connection != first.id
    assert len(slack.calls("apps.connections.open")) == 2
    assert slack.violations == []


# ── start and stop ──────────────────────────────────────────────────────────────────────────


async def test_a_wrong_app_token_fails_start_up_clearly(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, log_buffer: io.StringIO
) -> None:
    slack, api = stand_ins
    settings = socket_settings(slack, api, tmp_path, slack_app_token="xapp-1-A0FPBOT-1-wrong")
    server = BotServer(settings, socket=True)

    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN") as refused:
        await asyncio.wait_for(server.start(), WAIT)

    assert "invalid_auth" in str(refused.value)
    assert "xapp-1-A0FPBOT-1-wrong" not in str(refused.value)
    assert [c.error for c in slack.calls("apps.connections.open")] == ["invalid_auth"]
    assert slack.socket.connections == []
    assert "xapp-1-A0FPBOT-1-wrong" not in log_buffer.getvalue()
    await server.stop()  # harmless after a failed start


async def test_stop_closes_the_socket_cleanly(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, log_buffer: io.StringIO
) -> None:
    slack, api = stand_ins
    server = BotServer(socket_settings(slack, api, tmp_path), socket=True)
    await server.start()
    [connection] = slack.socket.connections

    await asyncio.wait_for(server.stop(), WAIT)

    await slack.wait_for(lambda: not connection.open, WAIT, what="the socket to close")
    assert connection.closed_by == "app"
    assert connection.close_code == WSCloseCode.OK
    await asyncio.sleep(0.2)  # nothing reconnects after a stop
    assert len(slack.socket.connections) == 1
    assert len(slack.calls("apps.connections.open")) == 1
    response = await SlackDriver(slack, via="socket").command("envs", user=VIEWER, channel=OPS)
    assert response.status == 503 and response.body == "dispatch_failed"


# ── the fake's side of the protocol, without a bot ─────────────────────────────────────────


async def test_the_fake_hands_out_one_time_urls_only_for_the_app_token(
    stand_ins: tuple[FakeSlack, StandInServer],
) -> None:
    slack, _ = stand_ins
    async with aiohttp.ClientSession() as session:

        async def open_with(token: str) -> dict[str, Any]:
            async with session.post(
                slack.api_url + "apps.connections.open",
                headers={"Authorization": f"Bearer {token}"},
            ) as answer:
                body: dict[str, Any] = await answer.json()
                return body

        assert (await open_with(BOT_TOKEN))["error"] == "not_allowed_token_type"
        assert (await open_with("xapp-1-other"))["error"] == "invalid_auth"
        opened = await open_with(APP_TOKEN)
        assert opened["ok"] and opened["url"].startswith(
            slack.url.replace("http", "ws", 1) + "/socket?"
        )

        async with session.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json(timeout=WAIT)
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": "A0FPBOT"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
            await session.ws_connect(opened["url"])
        assert reused.value.status == 401


async def test_an_envelope_left_unacknowledged_is_an_operation_timeout_and_a_violation(
    stand_ins: tuple[FakeSlack, StandInServer],
) -> None:
    slack, _ = stand_ins
    driver = SlackDriver(slack, via="socket", ack_deadline=0.3)
    url = slack.socket.open_url(APP_TOKEN, slack.url)["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json(timeout=WAIT)  # hello

        response = await driver.command("envs", user=VIEWER, channel=OPS)
        envelope = await ws.receive_json(timeout=WAIT)
        await ws.send_json({"envelope_id": envelope["envelope_id"]})  # too late
        await ws.send_json({"envelope_id": "env-unknown"})
        await slack.wait_for(lambda: len(slack.violations) == 2, WAIT)

    assert response.timed_out and response.body == "operation_timeout"
    assert envelope["type"] == "slash_commands" and envelope["payload"]["user_id"] == VIEWER
    assert envelope["accepts_response_payload"] is True
    assert "not acknowledged within 0.3s" in slack.violations[0]
    assert "unknown envelope env-unknown" in slack.violations[1]
    assert slack.socket.envelopes[0].acked  # the late ack is recorded, not counted
