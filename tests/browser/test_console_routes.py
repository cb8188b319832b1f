"""The routes behind the sandbox console, without a browser: the page, commands, clicks, faults,
and the forms, menus, App Home and shortcuts (against the tiny Bolt app of the fake's tests).

These run with the rest of the suite (no Chromium needed) and pin the small HTTP contract that
``sandbox/slack/console/api.js`` relies on; ``test_console.py`` drives the page itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.run import SIGNING_SECRET, Sandbox
from sandbox.slack import FakeSlack
from tests.sandbox.tiny_bot import LISTING_BLOCKS, SECRET, TOKEN, Bot, build_app, option, plain


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(
        database_url=f"sqlite:///{tmp_path / 'fpbot.sqlite3'}", log_level="WARNING"
    ) as sandbox:
        yield sandbox


async def post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_the_page_and_its_modules_are_served(sandbox: Sandbox) -> None:
    status, kind, page = await get(sandbox.console_url)
    assert (status, kind) == (200, "text/html")
    assert '<script type="module" src="/console/console.js">' in page
    modules = ("console.js", "mrkdwn.js", "blocks.js", "faults.js", "composer.js", "forms.js")
    for module in (*modules, "dashboard.js"):
        status, kind, _ = await get(f"{sandbox.slack.url}/console/{module}")
        assert status == 200 and kind.endswith("/javascript"), (module, kind)
    status, kind, _ = await get(f"{sandbox.slack.url}/console/console.css")
    assert (status, kind) == (200, "text/css")


async def test_the_state_names_roles_purposes_and_when_messages_arrived(sandbox: Sandbox) -> None:
    status, answer = await post(
        f"{sandbox.slack.url}/_console/command",
        {"user": "U0APPROVER1", "channel": "C0OPS", "text": "/fp whoami"},
    )
    assert status == 200 and answer["ok"] is True
    await sandbox.slack.wait_for(lambda: bool(sandbox.slack.ephemerals("U0APPROVER1")))
    state = sandbox.slack.snapshot()
    assert state["console"]["roles"]["U0APPROVER1"] == ["approver", "viewer"]
    assert state["console"]["roles"]["U0OPERATOR"] == ["operator", "viewer"]
    assert "C0APPROVALS" in state["console"]["purposes"]
    (reply,) = state["messages"]
    assert reply["ephemeral_for"] == "U0APPROVER1"
    assert "approver" in reply["blocks"][0]["text"]["text"]
    assert isinstance(reply["posted_at"], float)


async def test_a_command_from_the_console_reaches_the_bot_signed(sandbox: Sandbox) -> None:
    url = f"{sandbox.slack.url}/_console/command"
    status, answer = await post(url, {"user": "U0VIEWER", "channel": "C0OPS", "text": "envs"})
    assert status == 200 and answer["ok"] is True and answer["error"] is None
    assert answer["elapsed_ms"] >= 0
    await sandbox.slack.wait_for(
        lambda: any("Environments" in m.text for m in sandbox.slack.channel_messages("C0OPS"))
    )
    assert sandbox.slack.violations == []


async def test_a_persona_may_type_in_its_own_dm_only(sandbox: Sandbox) -> None:
    url = f"{sandbox.slack.url}/_console/command"
    status, answer = await post(url, {"user": "U0VIEWER", "channel": "DU0VIEWER", "text": "help"})
    assert status == 200 and answer["ok"] is True
    status, answer = await post(url, {"user": "U0VIEWER", "channel": "DU0AUDITOR", "text": "help"})
    assert status == 400 and "channel" in answer["error"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"user": "U0NOBODY", "channel": "C0OPS", "text": "help"}, "unknown user"),
        ({"user": "U0VIEWER", "channel": "C0NOWHERE", "text": "help"}, "unknown channel"),
        (["not", "an", "object"], "JSON object"),
    ],
)
async def test_a_bad_command_request_is_refused(sandbox: Sandbox, body: Any, error: str) -> None:
    status, answer = await post(f"{sandbox.slack.url}/_console/command", body)
    assert status == 400 and answer["ok"] is False and error in answer["error"]


async def test_a_click_from_the_console_approves(sandbox: Sandbox) -> None:
    slack = sandbox.slack
    await post(
        f"{slack.url}/_console/command",
        {"user": "U0OPERATOR", "channel": "C0OPS", "text": "envs create Staging EU"},
    )
    await slack.wait_for(lambda: bool(slack.channel_messages("C0APPROVALS")))
    request = slack.channel_messages("C0APPROVALS")[0]
    click = {"channel": "C0APPROVALS", "ts": request.ts, "user": "U0APPROVER1"}

    status, answer = await post(f"{slack.url}/_console/click", {**click, "action_id": "nope"})
    assert status == 409 and "nope" in answer["error"]
    status, answer = await post(
        f"{slack.url}/_console/click", {**click, "ts": "1.000000", "action_id": "approve_request"}
    )
    assert status == 404

    status, answer = await post(
        f"{slack.url}/_console/click", {**click, "action_id": "approve_request"}
    )
    assert status == 200 and answer["ok"] is True
    await slack.wait_for(lambda: "Succeeded" in str(slack.message("C0APPROVALS", request.ts)))


async def test_a_bot_that_refuses_the_request_is_dispatch_failed(sandbox: Sandbox) -> None:
    assert sandbox.bot is not None
    sandbox.slack.connect_bot(sandbox.bot.url + "/slack/events", SIGNING_SECRET + "-wrong")
    status, answer = await post(
        f"{sandbox.slack.url}/_console/command",
        {"user": "U0VIEWER", "channel": "C0OPS", "text": "help"},
    )
    assert status == 200 and answer == {**answer, "ok": False, "error": "dispatch_failed"}


async def test_fault_routes_proxy_the_stand_in_api(sandbox: Sandbox) -> None:
    faults = f"{sandbox.slack.url}/_console/faults"
    status, _, text = await get(faults)
    assert status == 200 and '"latency": 0.0' in text

    status, knobs = await post(faults, {"latency": 2, "revoked": True})
    assert status == 200 and knobs["latency"] == 2 and knobs["revoked"] is True
    assert sandbox.fingerprint.faults.latency == 2 and sandbox.fingerprint.faults.revoked

    status, refusal = await post(faults, {"no_such_knob": 1})
    assert status == 400 and "no_such_knob" in refusal["error"]["message"]

    status, knobs = await post(f"{faults}/reset", None)
    assert status == 200 and knobs["latency"] == 0 and knobs["revoked"] is False


async def test_a_change_in_the_dashboard_is_made_in_the_stand_in_outside_fpbot(
    sandbox: Sandbox,
) -> None:
    route = f"{sandbox.slack.url}/_console/outside-change"
    workspace = sandbox.fingerprint.workspace
    env = next(e for e in workspace.environments.values() if not e.is_default)
    key = next(iter(workspace.api_keys.values()))
    calls = sandbox.fingerprint.count()

    status, answer = await post(route, {"example": "rename-environment"})
    assert status == 200 and env.name.endswith("(renamed in the dashboard)")
    assert answer["data"]["id"] == env.id and env.id in answer["said"]
    status, answer = await post(route, {"example": "rename-environment"})
    assert status == 200 and not env.name.endswith("(renamed in the dashboard)"), "named back"

    before = key.status
    status, answer = await post(route, {"example": "toggle-key"})
    assert status == 200 and key.status != before and key.id in answer["said"]

    status, answer = await post(
        route, {"resource": "webhooks", "op": "set", "id": "wh_nope", "fields": {}}
    )
    assert status == 404 and "wh_nope" in answer["error"]["message"]
    status, answer = await post(route, {"example": "paint-it-black"})
    assert status == 400 and "rename-environment" in answer["error"]["message"]
    assert sandbox.fingerprint.count() == calls, "not an API request: nothing for fpbot to see"


async def test_without_a_bot_or_an_api_the_routes_say_so() -> None:
    async with FakeSlack() as fake:
        status, answer = await post(f"{fake.url}/_console/faults/reset", None)
        assert status == 503 and "Management API" in answer["error"]
        status, answer = await post(f"{fake.url}/_console/outside-change", {"example": "x"})
        assert status == 503 and "Management API" in answer["error"]
        status, answer = await post(
            f"{fake.url}/_console/command", {"user": "U0ALICE", "channel": "C0OPS", "text": "help"}
        )
        assert status == 503 and "no bot" in answer["error"]


# -- forms, menus, the App Home and shortcuts (against the tiny Bolt app) ---------------------


@pytest.fixture
async def tiny() -> AsyncIterator[FakeSlack]:
    """The fake Slack with the tiny Bolt app of ``tests/sandbox/tiny_bot.py`` behind it."""
    async with FakeSlack(bot_token=TOKEN) as fake:
        app = build_app(fake, Bot(), socket=False)
        runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        fake.connect_bot(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events", SECRET)
        yield fake
        await runner.cleanup()


async def test_a_shortcut_opens_a_form_and_the_typeahead_answers(tiny: FakeSlack) -> None:
    status, answer = await post(
        f"{tiny.url}/_console/shortcut", {"user": "U0ALICE", "callback_id": "request_change"}
    )
    assert status == 200 and answer["ok"] is True and answer["sent"] is True
    await tiny.wait_for(lambda: tiny.modal("U0ALICE") is not None)
    modal = tiny.modal("U0ALICE")
    assert modal is not None
    status, answer = await post(
        f"{tiny.url}/_console/suggest",
        {"user": "U0ALICE", "view_id": modal.id, "action_id": "env_pick", "typed": "dev"},
    )
    assert status == 200 and answer["options"] == [option("ae_dev", "Development")]
    status, answer = await post(
        f"{tiny.url}/_console/suggest",
        {"user": "U0ALICE", "view_id": "V404", "action_id": "env_pick", "typed": "dev"},
    )
    assert status == 409


async def test_a_form_submitted_from_the_console(tiny: FakeSlack) -> None:
    await post(
        f"{tiny.url}/_console/shortcut", {"user": "U0ALICE", "callback_id": "request_change"}
    )
    await tiny.wait_for(lambda: tiny.modal("U0ALICE") is not None)
    modal = tiny.modal("U0ALICE")
    assert modal is not None
    submit = f"{tiny.url}/_console/view/submit"

    status, refused = await post(submit, {"user": "U0ALICE", "view_id": modal.id, "values": {}})
    assert status == 409 and set(refused["errors"]) == {"env", "reason"}

    chosen = {"env_pick": option("ae_prod", "Production")}
    values = {**chosen, "reason_text": "short", "kind_pick": "delete"}
    status, answer = await post(submit, {"user": "U0ALICE", "view_id": modal.id, "values": values})
    assert status == 200 and answer["ok"] is True
    assert tiny.state.views_of("U0ALICE")["modals"][0]["errors"] == {"reason": "Say a little more"}

    status, answer = await post(
        f"{tiny.url}/_console/view/choose",
        {"user": "U0ALICE", "view_id": modal.id, "action_id": "kind_pick", "value": "rename"},
    )
    assert status == 200 and answer["sent"] is False
    status, answer = await post(
        f"{tiny.url}/_console/view/click",
        {"user": "U0ALICE", "view_id": modal.id, "action_id": "preview", "values": {}},
    )
    assert status == 200 and answer["ok"] is True
    await tiny.wait_for(lambda: len(tiny.modal_stack("U0ALICE")) == 2)

    top = tiny.modal("U0ALICE")
    assert top is not None
    close = f"{tiny.url}/_console/view/close"
    status, _ = await post(close, {"user": "U0ALICE", "view_id": modal.id})
    assert status == 409, "only the view on top can be closed"
    status, answer = await post(close, {"user": "U0ALICE", "view_id": top.id})
    assert status == 200 and answer["sent"] is False
    status, answer = await post(
        submit, {"user": "U0ALICE", "view_id": modal.id, "values": {"reason_text": "A reason"}}
    )
    assert status == 200 and tiny.modal("U0ALICE") is None
    assert tiny.violations == []


async def test_the_home_tab_and_a_menu_in_a_message(tiny: FakeSlack) -> None:
    status, answer = await post(f"{tiny.url}/_console/home", {"user": "U0BOB"})
    assert status == 200 and answer["ok"] is True
    await tiny.wait_for(lambda: tiny.home("U0BOB") is not None)
    status, answer = await post(f"{tiny.url}/_console/home", {"user": "U0NOBODY"})
    assert status == 400

    client = AsyncWebClient(token=TOKEN, base_url=tiny.api_url)
    posted = await client.chat_postMessage(channel="C0OPS", text="Envs", blocks=LISTING_BLOCKS)
    choose = {"channel": "C0OPS", "ts": posted["ts"], "user": "U0BOB", "action_id": "row_menu"}
    status, answer = await post(
        f"{tiny.url}/_console/choose", {**choose, "value": "rename:ae_prod"}
    )
    assert status == 200 and answer["ok"] is True
    status, answer = await post(f"{tiny.url}/_console/choose", {**choose, "value": "nope"})
    assert status == 409 and "nope" in answer["error"]
    status, answer = await post(
        f"{tiny.url}/_console/suggest",
        {
            "channel": "C0OPS",
            "ts": posted["ts"],
            "user": "U0BOB",
            "action_id": "env_filter",
            "typed": "dev",
        },
    )
    assert status == 200 and answer["option_groups"][0]["label"] == plain("All")
