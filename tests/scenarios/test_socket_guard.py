"""The request guard in Socket Mode: no signature to check, but the workspace is still pinned
and a payload delivered twice is still handled once — acknowledged, so Slack stops delivering
it, and dropped.

The bot and the fake Slack are those of `tests.scenarios.test_socket_mode`.
"""

from __future__ import annotations

import io
import json
from typing import Any

from bot.server import BotServer
from sandbox.fingerprint import StandInServer
from sandbox.slack import FakeSlack, SlackDriver
from tests.scenarios.bot_helpers import OPERATOR, OPS
from tests.scenarios.test_socket_mode import (  # noqa: F401 (fixtures)
    bot,
    driver,
    settled,
    slack,
    stand_ins,
)


def refusals(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "slack_request_refused"]


async def test_a_command_from_another_workspace_is_acknowledged_and_dropped(
    slack: FakeSlack,  # noqa: F811
    bot: BotServer,  # noqa: F811
    driver: SlackDriver,  # noqa: F811
    stand_ins: tuple[Any, StandInServer],  # noqa: F811
    log_buffer: io.StringIO,
) -> None:
    driver.team_id = "T0EVIL"

    response = await driver.command("envs create Evil Twin", user=OPERATOR, channel=OPS)

    assert (response.status, response.body) == (200, ""), "acknowledged, with nothing to show"
    [envelope] = slack.socket.envelopes
    assert envelope.acked
    await settled(bot, slack)
    assert bot.services is not None
    assert await bot.services.store.list_requests() == []
    assert stand_ins[1].fake.count() == 0
    assert slack.messages() == []
    assert [r["reason"] for r in refusals(log_buffer)] == ["another workspace"]


async def test_a_command_delivered_twice_over_the_socket_is_handled_once(
    slack: FakeSlack,  # noqa: F811
    bot: BotServer,  # noqa: F811
    driver: SlackDriver,  # noqa: F811
    log_buffer: io.StringIO,
) -> None:
    payload = {
        "team_id": "T0FPBOT",
        "api_app_id": "A0FPBOT",
        "channel_id": OPS,
        "user_id": OPERATOR,
        "command": "/fp",
        "text": "envs create Delivered Twice",
        "response_url": slack.new_response_url(OPS, OPERATOR),
        "trigger_id": slack.new_trigger_id(),
    }

    answers = [await driver.deliver("slash_commands", payload) for _ in range(2)]
    await settled(bot, slack)

    assert [a.status for a in answers] == [200, 200]
    assert all(envelope.acked for envelope in slack.socket.envelopes)
    assert bot.services is not None
    assert len(await bot.services.store.list_requests()) == 1
    assert [r["reason"] for r in refusals(log_buffer)] == ["already handled (replay)"]
