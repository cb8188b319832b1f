"""When the Management API misbehaves: a rejected key, rate limits, outages and a hanging API.

The person who typed the command is always answered (and Slack always acknowledged at once);
what the retries can absorb stays invisible; what they cannot becomes an error for the person
and one grouped notification in ``#alerts``, whose correlation id finds the log lines.
"""

from __future__ import annotations

import io
import re

import pytest

from bot.render import Message
from bot.slack import SlackDeliveryError
from sandbox.run import Sandbox
from tests.scenarios.bot_helpers import (
    ALERTS,
    OPERATOR,
    OPS,
    VIEWER,
    TcpProxy,
    fp,
    listing_in,
    reply_to,
    settled,
    visible,
)
from tests.scenarios.conftest import StackFactory

CORRELATION_ID = re.compile(r"`(fp-[0-9a-f]+)`")

#: Small budgets keep the failure scenarios quick; the rules are the same at 10 seconds.
QUICK = {"fp_timeout": 1.0, "fp_retry_budget": 1.0}


def alerts(stack: Sandbox) -> list[str]:
    return [visible(m) for m in stack.slack.channel_messages(ALERTS)]


async def test_a_revoked_key_tells_the_user_it_was_rejected_and_alerts_the_operators(
    stack: Sandbox, log_buffer: io.StringIO
) -> None:
    stack.fingerprint.faults.revoked = True

    await fp(stack, "envs", user=VIEWER)
    await settled(stack)

    reply = visible(await reply_to(stack, VIEWER))
    assert "rejected fpbot's Management API key" in reply
    assert "FP_MANAGEMENT_API_KEY" not in reply, "the fix is for the operators, not the viewer"
    (alert,) = alerts(stack)
    assert "/fp envs" in alert and "general.unauthorized" in alert
    assert "FP_MANAGEMENT_API_KEY" in alert
    (correlation_id,) = set(CORRELATION_ID.findall(alert))
    assert correlation_id in reply, "the person and the operators quote the same id"
    assert correlation_id in log_buffer.getvalue()
    assert stack.fingerprint.count("GET", "/environments") == 1, "a 401 is not retried"
    assert not any("Environments" in m.text for m in stack.slack.channel_messages(OPS))


@pytest.mark.parametrize("retry_after", [0.3, None], ids=["with-retry-after", "without"])
async def test_a_short_rate_limit_is_retried_without_the_user_noticing(
    stack: Sandbox, retry_after: float | None
) -> None:
    faults = stack.fingerprint.faults
    faults.force_429, faults.retry_after = 1, retry_after

    await fp(stack, "envs", user=VIEWER)

    assert await listing_in(stack, OPS, "Environments (32)")
    assert stack.fingerprint.rejected_429 == 1
    assert stack.fingerprint.count("GET", "/environments", status=200) == 1
    assert stack.slack.ephemerals(VIEWER) == []
    assert alerts(stack) == []


async def test_a_rate_limit_outlasting_the_retry_budget_becomes_an_error_for_the_user(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**QUICK) as stack:
        faults = stack.fingerprint.faults
        faults.force_429, faults.retry_after = 1000, 0.4

        await fp(stack, "keys", user=VIEWER)
        await settled(stack)

        reply = visible(await reply_to(stack, VIEWER))
        assert "rate limit" in reply and "HTTP 429" in reply
        assert 2 <= stack.fingerprint.rejected_429 <= 8, "retried, within the budget"
        (alert,) = alerts(stack)
        assert "/fp keys" in alert and "rate-limit.exceeded" in alert
        assert not any("API keys" in m.text for m in stack.slack.channel_messages(OPS))


async def test_a_passing_outage_is_retried_without_the_user_noticing(stack: Sandbox) -> None:
    faults = stack.fingerprint.faults
    faults.error_rate, faults.error_retry_after = 1.0, 0.5

    await fp(stack, "webhooks", user=VIEWER)
    await stack.slack.wait_for(lambda: stack.fingerprint.count(status=503) >= 1)
    faults.error_rate = 0.0

    assert await listing_in(stack, OPS, "Webhooks")
    assert stack.slack.ephemerals(VIEWER) == []
    assert alerts(stack) == []


async def test_a_lasting_outage_becomes_an_error_for_the_user_and_an_alert(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**QUICK) as stack:
        stack.fingerprint.faults.error_rate = 1.0

        await fp(stack, "envs", user=VIEWER)
        await settled(stack)

        reply = visible(await reply_to(stack, VIEWER))
        assert "unavailable" in reply and "HTTP 503" in reply
        assert stack.fingerprint.count(status=503) >= 2, "retried before giving up"
        (alert,) = alerts(stack)
        assert "general.unavailable" in alert


async def test_a_hanging_api_still_gets_an_immediate_ack_and_the_user_is_told_after_the_timeout(
    make_stack: StackFactory,
) -> None:
    async with make_stack(fp_timeout=1.0, fp_retry_budget=0.5) as stack:
        stack.fingerprint.faults.hang = True

        response = await fp(stack, "envs", user=VIEWER)
        assert response.elapsed < 1.0 and not response.timed_out

        reply = visible(await reply_to(stack, VIEWER))
        assert "did not answer in time" in reply
        await settled(stack)
        (placeholder,) = stack.slack.channel_messages(OPS)
        assert "Could not fetch environments" in placeholder.text
        assert "<@U0VIEWER>" in placeholder.text, "the placeholder says who has the details"
        assert placeholder.edited == 1, "the Fetching… message is replaced, not left behind"
        (alert,) = alerts(stack)
        assert "/fp envs" in alert
        stack.fingerprint.faults.hang = False


