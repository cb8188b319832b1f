"""Block Kit building bricks that cannot produce a message Slack would refuse.

Everything fpbot shows in Slack is built from these few builders. Each one enforces the limit
of the field it fills by clipping *safely*: never in
the middle of an ``&amp;`` entity or of a ``<…>`` token (mention, date, link), so a clipped text
still renders. Listings that may be long never clip: they split into several sections
(`pack_lines`) and several messages (`paginate`), so nothing is dropped.

Lengths are counted in UTF-16 code units, which is never less than the number of code points:
whichever way Slack counts, a text we accept is within its limit.

Besides the documented limits, Slack refuses a message whose blocks are too long in total
(``msg_blocks_too_long``, reported at roughly 11k to 13k characters, slackapi/bolt-js#2509 and
#2867); `paginate` therefore also bounds the serialised size of each message's blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Block = dict[str, Any]

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
CONTEXT_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
MAX_ACTION_ELEMENTS = 25
ID_LENGTH = 255
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
#: Fallback ``text`` of a message: Slack documents 40,000 but answers ``msg_too_long`` far
#: earlier (about 4,000); the fallback is a summary, so 3,000 is plenty.
FALLBACK_TEXT = 3000
#: Serialised size of one message's blocks (see the module docstring).
MESSAGE_CHARS = 12_000

ELLIPSIS = "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_BACKTICK_LOOKALIKE = "\u02cb"


@dataclass(frozen=True)
class Message:
    """One Slack message, independent of any SDK: a plain fallback and its blocks.

    Attributes:
        text: the fallback Slack shows in notifications and where blocks cannot be shown.
        blocks: Block Kit blocks as plain dicts, already within Slack's limits.
    """

    text: str
    blocks: list[Block]

    def as_payload(self) -> dict[str, Any]:
        """The ``text`` + ``blocks`` part of a Web API or ``response_url`` body."""
        return {"text": self.text, "blocks": self.blocks}


def text_len(text: str) -> int:
    """Length as Slack may count it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str) -> str:
    """Escape the three characters mrkdwn gives a meaning to; quotes stay as they are."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shorten already-formatted mrkdwn to ``limit`` units, ending with "…" when cut.

    The cut never splits an entity (every ``&`` in escaped text starts one) nor a ``<…>``
    token, so the result still renders as intended.
    """
    if text_len(text) <= limit:
        return text
    budget = limit - text_len(ELLIPSIS)
    used = end = 0
    while end < len(text):
        used += 2 if ord(text[end]) > 0xFFFF else 1
        if used > budget:
            break
        end += 1
    cut = text[:end]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt > cut.rfind(">"):
        cut = cut[:lt]
    return cut.rstrip() + ELLIPSIS


def inline(text: str, limit: int | None = None) -> str:
    """A user- or API-provided string made safe for one line of mrkdwn (for text that is
    already mrkdwn, see `one_line`).

    Control characters and line breaks become spaces (a name must not break a listing's
    one-line-per-item layout), then the text is escaped and, when ``limit`` is given, clipped.
    """
    flat = escape(_CONTROL.sub(" ", text))
    return flat if limit is None else clip(flat, limit)


def one_line(text: str, limit: int | None = None) -> str:
    """mrkdwn fpbot wrote itself (already escaped where it holds outside strings) on one line.

    For a change request's summary and error, execution messages, audit details and
    notification details: `bot.changes.actions` escapes the names inside them when it writes
    them, so escaping again here would show ``&amp;`` for ``&``. Line breaks become spaces and
    the text is clipped safely, never escaped.
    """
    flat = _CONTROL.sub(" ", text)
    return flat if limit is None else clip(flat, limit)


def code(text: str, limit: int | None = None) -> str:
    """An id or value in a code span. A backtick inside would end the span early, so it is
    replaced by a look-alike (U+02CB); ids never contain one in practice."""
    return f"`{inline(text, limit).replace('`', _BACKTICK_LOOKALIKE)}`"


def bold(text: str, limit: int | None = None) -> str:
    """A user- or API-provided string in bold."""
    return f"*{inline(text, limit)}*"


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything else (e.g. "fpbot") as escaped text."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else inline(user_id, 100)


