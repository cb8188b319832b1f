"""Alerts: one incident card per cause, one card per other failure, then a count — never
silence, never a flood; incidents resolved when their cause clears.

A real store (SQLite) shared by "replicas" (one `Notifier` each) and a recording stand-in for
Slack that can refuse posts; the clock is the test's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.domain.incidents import Cause
from bot.notify import CLAIM_GRACE, Failure, Notifier
from bot.ports import Conversation, DeliveryFailed, Posted
from bot.render import Message
from bot.store import Store, StoreUnavailable

ALERTS = "C0ALERTS"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeSlack:
    """Records posts and edits; ``refuse_posts`` makes the next N posts fail like Slack."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}  # ts → text
        self.posts = 0
        self.edits = 0
        self.refuse_posts = 0

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        self.posts += 1
        if self.refuse_posts:
            self.refuse_posts -= 1
            raise DeliveryFailed("chat.postMessage", "ratelimited")
        ts = f"1700000000.{len(self.messages):06d}"
        self.messages[ts] = message.text
        return Posted(channel, ts)

    async def edit(self, posted: Posted, message: Message) -> None:
        self.edits += 1
        if posted.ts not in self.messages:
            raise DeliveryFailed("chat.update", "message_not_found")
        self.messages[posted.ts] = message.text

    async def permalink(self, posted: Posted) -> str | None:
        return f"https://slack.test/archives/{posted.channel}/p{posted.ts.replace('.', '')}"

    def texts(self) -> list[str]:
        return list(self.messages.values())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.connect(f"sqlite:///{tmp_path / 'fpbot.sqlite3'}")
    try:
        yield opened
    finally:
        await opened.close()


def notifier(slack: FakeSlack, store: Store, clock: Clock) -> Notifier:
    return Notifier(cast(Conversation, slack), store, ALERTS, clock=clock, oncall="S0ONCALL")


def failure(
    operation: str = "/fp envs", code: str = "general.unauthorized", user: str | None = None
) -> Failure:
    return Failure("Key rejected", operation, code, "HTTP 401", "fp-0123456789ab", user=user)


async def test_when_the_first_post_fails_the_next_occurrence_posts_and_the_rest_edit_it(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    slack.refuse_posts = 1

    for _ in range(5):
        await alerts.report(failure())

    (text,) = slack.texts()
    assert "(5 times)" in text, "one message, with the count of every occurrence"
    assert slack.posts == 2 and slack.edits == 3


async def test_when_the_message_cannot_be_saved_this_process_still_edits_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)

    async def unavailable(*args: object) -> None:
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(store, "set_notification_ts", unavailable)
    await alerts.report(failure())
    monkeypatch.undo()
    for _ in range(3):
        await alerts.report(failure())

    (text,) = slack.texts()
    assert "(4 times)" in text
    assert slack.posts == 1