async def test_repeated_failures_of_one_cause_make_one_incident_edited_with_a_count(
    stack: Sandbox,
) -> None:
    stack.fingerprint.faults.revoked = True

    for _ in range(5):
        await fp(stack, "envs", user=VIEWER)
    await fp(stack, "keys", user=VIEWER)
    await settled(stack)

    assert len(stack.slack.ephemerals(VIEWER)) == 6, "every person is answered"
    (incident,) = stack.slack.channel_messages(ALERTS)
    assert "(6 times)" in incident.text
    assert "/fp envs" in visible(incident) and "/fp keys" in visible(incident)
    assert incident.edited == 5
    assert "Happened 6 times" in visible(incident)
    posts = [c for c in stack.slack.calls("chat.postMessage") if c.args.get("channel") == ALERTS]
    assert len(posts) == 1, "another command meeting the same cause is the same incident"


async def test_slack_rate_limiting_the_bot_delays_an_alert_but_neither_loses_nor_doubles_it(
    stack: Sandbox,
) -> None:
    await fp(stack, "whoami", user=VIEWER)
    await settled(stack)
    stack.slack.faults.rate_limit_next, stack.slack.faults.retry_after = 2, 0
    stack.fingerprint.faults.revoked = True

    await fp(stack, "envs", user=VIEWER)
    await settled(stack)

    assert len(alerts(stack)) == 1
    attempts = [c for c in stack.slack.calls("chat.postMessage") if c.args["channel"] == ALERTS]
    assert [c.error for c in attempts] == ["ratelimited", "ratelimited", None]
    assert "rejected" in visible(await reply_to(stack, VIEWER, count=2))


async def test_an_alert_slack_refused_to_post_is_posted_by_the_next_occurrence_with_the_count(
    stack: Sandbox,
) -> None:
    await fp(stack, "whoami", user=VIEWER)
    await settled(stack)
    # The first alert's post and its three retries are all rate limited: it is lost.
    stack.slack.faults.rate_limit_next, stack.slack.faults.retry_after = 4, 0
    stack.fingerprint.faults.revoked = True
    await fp(stack, "envs", user=VIEWER)
    await settled(stack)
    assert alerts(stack) == []

    for _ in range(4):
        await fp(stack, "envs", user=VIEWER)
    await settled(stack)

    (alert,) = stack.slack.channel_messages(ALERTS)
    assert "(5 times)" in alert.text and "general.unauthorized" in alert.text
    assert alert.edited == 3, "posted once more, then edited with the count"


async def test_a_message_that_must_arrive_once_is_not_repeated_after_a_slack_server_error(
    stack: Sandbox,
) -> None:
    """A 500 may come after Slack posted the message: a secret's DM (``once``) is not sent
    again — the caller learns it may not have arrived — while ordinary posts retry."""
    assert stack.bot is not None and stack.bot.services is not None
    messenger = stack.bot.services.messenger
    dm = stack.slack.dm_channel(VIEWER)

    stack.slack.faults.server_error_next = 1
    with pytest.raises(SlackDeliveryError):
        await messenger.post(dm, Message(text="the secret", blocks=[]), once=True)
    stack.slack.faults.server_error_next = 1
    await messenger.post(dm, Message(text="an ordinary message", blocks=[]))

    attempts = [(c.args.get("text"), c.error) for c in stack.slack.calls("chat.postMessage")]
    assert attempts == [
        ("the secret", "server_error"),
        ("an ordinary message", "server_error"),
        ("an ordinary message", None),
    ]


async def test_a_message_that_must_arrive_once_is_still_retried_after_a_rate_limit(
    stack: Sandbox,
) -> None:
    """A 429 means Slack did nothing: waiting and sending again cannot double the message."""
    assert stack.bot is not None and stack.bot.services is not None
    messenger = stack.bot.services.messenger
    stack.slack.faults.rate_limit_next, stack.slack.faults.retry_after = 1, 0

    await messenger.post(stack.slack.dm_channel(VIEWER), Message("the secret", []), once=True)

    assert [m.text for m in stack.slack.dms(VIEWER)] == ["the secret"]
    assert [c.error for c in stack.slack.calls("chat.postMessage")] == ["ratelimited", None]


@pytest.mark.postgres
async def test_a_store_outage_tells_the_user_and_alerts_once_however_often_it_is_hit(
    make_stack: StackFactory, pg_url: str
) -> None:
    async with (
        TcpProxy("127.0.0.1", 5432) as proxy,
        make_stack(database_url=proxy.url_for(pg_url)) as stack,
    ):
        await proxy.cut()

        for _ in range(3):
            await fp(stack, "requests", user=OPERATOR)
        await settled(stack)

        replies = [visible(m) for m in stack.slack.ephemerals(OPERATOR)]
        assert len(replies) == 3
        assert all("database is unreachable" in r and "nothing was changed" in r for r in replies)
        # One incident, whoever met the outage (the sweeper may have met it too).
        (alert,) = stack.slack.channel_messages(ALERTS)
        assert "store.unavailable" in alert.text and "/fp requests" in alert.text
        times = re.search(r"\((\d+) times\)", alert.text)
        assert times is not None and int(times.group(1)) >= 3
        assert alert.edited == int(times.group(1)) - 1

        await proxy.start()
        await fp(stack, "requests", user=OPERATOR)
        assert "No pending change requests" in visible(await reply_to(stack, OPERATOR, count=4))
        await stack.slack.wait_for(
            lambda: stack.slack.channel_messages(ALERTS)[0].text.startswith("fpbot resolved"),
            10,
            what="the incident resolved once the store answers",
        )
