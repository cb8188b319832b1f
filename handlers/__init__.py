"""Thin Slack listeners: parse, ack, hand over to the core. Registered by one function.

A listener acks first (Slack's 3-second rule), turns the payload into a typed object and spawns
one core call on `Services.tasks`; it never talks to the API or the store itself and never lets
an exception escape (Bolt would discard the ack).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import actions, commands, forms, home


def register(app: AsyncApp, services: Services) -> None:
    """Attach every fpbot listener to ``app``."""
    commands.register(app, services)
    actions.register(app, services)
    forms.register(app, services)
    home.register(app, services)
