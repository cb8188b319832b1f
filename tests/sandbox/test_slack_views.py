"""The fake Slack's views and permalinks, through slack_sdk as the bot calls them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import FakeSlack

TOKEN = "xoxb-test-token"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def form(title: str = "Request", **extra: Any) -> dict[str, Any]:
    """A modal with one text input, as the bot's forms are."""
    return {
        "type": "modal",
        "callback_id": "request_change",
        "title": plain(title),
        "submit": plain("Send"),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": plain("Reason"),
                "element": {"type": "plain_text_input", "action_id": "reason_text"},
            }
        ],
        **extra,
    }


HOME: dict[str, Any] = {
    "type": "home",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Waiting for you*"}}],
}


class Clock:
    """Monotonic seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=TOKEN, clock=clock) as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.api_url)


async def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as refused:
        await call
    return dict(refused.value.response.data)


# -- views.open and trigger_id ------------------------------------------------------------------


async def test_views_open_answers_the_view_as_slack_holds_it(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    opened = (await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form()))[
        "view"
    ]
    assert opened["id"].startswith("V") and opened["hash"] and opened["team_id"] == "T0FPBOT"
    assert opened["root_view_id"] == opened["id"] and opened["previous_view_id"] is None
    assert opened["callback_id"] == "request_change" and opened["private_metadata"] == ""
    assert opened["state"] == {
        "values": {"reason": {"reason_text": {"type": "plain_text_input", "value": None}}}
    }
    modal = fake.modal("U0ALICE")
    assert modal is not None and modal.id == opened["id"] and modal.user == "U0ALICE"
    assert fake.modal("U0BOB") is None and fake.violations == []


async def test_slack_gives_ids_to_blocks_and_elements_without_them(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    view = form()
    del view["blocks"][0]["block_id"], view["blocks"][0]["element"]["action_id"]
    opened = (await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=view))["view"]
    (block,) = opened["blocks"]
    assert block["block_id"] and block["element"]["action_id"]
    assert list(opened["state"]["values"]) == [block["block_id"]]


async def test_a_trigger_id_works_once_within_three_seconds(
    fake: FakeSlack, client: AsyncWebClient, clock: Clock
) -> None:
    trigger = fake.new_trigger_id("U0ALICE")
    await client.views_open(trigger_id=trigger, view=form())
    reused = await refusal(client.views_open(trigger_id=trigger, view=form()))
    assert reused["error"] == "exchanged_trigger_id"

    late = fake.new_trigger_id("U0ALICE")
    clock.now += 3.5
    assert (await refusal(client.views_open(trigger_id=late, view=form())))["error"] == (
        "expired_trigger_id"
    )
    invented = await refusal(client.views_open(trigger_id="1.2.3", view=form()))
    assert invented["error"] == "invalid_trigger_id"
    missing = await refusal(client.api_call("views.open", json={"view": form()}))
    assert missing["error"] == "invalid_arguments"


async def test_a_refused_view_leaves_its_trigger_unspent(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    trigger = fake.new_trigger_id("U0ALICE")
    refused = await refusal(client.views_open(trigger_id=trigger, view=form("t" * 25)))
    assert refused["error"] == "invalid_arguments"
    assert refused["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    assert len(fake.violations) == 1 and "views.open" in fake.violations[0]
    assert (await client.views_open(trigger_id=trigger, view=form()))["ok"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        pytest.param({"submit": None}, "/view/submit", id="a form needs submit"),
        pytest.param({"private_metadata": "m" * 3001}, "/view/private_metadata", id="metadata"),
        pytest.param({"callback_id": "c" * 256}, "/view/callback_id", id="callback_id"),
        pytest.param({"external_id": "e" * 256}, "/view/external_id", id="external_id"),
        pytest.param({"blocks": [{"type": "divider"}] * 101}, "/view/blocks", id="over 100 blocks"),
    ],
)
async def test_views_are_held_to_slacks_limits(
    fake: FakeSlack, client: AsyncWebClient, change: dict[str, Any], pointer: str
) -> None:
    view = {k: v for k, v in {**form(), **change}.items() if v is not None}
    refused = await refusal(client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=view))
    assert refused["error"] == "invalid_arguments"
    assert any(
        m.endswith(f"[json-pointer:{pointer}]") for m in refused["response_metadata"]["messages"]
    )
    assert fake.violations and fake.modal("U0ALICE") is None


# -- views.push --------------------------------------------------------------------------------


async def test_a_modal_stacks_three_views_then_push_limit_reached(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    root = (await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("A")))[
        "view"
    ]
    second = await client.views_push(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("B"))
    third = await client.views_push(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("C"))
    assert second["view"]["root_view_id"] == root["id"]
    assert second["view"]["previous_view_id"] == root["id"]
    assert third["view"]["previous_view_id"] == second["view"]["id"]
    refused = await refusal(
        client.views_push(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("D"))
    )
    assert refused["error"] == "push_limit_reached"
    assert [v.view["title"]["text"] for v in fake.modal_stack("U0ALICE")] == ["A", "B", "C"]
    assert "push_limit_reached" in fake.violations[0]


async def test_push_needs_an_open_modal_and_a_fresh_trigger(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    nothing_open = await refusal(
        client.views_push(trigger_id=fake.new_trigger_id("U0ALICE"), view=form())
    )
    assert nothing_open["error"] == "not_found"
    trigger = fake.new_trigger_id("U0ALICE")
    await client.views_open(trigger_id=trigger, view=form())
    reused = await refusal(client.views_push(trigger_id=trigger, view=form()))
    assert reused["error"] == "exchanged_trigger_id"


async def test_opening_a_modal_replaces_the_one_open(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("A"))
    await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form("B"))
    assert [v.view["title"]["text"] for v in fake.modal_stack("U0ALICE")] == ["B"]
    assert fake.views[0].id == first["view"]["id"] and fake.views[0].closed


# -- views.update -------------------------------------------------------------------------------


async def test_views_update_by_id_or_external_id_changes_the_hash(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    opened = (
        await client.views_open(
            trigger_id=fake.new_trigger_id("U0ALICE"), view=form(external_id="req-1")
        )
    )["view"]
    updated = (
        await client.views_update(
            view_id=opened["id"], hash=opened["hash"], view=form("Step 2", external_id="req-1")
        )
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    again = await client.views_update(external_id="req-1", view=form("Step 3", external_id="req-1"))
    assert again["view"]["title"]["text"] == "Step 3"

    stale = await refusal(
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=form("Late"))
    )
    assert stale["error"] == "hash_conflict"
    assert fake.modal("U0ALICE").view["title"]["text"] == "Step 3"  # type: ignore[union-attr]
    unknown = await refusal(client.views_update(view_id="V999", view=form()))
    assert unknown["error"] == "not_found"
    nameless = await refusal(client.api_call("views.update", json={"view": form()}))
    assert nameless["error"] == "invalid_arguments"
    assert fake.violations == []


async def test_an_update_keeps_what_was_typed_in_inputs_it_keeps(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    opened = (await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form()))[
        "view"
    ]
    modal = fake.modal("U0ALICE")
    assert modal is not None
    modal.values = {"reason": {"reason_text": {"type": "plain_text_input", "value": "typed"}}}
    modal.errors = {"reason": "Too short"}
    updated = (await client.views_update(view_id=opened["id"], view=form("Again")))["view"]
    assert updated["state"]["values"]["reason"]["reason_text"]["value"] == "typed"
    assert modal.errors == {}
    renamed = form()
    renamed["blocks"][0]["block_id"] = "other"
    updated = (await client.views_update(view_id=opened["id"], view=renamed))["view"]
    assert updated["state"]["values"]["other"]["reason_text"]["value"] is None


async def test_an_external_id_is_unique_among_open_views(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=form(external_id="x"))
    refused = await refusal(
        client.views_open(trigger_id=fake.new_trigger_id("U0BOB"), view=form(external_id="x"))
    )
    assert refused["error"] == "duplicate_external_id"


# -- views.publish -----------------------------------------------------------------------------


async def test_views_publish_keeps_one_home_per_person(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = (await client.views_publish(user_id="U0ALICE", view=HOME))["view"]
    assert first["type"] == "home" and "submit" not in first and "title" not in first
    second = (await client.views_publish(user_id="U0ALICE", view=HOME, hash=first["hash"]))["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    stale = await refusal(client.views_publish(user_id="U0ALICE", view=HOME, hash=first["hash"]))
    assert stale["error"] == "hash_conflict"
    home = fake.home("U0ALICE")
    assert home is not None and home.hash == second["hash"] and fake.home("U0BOB") is None
    unknown = await refusal(client.views_publish(user_id="U0GHOST", view=HOME))
    assert unknown["error"] == "user_not_found"


async def test_a_home_view_is_not_a_modal(fake: FakeSlack, client: AsyncWebClient) -> None:
    refused = await refusal(
        client.views_publish(user_id="U0ALICE", view={**HOME, "submit": plain("Go")})
    )
    assert refused["error"] == "invalid_arguments"
    assert refused["response_metadata"]["messages"] == [
        "[ERROR] a home view cannot have submit or close [json-pointer:/view/submit]"
    ]
    as_modal = await refusal(
        client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=HOME)
    )
    assert as_modal["error"] == "invalid_arguments"


async def test_views_reach_the_console_state_and_feed(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    events = fake.subscribe()
    await client.views_publish(user_id="U0ALICE", view=HOME)
    event = events.get_nowait()
    assert event["type"] == "views_changed" and event["user"] == "U0ALICE"
    assert event["views"]["home"]["view"]["blocks"][0]["text"]["text"] == "*Waiting for you*"
    snapshot = fake.snapshot()
    assert snapshot["views"]["U0ALICE"]["modals"] == []
    assert snapshot["views"]["U0ALICE"]["home"]["kind"] == "home"
    assert snapshot["shortcuts"][0]["callback_id"] == "request_change"
    fake.unsubscribe(events)


# -- chat.getPermalink -----------------------------------------------------------------------


async def test_permalinks_point_at_messages_and_thread_replies(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel="C0APPROVALS", text="Change request")
    reply = await client.chat_postMessage(
        channel="C0APPROVALS", text="Approved", thread_ts=parent["ts"]
    )
    link = await client.chat_getPermalink(channel="C0APPROVALS", message_ts=parent["ts"])
    assert link["channel"] == "C0APPROVALS"
    assert link["permalink"] == f"{fake.url}/archives/C0APPROVALS/p1700000000000100"
    threaded = await client.chat_getPermalink(channel="C0APPROVALS", message_ts=reply["ts"])
    assert threaded["permalink"] == (
        f"{fake.url}/archives/C0APPROVALS/p1700000000000200"
        f"?thread_ts={parent['ts']}&cid=C0APPROVALS"
    )
    missing = await refusal(client.chat_getPermalink(channel="C0APPROVALS", message_ts="1.2"))
    assert missing["error"] == "message_not_found"
    nowhere = await refusal(client.chat_getPermalink(channel="C0NOWHERE", message_ts=parent["ts"]))
    assert nowhere["error"] == "channel_not_found"

    async with (
        aiohttp.ClientSession() as session,
        session.get(threaded["permalink"], allow_redirects=False) as opened,
    ):
        assert opened.status == 302
        assert opened.headers["Location"] == (
            f"/?channel=C0APPROVALS&ts={reply['ts']}&thread={parent['ts']}"
        )