async def test_another_replica_posts_a_group_whose_claimant_never_saved_a_message(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    one, two = notifier(slack, store, clock), notifier(slack, store, clock)
    slack.refuse_posts = 1
    await one.report(failure())  # replica one claims the group; Slack refuses its post
    assert slack.texts() == []

    clock.now += timedelta(seconds=1)
    await two.report(failure())  # moments later: replica one may still be posting
    assert slack.texts() == []

    clock.now += CLAIM_GRACE
    await two.report(failure())
    await one.report(failure())
    (text,) = slack.texts()
    assert "(4 times)" in text


async def test_a_deleted_alert_is_posted_again_rather_than_edited_into_the_void(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    await alerts.report(failure())
    slack.messages.clear()  # someone deleted the alert

    await alerts.report(failure())
    await alerts.report(failure())

    (text,) = slack.texts()
    assert "(3 times)" in text


async def test_one_cause_is_one_incident_whatever_command_or_person_met_it(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    for operation, user in [("/fp envs", "U1"), ("/fp keys", "U2"), ("/fp webhooks", "U1")]:
        await alerts.report(failure(operation, user=user))
        clock.now += timedelta(minutes=11)  # an open incident outlasts the grouping window

    (text,) = slack.texts()
    assert "(3 times)" in text
    assert all(f"/fp {c}" in text for c in ("envs", "keys", "webhooks"))
    assert slack.posts == 1 and slack.edits == 2


async def test_an_incident_card_names_the_fix_the_people_and_who_is_on_call(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, clock = FakeSlack(), Clock()
    posted: list[Message] = []
    original = slack.post

    async def keep(channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        posted.append(message)
        return await original(channel, message, thread_ts=thread_ts)

    monkeypatch.setattr(slack, "post", keep)
    await notifier(slack, store, clock).report(failure(user="U0VIEWER"))

    (card,) = posted
    shown = str(card.blocks)
    assert "FP_MANAGEMENT_API_KEY" in shown and "restart fpbot" in shown
    assert "<@U0VIEWER>" in shown and "<!subteam^S0ONCALL>" in shown


async def test_a_resolved_incident_is_edited_so_reopened_if_it_flaps_then_new_later(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    await alerts.report(failure())
    await alerts.resolve({Cause.API_UNAVAILABLE})
    assert "resolved" not in slack.texts()[0], "another cause's proof resolves nothing"

    clock.now += timedelta(minutes=2)
    await alerts.resolve({Cause.KEY_REJECTED})
    (resolved,) = slack.texts()
    assert resolved.startswith("fpbot resolved:")
    await alerts.resolve({Cause.KEY_REJECTED})
    assert slack.edits == 1, "resolved once"

    await alerts.report(failure())
    (reopened,) = slack.texts()
    assert reopened.startswith("fpbot incident:") and "(2 times)" in reopened, "it flapped"

    await alerts.resolve({Cause.KEY_REJECTED})
    clock.now += timedelta(minutes=11)
    await alerts.report(failure())
    assert slack.posts == 2 and slack.texts()[1].startswith("fpbot incident:")


async def test_another_replica_resolves_an_incident_it_did_not_open(store: Store) -> None:
    slack, clock = FakeSlack(), Clock()
    one, two = notifier(slack, store, clock), notifier(slack, store, clock)
    await one.report(failure())
    await two.resolve({Cause.KEY_REJECTED})
    (text,) = slack.texts()
    assert text.startswith("fpbot resolved:")


async def test_a_failed_change_request_keeps_its_own_card_linked_to_the_incident(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    await alerts.report(failure("/fp envs"))
    await alerts.report(failure("CR-7K2M9Q keys.rotate"))

    incident, card = slack.texts()
    assert "CR-7K2M9Q keys.rotate" in incident and "(2 times)" in incident
    assert "CR-7K2M9Q" in card and "fpbot failure" in card
    assert slack.posts == 2


async def test_other_failures_are_grouped_by_operation_and_code_within_the_window(
    store: Store,
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    await alerts.report(failure(code="general.not-found"))
    await alerts.report(failure(code="general.not-found"))
    await alerts.report(failure(operation="/fp keys", code="general.not-found"))
    await alerts.report(failure(code="validation.failed"))
    clock.now += timedelta(minutes=11)
    await alerts.report(failure(code="general.not-found"))
    assert slack.posts == 4 and slack.edits == 1


async def test_the_memory_of_keys_stays_bounded_by_the_window(store: Store) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)
    for n in range(50):
        await alerts.report(failure(operation=f"/fp keys {n}", code="general.not-found"))
    assert alerts.tracked_keys() == 50

    clock.now += timedelta(minutes=11)
    await alerts.report(failure(operation="/fp keys latest", code="general.not-found"))
    assert alerts.tracked_keys() == 1


async def test_without_the_store_failures_are_grouped_in_the_process(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, clock = FakeSlack(), Clock()
    alerts = notifier(slack, store, clock)

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(store, "notification_slot", unavailable)
    monkeypatch.setattr(store, "incident_hit", unavailable)
    slack.refuse_posts = 1
    for _ in range(3):
        await alerts.report(failure(code="store.unavailable"))

    (text,) = slack.texts()
    assert "(3 times)" in text and "database is unreachable" in text
    monkeypatch.undo()
    await alerts.resolve({Cause.STORE_UNREACHABLE})
    (text,) = slack.texts()
    assert text.startswith("fpbot resolved:"), "the store answering again resolves it"


def test_an_exceptions_text_reaches_the_alert_escaped_once_and_scrubbed() -> None:
    from bot.log import register_secret
    from bot.notify import describe

    register_secret("sk_live_describe_123456")
    detail = describe(RuntimeError("bad <@U1> & key sk_live_describe_123456"))
    assert detail == "bad &lt;@U1&gt; &amp; key [REDACTED]"
    assert describe(RuntimeError()) == "RuntimeError"
