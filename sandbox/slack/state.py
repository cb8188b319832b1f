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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.slack.views import Kind, RecordedView, elements, find_element

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
#: A modal holds at most three views: the one opened and two pushed on top.
MAX_VIEW_STACK = 3

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
class Trigger:
    """A minted ``trigger_id``: for whom, when, and whether a view was opened with it yet."""

    user: str | None
    minted_at: float
    used: bool = False


def find_button(
    message: RecordedMessage | dict[str, Any], action_id: str, *, offering: str | None = None
) -> dict[str, Any] | None:
    """The interactive element with ``action_id`` in a message, with its ``block_id`` added.

    Looks in ``actions`` blocks, section accessories and input blocks, where elements live;
    ``offering`` picks among repeated ones (`sandbox.slack.views.find_element`).
    """
    blocks = message.blocks if isinstance(message, RecordedMessage) else message.get("blocks", [])
    found = find_element(blocks or [], action_id, offering=offering)
    if found is None:
        return None
    block, element = found
    copied = copy.deepcopy(element)
    copied.setdefault("block_id", block.get("block_id"))
    return copied


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
        #: Every view ever opened, pushed or published, in order (updated in place).
        self.views: list[RecordedView] = []
        #: Each person's open modal: its views, the root first and the one shown last.
        self.modal_stacks: dict[str | None, list[RecordedView]] = {}
        #: Each person's Home tab, as last published.
        self.homes: dict[str, RecordedView] = {}
        #: The app's last options for an external select in a message: (channel, ts, action_id).
        self.message_suggestions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.triggers: dict[str, Trigger] = {}
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

    # -- views --------------------------------------------------------------------------------

    def open_modal(self, user: str | None, view: dict[str, Any]) -> RecordedView:
        """Open a new modal for ``user``; one they had open is gone (Slack shows one at a time)."""
        for old in self.modal_stacks.pop(user, []):
            old.closed = True
        recorded = self._new_view("modal", user, view)
        recorded.root_view_id = recorded.id
        self.modal_stacks[user] = [recorded]
        self._views_changed(user)
        return recorded

    def push_modal(self, user: str | None, view: dict[str, Any]) -> RecordedView:
        """Push a view on ``user``'s open modal (the caller checked the stack has room)."""
        stack = self.modal_stacks[user]
        recorded = self._new_view("modal", user, view)
        recorded.root_view_id = stack[0].id
        recorded.previous_view_id = stack[-1].id
        stack.append(recorded)
        self._views_changed(user)
        return recorded

    def publish_home(self, user: str, view: dict[str, Any]) -> RecordedView:
        """Publish ``user``'s Home tab: the same view id each time, new content and hash."""
        home = self.homes.get(user)
        if home is None:
            home = self.homes[user] = self._new_view("home", user, view)
            self._views_changed(user)
            return home
        return self.replace_view(home, view)

    def replace_view(self, recorded: RecordedView, view: dict[str, Any]) -> RecordedView:
        """New content for a live view (``views.update``, ``response_action: update``).

        What was entered in an input that keeps its ``block_id`` and ``action_id`` survives, as
        in Slack; the app's error texts go, and the hash changes.
        """
        recorded.view = self._with_view_ids(view)
        kept = {
            (block["block_id"], element["action_id"])
            for block, element in elements(recorded.view["blocks"])
        }
        recorded.values = {
            block_id: {a: v for a, v in actions.items() if (block_id, a) in kept}
            for block_id, actions in recorded.values.items()
        }
        recorded.errors = {}
        recorded.hash = self._next_hash()
        self._views_changed(recorded.user)
        return recorded

    def close_modal_views(
        self, user: str | None, *, count: int | None = None
    ) -> list[RecordedView]:
        """Close the top ``count`` views of ``user``'s modal (all of them if ``None``)."""
        stack = self.modal_stacks.get(user, [])
        closing = stack[-count:] if count else list(stack)
        del stack[len(stack) - len(closing) :]
        for recorded in closing:
            recorded.closed = True
        if not stack:
            self.modal_stacks.pop(user, None)
        self._views_changed(user)
        return closing

    def view_changed(self, recorded: RecordedView) -> None:
        """Tell the listeners that what a person sees of ``recorded`` changed (errors, input)."""
        self._views_changed(recorded.user)

    def modal_stack(self, user: str | None) -> list[RecordedView]:
        """``user``'s open modal views, root first (empty when none is open)."""
        return list(self.modal_stacks.get(user, []))

    def find_view(
        self, view_id: str | None = None, external_id: str | None = None
    ) -> RecordedView | None:
        """A live view (an open modal's, or a Home tab) by its id or the app's external_id."""
        live = [v for stack in self.modal_stacks.values() for v in stack] + list(
            self.homes.values()
        )
        for recorded in live:
            if (view_id and recorded.id == view_id) or (
                external_id and recorded.external_id == external_id
            ):
                return recorded
        return None

    def views_of(self, user: str) -> dict[str, Any]:
        """What ``user`` sees of the app's views, JSON-ready: their modal stack and Home tab."""
        home = self.homes.get(user)
        return {
            "modals": [v.to_dict() for v in self.modal_stacks.get(user, [])],
            "home": home.to_dict() if home else None,
        }

    def _new_view(self, kind: Kind, user: str | None, view: dict[str, Any]) -> RecordedView:
        recorded = RecordedView(
            id=self.next_id("V"),
            kind=kind,
            user=user,
            view=self._with_view_ids(view),
            at=self.clock(),
            hash=self._next_hash(),
            team_id=TEAM_ID,
            app_id=APP_ID,
            bot_id=BOT_ID,
        )
        self.views.append(recorded)
        return recorded

    def _next_hash(self) -> str:
        return f"1700000000.{next(self._id_counter):08x}"

    def _with_view_ids(self, view: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``view`` where every block and element has an id, as Slack gives them."""
        view = copy.deepcopy(view)
        view["blocks"] = self._with_block_ids(list(view.get("blocks") or []))
        for _, element in elements(view["blocks"]):
            element.setdefault("action_id", f"a{next(self._id_counter):05d}")
        return view

    def _views_changed(self, user: str | None) -> None:
        if user is not None:
            self._emit(
                lambda: {"type": "views_changed", "user": user, "views": self.views_of(user)}
            )

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

    def mint_trigger_id(self, user: str | None = None) -> str:
        """A ``trigger_id`` that can open one modal for ``user`` within three seconds."""
        trigger = f"{next(self._id_counter)}.{TEAM_ID[1:]}.sandbox"
        self.triggers[trigger] = Trigger(user=user, minted_at=self.clock())
        return trigger

    def trigger_refusal(self, trigger: str) -> str | None:
        """Slack's error for a ``trigger_id`` that cannot open a view now, else ``None``."""
        minted = self.triggers.get(trigger)
        if minted is None:
            return "invalid_trigger_id"
        if minted.used:
            return "exchanged_trigger_id"
        if self.clock() - minted.minted_at > TRIGGER_LIFETIME_S:
            return "expired_trigger_id"
        return None

    def spend_trigger_id(self, trigger: str) -> str | None:
        """Mark a valid ``trigger_id`` used; answers for whom it was minted."""
        minted = self.triggers[trigger]
        minted.used = True
        return minted.user

    # -- live updates -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every message created, changed or deleted, every change to a
        person's views (``views_changed``), and every violation."""
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