def group(group_id: str) -> str:
    """``<!subteam^S…>`` for a Slack user group id; anything else as escaped text."""
    return f"<!subteam^{group_id}>" if _GROUP_ID.fullmatch(group_id) else inline(group_id, 100)


def people(ids: Iterable[str]) -> str:
    """Users as ``<@U…>`` and user groups as ``<!subteam^S…>``, joined with commas."""
    return ", ".join(group(i) if i.startswith("S") else mention(i) for i in ids)


def channel(channel_id: str) -> str:
    """``<#C…>`` for a Slack channel id; anything else as escaped text."""
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else inline(channel_id, 100)


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC: that is how the API and the store write them."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def date(moment: datetime, *, time: bool = True) -> str:
    """Slack date formatting, so every reader sees the moment in their own time zone.

    The fallback after ``|`` (ISO 8601, UTC) is what clients that cannot format dates show.
    """
    utc = _utc(moment)
    unix = int(utc.timestamp())
    if time:
        return f"<!date^{unix}^{{date_short_pretty}} {{time}}|{utc:%Y-%m-%dT%H:%MZ}>"
    return f"<!date^{unix}^{{date_short_pretty}}|{utc:%Y-%m-%d}>"


def fallback(text: str) -> str:
    """A message's plain ``text``, kept within `FALLBACK_TEXT`."""
    return clip(text, FALLBACK_TEXT)


def plain(text: str, limit: int) -> dict[str, Any]:
    """A ``plain_text`` object; plain text is shown literally, so it is not escaped."""
    return {"type": "plain_text", "text": clip(_CONTROL.sub(" ", text), limit), "emoji": True}


def mrkdwn(text: str, limit: int) -> dict[str, Any]:
    """A ``mrkdwn`` object; ``text`` must already be escaped where it holds outside strings."""
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _with_block_id(block: Block, block_id: str | None) -> Block:
    if block_id is not None:
        block["block_id"] = block_id[:ID_LENGTH]
    return block


def header(text: str) -> Block:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": plain(text, HEADER_TEXT)}


