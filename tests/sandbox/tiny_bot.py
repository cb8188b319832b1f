"""A tiny Bolt app that answers forms, menus, shortcuts and the Home tab the way fpbot does.

The driver tests (``test_slack_forms.py``) and the console's browser test use it as the bot on
the other side of the fake Slack: it opens a form with the ``trigger_id`` it is given, filters
an external select's options by what was typed, refuses a submission with field errors, updates,
pushes or clears the modal as told, and publishes a Home tab with a button.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import FakeSlack

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0FPBOT-1-test"
SECRET = "test-signing-secret"

ENVIRONMENTS = {"ae_prod": "Production", "ae_stag": "Staging EU", "ae_dev": "Development"}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def option(value: str, text: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def request_form(**extra: Any) -> dict[str, Any]:
    """The form a person fills in to ask for a change: a typeahead, a menu and a text."""
    return {
        "type": "modal",
        "callback_id": "request_change",
        "private_metadata": "C0OPS",
        "notify_on_close": True,
        "title": plain("Request a change"),
        "submit": plain("Request"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "env",
                "label": plain("Environment"),
                "element": {
                    "type": "external_select",
                    "action_id": "env_pick",
                    "min_query_length": 0,
                    "placeholder": plain("Search environments"),
                },
            },
            {
                "type": "input",
                "block_id": "kind",
                "label": plain("Change"),
                "element": {
                    "type": "static_select",
                    "action_id": "kind_pick",
                    "options": [option("rename", "Rename"), option("delete", "Delete")],
                    "initial_option": option("rename", "Rename"),
                },
            },
            {
                "type": "input",
                "block_id": "reason",
                "label": plain("Reason"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason_text",
                    "multiline": True,
                    "max_length": 200,
                },
            },
            {
                "type": "actions",
                "block_id": "tools",
                "elements": [
                    {"type": "button", "action_id": "preview", "text": plain("Preview")},
                ],
            },
        ],
        **extra,
    }


def confirm_view() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "confirm",
        "title": plain("Sure?"),
        "submit": plain("Yes"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Really?"}}],
    }


def home_view(user: str) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain("Your requests")},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Nothing pending for <@{user}>"},
                "accessory": {
                    "type": "button",
                    "action_id": "new_request",
                    "text": plain("New request"),
                },
            },
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Updated just now"}]},
        ],
    }


LISTING_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "section",
        "block_id": "row_ae_prod",
        "text": {"type": "mrkdwn", "text": "*Production* `ae_prod`"},
        "accessory": {
            "type": "overflow",
            "action_id": "row_menu",
            "options": [option("rename:ae_prod", "Rename…"), option("delete:ae_prod", "Delete…")],
        },
    },
    {
        "type": "actions",
        "block_id": "filters",
        "elements": [
            {
                "type": "static_select",
                "action_id": "status_filter",
                "placeholder": plain("Status"),
                "options": [option("enabled", "Enabled"), option("disabled", "Disabled")],
            },
            {"type": "external_select", "action_id": "env_filter", "placeholder": plain("Env")},
        ],
    },
]


class Bot:
    """What the tiny app received, by listener."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}

    def got(self, name: str, body: dict[str, Any]) -> None:
        self.received.setdefault(name, []).append(body)

    def bodies(self, name: str) -> list[dict[str, Any]]:
        return self.received.get(name, [])


def build_app(fake: FakeSlack, bot: Bot, *, socket: bool) -> AsyncApp:
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    app = AsyncApp(client=client, signing_secret=None if socket else SECRET)

    @app.command("/fp")
    async def command(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        bot.got("command", body)
        await client.views_open(trigger_id=body["trigger_id"], view=request_form())

    @app.shortcut("request_change")
    async def shortcut(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        bot.got("shortcut", body)
        await client.views_open(trigger_id=body["trigger_id"], view=request_form())

    @app.options("env_pick")
    async def environments(ack: Any, body: dict[str, Any]) -> None:
        bot.got("options", body)
        typed = body["value"].lower()
        await ack(
            options=[
                option(env_id, name)
                for env_id, name in ENVIRONMENTS.items()
                if typed in name.lower()
            ]
        )

    @app.options("env_filter")
    async def grouped(ack: Any, body: dict[str, Any]) -> None:
        bot.got("options", body)
        await ack(option_groups=[{"label": plain("All"), "options": [option("ae_dev", "Dev")]}])

    @app.view("request_change")
    async def submitted(ack: Any, body: dict[str, Any]) -> None:
        bot.got("submission", body)
        reason = body["view"]["state"]["values"]["reason"]["reason_text"]["value"]
        if reason == "short":
            await ack(response_action="errors", errors={"reason": "Say a little more"})
        elif reason == "update":
            await ack(response_action="update", view=request_form(title=plain("Try again")))
        elif reason == "push":
            await ack(response_action="push", view=confirm_view())
        elif reason == "clear":
            await ack(response_action="clear")
        else:
            await ack()

    @app.view("confirm")
    async def confirmed(ack: Any, body: dict[str, Any]) -> None:
        bot.got("confirm", body)
        await ack(response_action="clear")

    @app.view_closed("request_change")
    async def closed(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        bot.got("closed", body)

    @app.action("preview")
    async def preview(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        bot.got("preview", body)
        await client.views_push(trigger_id=body["trigger_id"], view=confirm_view())

    @app.event("app_home_opened")
    async def home_opened(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        bot.got("home_opened", body)
        await client.views_publish(user_id=event["user"], view=home_view(event["user"]))

    @app.action("new_request")
    async def new_request(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        bot.got("new_request", body)
        await client.views_open(trigger_id=body["trigger_id"], view=request_form())

    @app.action("row_menu")
    async def row_menu(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        bot.got("row_menu", body)

    @app.action("status_filter")
    async def status_filter(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        bot.got("status_filter", body)

    @app.action("env_filter")
    async def env_filter(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        bot.got("env_filter", body)

    return app
