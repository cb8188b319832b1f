"""Shared checks of rendered messages: Slack's limits and what a reader can see.

Uses the fake Slack's own checker (``sandbox.slack.limits``) and adds what it does not
look at: lengths counted in UTF-16 units (an emoji counts 2) and the total size of a
message's blocks, which Slack refuses past roughly 12k characters (``msg_blocks_too_long``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.render.blocks import MESSAGE_CHARS, Message, text_len
from sandbox.slack.limits import check_message

_LIMITS = {"section": 3000, "header": 150, "context": 3000}


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def problems(message: Message) -> list[str]:
    """Every reason Slack could refuse ``message``."""
    found = list(check_message(message.as_payload()))
    if not message.text.strip():
        found.append("empty fallback text")
    if text_len(message.text) > 3000:
        found.append("fallback text over 3000")
    size = text_len(json.dumps(message.blocks, ensure_ascii=False, separators=(",", ":")))
    if size > MESSAGE_CHARS:
        found.append(f"blocks total {size} > {MESSAGE_CHARS}")
    for index, block in enumerate(message.blocks):
        limit = _LIMITS.get(block.get("type", ""))
        text = block.get("text", {}).get("text") if isinstance(block.get("text"), dict) else None
        if limit and text is not None and text_len(text) > limit:
            found.append(f"block {index}: text of {text_len(text)} UTF-16 units > {limit}")
        for field in block.get("fields", []):
            if text_len(field["text"]) > 2000:
                found.append(f"block {index}: field over 2000 UTF-16 units")
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn" and text_len(element["text"]) > 3000:
                found.append(f"block {index}: context element over 3000")
    for text in _texts(message.blocks):
        if not text.strip():
            found.append("empty text object")
    return found


def assert_within_limits(messages: Iterable[Message]) -> None:
    for number, message in enumerate(messages, start=1):
        assert problems(message) == [], f"message {number}"


def visible_text(messages: Iterable[Message]) -> str:
    """Everything a reader (or a notification) could see, fallback included."""
    parts: list[str] = []
    for message in messages:
        parts.append(message.text)
        parts.extend(_texts(message.blocks))
    return "\n".join(parts)


def dump(messages: Iterable[Message]) -> str:
    """The raw payloads, to assert that something appears nowhere at all."""
    return json.dumps([m.as_payload() for m in messages], ensure_ascii=False)


def buttons(message: Message) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]
