"""The Slack app manifest matches what fpbot listens for and Slack's manifest rules: a command,
a shortcut or an event the bot handles but the manifest omits would never arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.commands import SLASH_COMMAND
from bot.render import ids

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def test_the_command_the_shortcut_and_the_home_tab_are_all_declared(
    manifest: dict[str, Any],
) -> None:
    features = manifest["features"]
    assert [c["command"] for c in features["slash_commands"]] == [SLASH_COMMAND]
    assert [s["callback_id"] for s in features["shortcuts"]] == [ids.SHORTCUT]
    assert features["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_every_interaction_reaches_the_one_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = {
        settings["interactivity"]["request_url"],
        settings["interactivity"]["message_menu_options_url"],
        settings["event_subscriptions"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    }
    assert urls == {"https://YOUR-HOST/slack/events"}


def test_shortcuts_keep_to_slacks_lengths(manifest: dict[str, Any]) -> None:
    for shortcut in manifest["features"]["shortcuts"]:
        assert len(shortcut["name"]) <= 24
        assert 1 <= len(shortcut["description"]) <= 150
        assert shortcut["type"] == "global"
