"""The driver plays Slack's side of forms, menus, shortcuts and the Home tab toward a Bolt app.

A tiny Bolt app answers the way fpbot's handlers do (open a form with the ``trigger_id``, filter
an external select's options by what was typed, refuse a submission with field errors…), over
HTTP and over Socket Mode alike: the payloads must be ones Bolt routes to the right listener,
and the fake must then do what Slack does with each answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import FakeSlack, NotSubmittable, RecordedMessage, SlackDriver
from tests.sandbox.tiny_bot import (
    APP_TOKEN,
    LISTING_BLOCKS,
    SECRET,
    TOKEN,
    Bot,
    build_app,
    confirm_view,
    option,
    plain,
    request_form,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=TOKEN, app_token=APP_TOKEN) as f:
        yield f


@pytest.fixture(params=["http", "socket"])
async def driver(request: pytest.FixtureRequest, fake: FakeSlack) -> AsyncIterator[SlackDriver]:
    """The driver toward the tiny app, over HTTP and over Socket Mode."""
    bot = Bot()
    socket = request.param == "socket"
    app = build_app(fake, bot, socket=socket)
    if socket:
        handler = AsyncSocketModeHandler(app, APP_TOKEN)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await fake.socket.wait_for_connections()
        driver = fake.connect_socket_bot()
    else:
        runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        driver = fake.connect_bot(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events", SECRET)
    driver.bot = bot  # type: ignore[attr-defined]
    yield driver
    if socket:
        await handler.close_async()  # type: ignore[no-untyped-call]
    else:
        await runner.cleanup()


def bot_of(driver: SlackDriver) -> Bot:
    bot: Bot = driver.bot  # type: ignore[attr-defined]
    return bot


async def open_form(fake: FakeSlack, driver: SlackDriver, user: str = "U0ALICE") -> None:
    answer = await driver.command("", user=user, channel="C0OPS")
    assert answer.status == 200
    await fake.wait_for(lambda: fake.modal(user) is not None, what=f"a form for {user}")


async def post_listing(fake: FakeSlack) -> RecordedMessage:
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    posted = await client.chat_postMessage(
        channel="C0OPS", text="Environments", blocks=LISTING_BLOCKS
    )
    message = fake.message("C0OPS", posted["ts"])
    assert message is not None
    return message


# -- forms ---------------------------------------------------------------------------------------


async def test_a_command_opens_a_form_for_its_user(fake: FakeSlack, driver: SlackDriver) -> None:
    await open_form(fake, driver)
    modal = fake.modal("U0ALICE")
    assert modal is not None and modal.callback_id == "request_change"
    assert fake.modal("U0BOB") is None and fake.violations == []


async def test_a_global_shortcut_has_a_trigger_but_no_channel(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    answer = await driver.shortcut("request_change", user="U0BOB")
    assert answer.status == 200
    await fake.wait_for(lambda: fake.modal("U0BOB") is not None)
    (body,) = bot_of(driver).bodies("shortcut")
    assert body["type"] == "shortcut" and body["callback_id"] == "request_change"
    assert body["trigger_id"] and body["user"]["id"] == "U0BOB"
    assert "channel" not in body and "response_url" not in body
    assert fake.violations == []


async def test_suggestions_follow_what_is_typed(fake: FakeSlack, driver: SlackDriver) -> None:
    await open_form(fake, driver)
    answer = await driver.suggest("env_pick", "st", user="U0ALICE")
    assert answer.body == {"options": [option("ae_stag", "Staging EU")]}
    everything = await driver.suggest("env_pick", "", user="U0ALICE")
    assert len(everything.body["options"]) == 3
    (first, _) = bot_of(driver).bodies("options")
    assert first["type"] == "block_suggestion" and first["value"] == "st"
    assert first["block_id"] == "env" and first["action_id"] == "env_pick"
    modal = fake.modal("U0ALICE")
    assert modal is not None and first["container"] == {"type": "view", "view_id": modal.id}
    assert first["view"]["id"] == modal.id
    assert modal.suggestions["env_pick"] == everything.body
    assert fake.violations == []


async def test_a_submission_carries_the_state_slack_keeps(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    await open_form(fake, driver)
    await driver.suggest("env_pick", "prod", user="U0ALICE")
    answer = await driver.submit_view(
        user="U0ALICE", values={"env_pick": "ae_prod", "reason_text": "Quarterly clean-up"}
    )
    assert answer.status == 200
    (body,) = bot_of(driver).bodies("submission")
    assert body["type"] == "view_submission" and body["trigger_id"]
    view = body["view"]
    assert view["callback_id"] == "request_change" and view["private_metadata"] == "C0OPS"
    assert view["hash"] and view["id"]
    assert view["state"]["values"] == {
        "env": {
            "env_pick": {
                "type": "external_select",
                "selected_option": option("ae_prod", "Production"),
            }
        },
        "kind": {
            "kind_pick": {"type": "static_select", "selected_option": option("rename", "Rename")}
        },
        "reason": {"reason_text": {"type": "plain_text_input", "value": "Quarterly clean-up"}},
    }
    assert fake.modal("U0ALICE") is None, "an empty ack closes the form"
    assert fake.violations == []


async def test_errors_keep_the_form_open_with_a_text_under_the_field(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    await open_form(fake, driver)
    await driver.suggest("env_pick", "", user="U0ALICE")
    await driver.submit_view(user="U0ALICE", values={"env_pick": "ae_dev", "reason_text": "short"})
    modal = fake.modal("U0ALICE")
    assert modal is not None and modal.errors == {"reason": "Say a little more"}
    await driver.submit_view(user="U0ALICE", values={"reason_text": "A proper reason"})
    assert fake.modal("U0ALICE") is None and fake.violations == []
    second = bot_of(driver).bodies("submission")[1]
    assert second["view"]["state"]["values"]["env"]["env_pick"]["selected_option"]["value"] == (
        "ae_dev"
    ), "what was entered before stays entered"


async def test_update_push_and_clear_change_the_stack(fake: FakeSlack, driver: SlackDriver) -> None:
    await open_form(fake, driver)
    values = {"env_pick": {"text": plain("Production"), "value": "ae_prod"}}
    await driver.submit_view(user="U0ALICE", values={**values, "reason_text": "update"})
    modal = fake.modal("U0ALICE")
    assert modal is not None and modal.view["title"]["text"] == "Try again"
    assert len(fake.modal_stack("U0ALICE")) == 1

    await driver.submit_view(user="U0ALICE", values={"reason_text": "push"})
    assert [v.callback_id for v in fake.modal_stack("U0ALICE")] == ["request_change", "confirm"]
    await driver.submit_view(user="U0ALICE")
    assert fake.modal_stack("U0ALICE") == [], "clear closes every view"
    assert bot_of(driver).bodies("confirm")[0]["view"]["root_view_id"] == modal.id
    assert fake.violations == []


async def test_slack_refuses_to_submit_an_incomplete_form(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    await open_form(fake, driver)
    with pytest.raises(NotSubmittable) as refused:
        await driver.submit_view(user="U0ALICE", values={"reason_text": "x" * 201})
    assert refused.value.errors == {
        "env": "Please complete this required field.",
        "reason": "Please enter no more than 200 characters.",
    }
    with pytest.raises(LookupError):
        await driver.submit_view(user="U0ALICE", values={"env_pick": "ae_unknown"})
    assert bot_of(driver).bodies("submission") == []


async def test_closing_tells_the_app_only_when_it_asked(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    await open_form(fake, driver)
    answer = await driver.close_view(user="U0ALICE")
    assert answer is not None and answer.status == 200
    (body,) = bot_of(driver).bodies("closed")
    assert body["type"] == "view_closed" and body["is_cleared"] is False
    assert fake.modal("U0ALICE") is None
    with pytest.raises(LookupError):
        await driver.close_view(user="U0ALICE")


async def test_a_button_in_a_form_sends_the_view_and_no_response_url(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    await open_form(fake, driver)
    modal = fake.modal("U0ALICE")
    assert modal is not None
    await driver.click(modal, "preview", user="U0ALICE", values={"reason_text": "draft"})
    await fake.wait_for(lambda: len(fake.modal_stack("U0ALICE")) == 2)
    (body,) = bot_of(driver).bodies("preview")
    assert body["container"] == {"type": "view", "view_id": modal.id}
    assert "response_url" not in body and "message" not in body
    assert body["view"]["state"]["values"]["reason"]["reason_text"]["value"] == "draft"
    with pytest.raises(ValueError):
        await driver.click(modal, "preview", user="U0BOB")
    closed = await driver.close_view(user="U0ALICE")
    assert closed is None, "the confirmation view does not ask to be told"
    assert [v.callback_id for v in fake.modal_stack("U0ALICE")] == ["request_change"]


async def test_choosing_in_a_form_input_sends_nothing(fake: FakeSlack, driver: SlackDriver) -> None:
    await open_form(fake, driver)
    modal = fake.modal("U0ALICE")
    assert modal is not None
    assert await driver.choose(modal, "kind_pick", "delete", user="U0ALICE") is None
    assert modal.state_values()["kind"]["kind_pick"]["selected_option"]["value"] == "delete"


# -- the Home tab ---------------------------------------------------------------------------------


async def test_the_home_tab_is_published_when_opened_and_its_buttons_work(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    answer = await driver.open_home(user="U0ALICE")
    assert answer.status == 200
    await fake.wait_for(lambda: fake.home("U0ALICE") is not None)
    (first,) = bot_of(driver).bodies("home_opened")
    assert first["type"] == "event_callback" and first["event_id"]
    event = first["event"]
    assert event["type"] == "app_home_opened" and event["tab"] == "home"
    assert event["user"] == "U0ALICE" and event["channel"] == fake.dm_channel("U0ALICE")
    assert "view" not in event, "nothing was published before"

    home = fake.home("U0ALICE")
    assert home is not None
    await driver.open_home(user="U0ALICE")
    await fake.wait_for(lambda: len(bot_of(driver).bodies("home_opened")) == 2)
    assert bot_of(driver).bodies("home_opened")[1]["event"]["view"]["id"] == home.id

    await driver.click(home, "new_request", user="U0ALICE")
    await fake.wait_for(lambda: fake.modal("U0ALICE") is not None)
    (click,) = bot_of(driver).bodies("new_request")
    assert click["container"] == {"type": "view", "view_id": home.id}
    assert click["view"]["type"] == "home" and "response_url" not in click
    assert fake.violations == []


# -- menus in messages ----------------------------------------------------------------------------


async def test_an_overflow_choice_arrives_as_selected_option(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    listing = await post_listing(fake)
    await driver.choose(listing, "row_menu", "delete:ae_prod", user="U0BOB")
    (body,) = bot_of(driver).bodies("row_menu")
    (action,) = body["actions"]
    assert action["type"] == "overflow" and action["block_id"] == "row_ae_prod"
    assert action["selected_option"] == option("delete:ae_prod", "Delete…")
    assert body["container"]["message_ts"] == listing.ts and body["response_url"]
    with pytest.raises(LookupError):
        await driver.choose(listing, "row_menu", "archive:ae_prod", user="U0BOB")


async def test_selects_in_a_message_carry_their_choice_and_state(
    fake: FakeSlack, driver: SlackDriver
) -> None:
    listing = await post_listing(fake)
    await driver.choose(listing, "status_filter", "disabled", user="U0BOB")
    (body,) = bot_of(driver).bodies("status_filter")
    assert body["actions"][0]["selected_option"]["value"] == "disabled"
    assert body["state"]["values"]["filters"]["status_filter"]["selected_option"]["value"] == (
        "disabled"
    )

    with pytest.raises(ValueError):
        await driver.suggest("env_filter", "de", user="U0BOB", message=listing)
    answer = await driver.suggest("env_filter", "dev", user="U0BOB", message=listing)
    assert answer.body["option_groups"][0]["options"] == [option("ae_dev", "Dev")]
    suggestion = bot_of(driver).bodies("options")[0]
    assert suggestion["container"]["type"] == "message" and suggestion["channel"]["id"] == "C0OPS"
    await driver.choose(listing, "env_filter", "ae_dev", user="U0BOB")
    assert bot_of(driver).bodies("env_filter")[0]["actions"][0]["selected_option"]["value"] == (
        "ae_dev"
    )
    assert fake.violations == []


# -- answers Slack would not take --------------------------------------------------------------

Serve = Callable[..., Awaitable[SlackDriver]]


@pytest.fixture
async def raw_bot(fake: FakeSlack) -> AsyncIterator[Serve]:
    """A bot that answers every interaction with what a test returns for its payload."""
    runners: list[web.AppRunner] = []

    async def serve(answer: Callable[[dict[str, Any]], Any], delay: float = 0.0) -> SlackDriver:
        async def handle(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            await asyncio.sleep(delay)
            reply = answer(json.loads(str(form["payload"])))
            return web.json_response(reply) if isinstance(reply, dict) else web.Response(text=reply)

        app = web.Application()
        app.router.add_post("/slack/events", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return fake.connect_bot(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events", SECRET)

    yield serve
    for runner in runners:
        await runner.cleanup()


async def open_directly(fake: FakeSlack, view: dict[str, Any]) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    await client.views_open(trigger_id=fake.new_trigger_id("U0ALICE"), view=view)


@pytest.mark.parametrize(
    ("answer", "violation"),
    [
        pytest.param({"response_action": "errors", "errors": {"tools": "x"}}, "not input blocks"),
        pytest.param({"response_action": "errors", "errors": {}}, "without errors"),
        pytest.param("Thanks!", "not a view response"),
        pytest.param(
            {"response_action": "update", "view": {**confirm_view(), "title": plain("t" * 25)}},
            "/title/text",
        ),
        pytest.param({"response_action": "push"}, "a view is required"),
    ],
)
async def test_a_submission_answer_slack_rejects_is_a_violation(
    fake: FakeSlack, raw_bot: Serve, answer: Any, violation: str
) -> None:
    driver = await raw_bot(lambda payload: answer)
    await open_directly(fake, request_form())
    await driver.submit_view(
        user="U0ALICE",
        values={"env_pick": option("ae_dev", "Dev"), "reason_text": "because"},
    )
    assert any(violation in v for v in fake.violations), fake.violations
    assert fake.modal("U0ALICE") is not None, "the form stays open"


async def test_too_many_options_are_a_violation(fake: FakeSlack, raw_bot: Serve) -> None:
    many = {"options": [option(f"v{i}", f"Option {i}") for i in range(101)]}
    driver = await raw_bot(lambda payload: many)
    await open_directly(fake, request_form())
    await driver.suggest("env_pick", "", user="U0ALICE")
    assert any("no more than 100" in v for v in fake.violations)
    modal = fake.modal("U0ALICE")
    assert modal is not None and modal.suggestions == {}


async def test_a_fourth_view_pushed_from_an_answer_is_refused(
    fake: FakeSlack, raw_bot: Serve
) -> None:
    driver = await raw_bot(lambda payload: {"response_action": "push", "view": confirm_view()})
    await open_directly(fake, confirm_view())
    for _ in range(3):
        await driver.submit_view(user="U0ALICE")
    assert len(fake.modal_stack("U0ALICE")) == 3
    assert any("push_limit_reached" in v for v in fake.violations)


async def test_a_slow_submission_ack_keeps_the_form_and_is_a_violation(
    fake: FakeSlack, raw_bot: Serve
) -> None:
    driver = await raw_bot(lambda payload: "", delay=0.2)
    driver.ack_deadline = 0.05
    await open_directly(fake, confirm_view())
    answer = await driver.submit_view(user="U0ALICE")
    assert answer.timed_out and fake.modal("U0ALICE") is not None
    assert "not acknowledged" in fake.violations[0]
