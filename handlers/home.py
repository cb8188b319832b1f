"""App Home: a person opened fpbot's tab; publish it (the core decides what it shows)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.log import get_logger
from bot.services import Services

log = get_logger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        try:
            services.home.opened(str(event["user"]))
        except Exception:
            log.exception("home_not_started")