def section(
    text: str | None = None,
    *,
    fields: Sequence[str] = (),
    block_id: str | None = None,
    accessory: dict[str, Any] | None = None,
) -> Block:
    """A section of mrkdwn ``text`` and/or up to 10 ``fields`` (extra fields are dropped:
    callers with more use `field_sections`), with an ``accessory`` (a ⋯ menu, say)."""
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = mrkdwn(text or " ", SECTION_TEXT)
    if fields:
        block["fields"] = [mrkdwn(f or " ", FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    if accessory is not None:
        block["accessory"] = accessory
    return _with_block_id(block, block_id)


def field_sections(fields: Sequence[str]) -> list[Block]:
    """As many sections as ``fields`` need, ten fields each."""
    return [section(fields=fields[i : i + MAX_FIELDS]) for i in range(0, len(fields), MAX_FIELDS)]


def context(*texts: str) -> Block:
    """A context block: small grey mrkdwn lines, at most 10 elements."""
    elements = [mrkdwn(t or " ", CONTEXT_TEXT) for t in texts[:MAX_CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def divider() -> Block:
    return {"type": "divider"}


def confirm(
    title: str,
    text: str,
    *,
    ok: str = "Yes",
    cancel: str = "Cancel",
    style: Literal["danger", "primary"] = "danger",
) -> dict[str, Any]:
    """A confirmation dialog object for a button (title 100, text 300, labels 30)."""
    return {
        "title": plain(title, CONFIRM_TITLE),
        "text": mrkdwn(text, CONFIRM_TEXT),
        "confirm": plain(ok, CONFIRM_BUTTON),
        "deny": plain(cancel, CONFIRM_BUTTON),
        "style": style,
    }


def button(
    text: str,
    *,
    action_id: str,
    value: str,
    style: Literal["danger", "primary"] | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button element. Its ``value`` carries only an opaque id: state lives server-side."""
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT),
        "action_id": action_id[:ID_LENGTH],
        "value": value[:BUTTON_VALUE],
    }
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    """An actions block of at most 25 elements."""
    return _with_block_id(
        {"type": "actions", "elements": list(elements[:MAX_ACTION_ELEMENTS])}, block_id
    )


def _packed(lines: Iterable[str], limit: int) -> list[list[str]]:
    """The lines (each clipped to ``limit``) grouped as `pack_lines` joins them."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = clip(raw, limit)
        extra = text_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            groups.append(current)
            current, size = [], 0
            extra = text_len(line)
        current.append(line)
        size += extra
    if current:
        groups.append(current)
    return groups


def pack_lines(lines: Iterable[str], limit: int = SECTION_TEXT) -> list[str]:
    """Join mrkdwn lines into as few texts of at most ``limit`` units as possible.

    Lines are never split across texts; a single line longer than ``limit`` is clipped (item
    renderers bound their lines well below it, so this only guards against the absurd).
    """
    return ["\n".join(group) for group in _packed(lines, limit)]


#: Room kept for the closing "… and N more" context block of `fit_lines`.
_MORE_LINE_ROOM = 200


def fit_lines(
    lines: Sequence[str], *, max_blocks: int, max_chars: int, noun: str = "more"
) -> list[Block]:
    """Sections holding as many of ``lines`` as one message allows, then "… and N more".

    For replies that must stay one message (ephemeral ones cannot be followed up reliably):
    the first lines are kept whole, in order, and the rest are counted, never silently
    dropped.
    """
    budget = max_chars - _MORE_LINE_ROOM
    blocks: list[Block] = []
    used = shown = 0
    for group in _packed(lines, SECTION_TEXT):
        if len(blocks) + 2 > max_blocks:
            break
        taken = group
        block = section("\n".join(taken))
        while taken and used + block_size(block) > budget:
            taken = taken[:-1]
            block = section("\n".join(taken))
        if taken:
            blocks.append(block)
            used += block_size(block)
            shown += len(taken)
        if len(taken) < len(group):
            break
    if shown < len(lines):
        blocks.append(context(f"… and {len(lines) - shown:,} {noun}"))
    return blocks


def block_size(block: Block) -> int:
    """Serialised size of one block, as counted against `MESSAGE_CHARS`."""
    return text_len(json.dumps(block, ensure_ascii=False, separators=(",", ":")))


def paginate(
    blocks: Sequence[Block],
    max_blocks: int = MAX_BLOCKS,
    max_chars: int = MESSAGE_CHARS,
) -> list[list[Block]]:
    """Split blocks, in order, into pages that each fit one message.

    A page holds at most ``max_blocks`` blocks whose serialised size is at most
    ``max_chars`` (a single block larger than that still gets a page of its own). Nothing is
    dropped and the order is kept. No blocks give no pages.
    """
    pages: list[list[Block]] = []
    current: list[Block] = []
    size = 0
    for block in blocks:
        cost = block_size(block)
        if current and (len(current) >= max_blocks or size + cost > max_chars):
            pages.append(current)
            current, size = [], 0
        current.append(block)
        size += cost
    if current:
        pages.append(current)
    return pages


def paginate_lines(
    lines: Iterable[str],
    *,
    max_blocks: int = MAX_BLOCKS,
    max_chars: int = MESSAGE_CHARS,
) -> list[list[Block]]:
    """Lay lines out as sections, page by page, filling each page to its budget.

    Unlike `pack_lines` followed by `paginate`, a page's last section is cut to the room
    that is left rather than moved whole to the next page, so a long listing needs fewer
    messages. Lines stay whole and in order; each page is at most ``max_blocks`` sections
    and ``max_chars`` of serialised blocks.
    """
    overhead = block_size(section("x")) - len('"x"')  # a section's JSON around its text
    pages: list[list[Block]] = []
    page: list[Block] = []
    used = 0
    current: list[str] = []
    length = serialised = 0  # of the current section's text, raw and as JSON
    for raw in lines:
        line = clip(raw, SECTION_TEXT)
        line_json = _json_len(line)
        if current:
            grown, grown_json = length + 1 + text_len(line), serialised + 2 + line_json
            if grown <= SECTION_TEXT and used + overhead + grown_json <= max_chars:
                current.append(line)
                length, serialised = grown, grown_json
                continue
            page.append(section("\n".join(current)))
            used += overhead + serialised
        if page and (len(page) >= max_blocks or used + overhead + line_json > max_chars):
            pages.append(page)
            page, used = [], 0
        current, length, serialised = [line], text_len(line), line_json
    if current:
        page.append(section("\n".join(current)))
    if page:
        pages.append(page)
    return pages


def _json_len(text: str) -> int:
    """Length of ``text`` once serialised as a JSON string, without its quotes."""
    return text_len(json.dumps(text, ensure_ascii=False)) - 2


def message_size(blocks: Sequence[Block]) -> int:
    """Serialised size of a message's blocks."""
    return sum(block_size(b) for b in blocks)


# ── forms: views, inputs, menus ─────────────────────────────────────────────────────────────

MAX_VIEW_BLOCKS = 100
VIEW_TITLE = 24
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
MAX_OPTIONS = 100
MAX_OVERFLOW_OPTIONS = 5
INPUT_LABEL = 2000
PLACEHOLDER = 150
PRIVATE_METADATA = 3000


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    """A menu option (text 75, value 150, description 75); the value is an id, never cut."""
    if len(value) > OPTION_VALUE:
        raise ValueError(f"an option value longer than {OPTION_VALUE}: {value[:40]}…")
    item: dict[str, Any] = {"text": plain(text, OPTION_TEXT), "value": value}
    if description:
        item["description"] = plain(description, OPTION_DESCRIPTION)
    return item


def overflow(action_id: str, options: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A ⋯ menu of one to five options."""
    return {
        "type": "overflow",
        "action_id": action_id[:ID_LENGTH],
        "options": list(options[:MAX_OVERFLOW_OPTIONS]),
    }


def static_select(
    action_id: str,
    options: Sequence[dict[str, Any]],
    *,
    placeholder: str,
    initial: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id[:ID_LENGTH],
        "placeholder": plain(placeholder, PLACEHOLDER),
        "options": list(options[:MAX_OPTIONS]),
    }
    if initial is not None:
        element["initial_option"] = initial
    return element


def external_select(
    action_id: str,
    *,
    placeholder: str,
    initial: dict[str, Any] | None = None,
    min_query_length: int = 0,
) -> dict[str, Any]:
    """A menu whose options the bot gives as the person types (``block_suggestion``)."""
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": action_id[:ID_LENGTH],
        "placeholder": plain(placeholder, PLACEHOLDER),
        "min_query_length": min_query_length,
    }
    if initial is not None:
        element["initial_option"] = initial
    return element


def text_input(
    action_id: str,
    *,
    multiline: bool = False,
    max_length: int | None = None,
    initial: str | None = None,
    placeholder: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id[:ID_LENGTH],
        "multiline": multiline,
    }
    if max_length is not None:
        element["max_length"] = max_length
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder, PLACEHOLDER)
    return element


def input_block(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
    dispatch: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id[:ID_LENGTH],
        "label": plain(label, INPUT_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, INPUT_LABEL)
    if dispatch:
        block["dispatch_action"] = True
    return block


def modal(
    title: str,
    blocks: Sequence[Block],
    *,
    callback_id: str,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str = "",
) -> dict[str, Any]:
    """A modal view within Slack's limits (title 24, 100 blocks, metadata 3000)."""
    if len(private_metadata) > PRIVATE_METADATA:
        raise ValueError("private_metadata longer than Slack takes")
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id[:ID_LENGTH],
        "title": plain(title, VIEW_TITLE),
        "close": plain(close, VIEW_TITLE),
        "blocks": list(blocks[:MAX_VIEW_BLOCKS]),
        "private_metadata": private_metadata,
    }
    if submit is not None:
        view["submit"] = plain(submit, VIEW_TITLE)
    return view


def home(blocks: Sequence[Block]) -> dict[str, Any]:
    """An App Home view (100 blocks)."""
    return {"type": "home", "blocks": list(blocks[:MAX_VIEW_BLOCKS])}
