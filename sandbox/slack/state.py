"""What the fake Slack remembers: the workspace, every API call, every message, every mistake.

This room is pure (no HTTP, no asyncio): the server in `sandbox.slack.server` translates requests
into calls on `SlackState`, and tests read the same state back through `FakeSlack`'s queries.
Keeping it free of I/O lets the recording rules (timestamps, edits, deletions, ``response_url``
budgets) be read and tested on their own.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

#: Identity of the workspace and of the bot the fake plays host to.
TEAM_ID = "T0FPBOT"
TEAM_DOMAIN = "fpbot-sandbox"
APP_ID = "A0FPBOT"
BOT_ID = "B0FPBOT"
BOT_USER_ID = "U0FPBOT"

#: Slack's ``response_url`` budget: five posts, within thirty minutes of minting.
RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_LIFETIME_S = 30 * 60
#: A ``trigger_id`` opens one modal, within three seconds.
TRIGGER_LIFETIME_S = 3.0

#: Where a message came from: the Web API, a ``response_url``, or the HTTP answer to a command.
Via = Literal["api", "response_url", "ack"]

Listener = Callable[[dict[str, Any]], None]

DEFAULT_USERS: dict[str, dict[str, str]] = {
    "U0ALICE": {"name": "alice", "real_name": "Alice Martin", "tz": "Europe/Paris"},
    "U0BOB": {"name": "bob", "real_name": "Bob Chen", "tz": "America/New_York"},
    "W0CAROL": {"name": "carol", "real_name": "Carol Diaz", "tz": "UTC"},
}
DEFAULT_USERGROUPS: dict[str, list[str]] = {"S0LEADS": ["U0ALICE", "W0CAROL"]}
DEFAULT_CHANNELS: dict[str, str] = {
    "C0OPS": "ops",
    "C0APPROVALS": "approvals",
    "C0ALERTS": "alerts",
}


@dataclass
class RecordedMessage:
    """One message as Slack holds it, including the ones only one person can see.

    ``ephemeral_for`` is the only reader of an ephemeral message (``None`` for a message the whole
    channel sees); ``edited`` counts in-place edits; a deleted message stays recorded with
    ``deleted=True`` so tests can tell "deleted" from "never posted".
    """

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    via: Via
    thread_ts: str | None = None
    ephemeral_for: str | None = None
    edited: int = 0
    deleted: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = 0.0

    @property
    def is_ephemeral(self) -> bool:
        """Whether only one person sees this message (Slack cannot ``chat.update`` it)."""
        return self.ephemeral_for is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, for the console and for event subscribers."""
        return {
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
            "attachments": copy.deepcopy(self.attachments),
            "ephemeral_for": self.ephemeral_for,
            "edited": self.edited,
            "deleted": self.deleted,
            "via": self.via,
        }

    def as_slack_message(self) -> dict[str, Any]:
        """The ``message`` object Slack embeds in API answers and ``block_actions`` payloads."""
        message: dict[str, Any] = {
            "type": "message",
            "text": self.text,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self.ts,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.attachments:
            message["attachments"] = copy.deepcopy(self.attachments)
        if self.edited:
            message["edited"] = {"user": BOT_USER_ID, "ts": self.ts}
        return message


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the fake answered it (``error`` is ``None`` when ``ok`` was true)."""

    method: str
    args: dict[str, Any]
    at: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether Slack answered ``ok: true``."""
        return self.error is None


@dataclass
class ResponseUrl:
    """A minted ``response_url``: whom it answers, which message it may replace, how often used."""

    id: str
    channel: str
    user: str
    source_ts: str | None
    minted_at: float
    #: True when minted for a click: the clicked message stays "the original" for good.
    bound_to_click: bool
    posts: list[float] = field(default_factory=list)


@dataclass
class RecordedView:
    """A modal opened or a Home tab published, with its checked payload."""

    id: str
    kind: Literal["modal", "home"]
    user: str | None
    view: dict[str, Any]
    at: float


def find_button(message: RecordedMessage | dict[str, Any], action_id: str) -> dict[str, Any] | None:
    """The interactive element with ``action_id`` in a message, with its ``block_id`` added.

    Looks in ``actions`` blocks and in section accessories, which is where buttons live.
    """
    blocks = message.blocks if isinstance(message, RecordedMessage) else message.get("blocks", [])
    for block in blocks or []:
        for element in _interactive_elements(block):
            if element.get("action_id") == action_id:
                found = copy.deepcopy(element)
                found.setdefault("block_id", block.get("block_id"))
                return found
    return None


def _interactive_elements(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not isinstance(block, dict):
        return
    for element in block.get("elements", []) if block.get("type") == "actions" else []:
        if isinstance(element, dict):
            yield element
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        yield accessory


class SlackState:
    """The workspace, and the record of everything the bot made Slack do.

    Timestamps are deterministic (``1700000000.000100``, ``…000200``, …) so that test failures
    read the same on every run; ``clock`` measures the real passage of time for expiry rules and
    can be replaced by tests that need thirty minutes to pass instantly.
    """

    def __init__(
        self,
        *,
        users: dict[str, dict[str, str]],
        usergroups: dict[str, list[str]],
        channels: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = {uid: dict(info) for uid, info in users.items()}
        self.usergroups = {gid: list(members) for gid, members in usergroups.items()}
        self.channels = dict(channels)
        self.clock = clock
        self.dm_channels: dict[str, str] = {}
        self.messages: list[RecordedMessage] = []
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.views: list[RecordedView] = []
        self.response_urls: dict[str, ResponseUrl] = {}
        self.triggers: dict[str, float | None] = {}
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._listeners: list[Listener] = []

    # -- identities ---------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A fresh, strictly increasing Slack timestamp (``seconds.micros``)."""
        micros = 1_700_000_000_000_000 + 100 * next(self._ts_counter)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        """A fresh opaque id (for views, ``response_url`` paths and trigger ids)."""
        return f"{prefix}{next(self._id_counter):06d}"

    def dm_channel(self, user: str) -> str:
        """The user's direct-message channel with the bot: stable, ``D`` + the user id."""
        channel = self.dm_channels.get(user)
        if channel is None:
            channel = f"D{user}"
            self.dm_channels[user] = channel
        return channel

    def dm_owner(self, channel: str) -> str | None:
        """Whose DM channel ``channel`` is, if it is one."""
        for user, dm in self.dm_channels.items():
            if dm == channel:
                return user
        return None

    def knows_channel(self, channel: str) -> bool:
        """Whether a message can be posted to ``channel`` (a named channel or an opened DM)."""
        return channel in self.channels or self.dm_owner(channel) is not None

    def channel_name(self, channel: str) -> str:
        """The name Slack sends as ``channel_name`` (``directmessage`` for a DM)."""
        return self.channels.get(channel, "directmessage")

    # -- recording ----------------------------------------------------------------------------

    def record_call(self, method: str, args: dict[str, Any], error: str | None) -> RecordedCall:
        """Remember one Web API call and how it was answered."""
        call = RecordedCall(method=method, args=args, at=self.clock(), error=error)
        self.calls.append(call)
        return call

    def record_violation(self, text: str) -> None:
        """Remember a rule the bot broke; tests assert there are none."""
        self.violations.append(text)
        self._emit(lambda: {"type": "violation", "text": text})

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        via: Via,
        thread_ts: str | None = None,
        ephemeral_for: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> RecordedMessage:
        """Record a new message; Slack fills in a ``block_id`` for blocks sent without one."""
        message = RecordedMessage(
            channel=channel,
            ts=self.next_ts(),
            text=text,
            blocks=self._with_block_ids(blocks),
            via=via,
            thread_ts=thread_ts,
            ephemeral_for=ephemeral_for,
            attachments=copy.deepcopy(attachments or []),
            created_at=self.clock(),
        )
        self.messages.append(message)
        self._emit(lambda: {"type": "message_created", "message": message.to_dict()})
        return message

    def edit(
        self,
        message: RecordedMessage,
        *,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> RecordedMessage:
        """Edit a message in place: omitted parts keep their old value, as ``chat.update`` does."""
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self._with_block_ids(blocks)
        if attachments is not None:
            message.attachments = copy.deepcopy(attachments)
        message.edited += 1
        self._emit(lambda: {"type": "message_changed", "message": message.to_dict()})
        return message

    def delete(self, message: RecordedMessage) -> None:
        """Mark a message deleted (it stays in the record)."""
        message.deleted = True
        self._emit(lambda: {"type": "message_deleted", "message": message.to_dict()})

    def find_message(
        self, channel: str, ts: str, *, ephemeral_for: str | None = None
    ) -> RecordedMessage | None:
        """The live (not deleted) message at ``channel``/``ts``."""
        for message in self.messages:
            if (
                message.channel == channel
                and message.ts == ts
                and message.ephemeral_for == ephemeral_for
                and not message.deleted
            ):
                return message
        return None

    def record_view(
        self, kind: Literal["modal", "home"], user: str | None, view: dict[str, Any]
    ) -> RecordedView:
        """Remember an opened modal or a published Home tab."""
        recorded = RecordedView(
            id=self.next_id("V"), kind=kind, user=user, view=copy.deepcopy(view), at=self.clock()
        )
        self.views.append(recorded)
        return recorded

    # -- response_url and trigger_id ---------------------------------------------------------

    def mint_response_url(self, channel: str, user: str, source_ts: str | None) -> ResponseUrl:
        """A new ``response_url`` answering ``user`` in ``channel``."""
        minted = ResponseUrl(
            id=self.next_id("R"),
            channel=channel,
            user=user,
            source_ts=source_ts,
            minted_at=self.clock(),
            bound_to_click=source_ts is not None,
        )
        self.response_urls[minted.id] = minted
        return minted

    def response_url_refusal(self, url: ResponseUrl) -> str | None:
        """Why Slack would refuse one more post to ``url`` now (``None`` if it accepts it)."""
        if self.clock() - url.minted_at > RESPONSE_URL_LIFETIME_S:
            return "expired_url"
        if len(url.posts) >= RESPONSE_URL_MAX_POSTS:
            return "used_url"
        return None

    def mint_trigger_id(self) -> str:
        """A ``trigger_id`` that can open one modal within three seconds."""
        trigger = f"{next(self._id_counter)}.{TEAM_ID[1:]}.sandbox"
        self.triggers[trigger] = self.clock()
        return trigger

    def use_trigger_id(self, trigger: str) -> str | None:
        """Spend ``trigger``; answers Slack's error when it cannot be used, else ``None``."""
        if trigger not in self.triggers:
            return "invalid_trigger_id"
        minted = self.triggers[trigger]
        if minted is None or self.clock() - minted > TRIGGER_LIFETIME_S:
            return "expired_trigger_id"
        self.triggers[trigger] = None
        return None

    # -- live updates -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every message created, changed or deleted, and every violation."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: Callable[[], dict[str, Any]]) -> None:
        """Tell the listeners; the event is built only if someone listens (copying a message
        per post would make the fake, not the bot, the slow part of a benchmark)."""
        if not self._listeners:
            return
        built = event()
        for listener in list(self._listeners):
            listener(built)

    def _with_block_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The blocks were just parsed from a request body and belong to no one else: only
        # the top-level dicts that get an id are copied.
        return [
            {**block, "block_id": f"b{next(self._id_counter):05d}"}
            if isinstance(block, dict) and "block_id" not in block
            else block
            for block in blocks
        ]
