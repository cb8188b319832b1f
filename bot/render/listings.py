"""Listings posted to the channel: environments, API keys, webhooks — and the layout the other
listings share (`paged`, `with_menus`, `row_menu`, `empty_listing`, `join_parts`, `status_part`).

A listing is complete or it is an error: every item appears exactly once, one compact line
each, packed into sections and split across as many messages as Slack's limits require —
nothing is ever dropped. Secrets are never read here — not a public key's
token either — so no listing can leak one.

A listing of up to `ROW_MENUS_UP_TO` items gives each row its own ⋯ menu of the changes the
person who asked for it may request (Rename, Enable or Disable, Rotate, Delete), which opens
that change's form with the row already picked. A row with a menu is a section of its own, and
a message holds fifty: beyond that many items the rows are packed, a few dozen to a section,
and the listing says how to change one (menus would cost one message per 48 rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.fingerprint.models import ApiKey, Environment, LimitMode, Status, Webhook
from bot.render import ids
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    block_size,
    bold,
    channel,
    code,
    context,
    date,
    fallback,
    header,
    inline,
    mention,
    option,
    overflow,
    paginate,
    paginate_lines,
    section,
)

# Bounds of one item's parts, in escaped characters. A 255-character name is shown whole
# unless it is mostly ``&<>``; together the parts stay under one section's 3,000.
NAME_MAX = 1300
DESCRIPTION_MAX = 1300
ID_MAX = 150
ENV_NAME_MAX = 300

SEPARATOR = " · "
WORKSPACE_WIDE = "_workspace-wide_"
#: Listings this long or shorter give each row its ⋯ menu.
ROW_MENUS_UP_TO = 150
ROWS_PACKED = (
    "To change one of these, type its command without arguments (`/fp envs rename`) or "
    "`/fp new`: the form's menus find it by name or id."
)

#: The ⋯ menu's entries, by the change command (class name) each opens; the row's kind
#: decides which apply.
Menus = frozenset[str]


def paged(
    title: str,
    lines: Sequence[str],
    intro: Sequence[Block] = (),
    menus: Sequence[dict[str, Any] | None] | None = None,
) -> list[Message]:
    """Lay ``lines`` out as sections and split them into messages under one header.

    The first message carries ``intro`` (e.g. the filters); later ones say which part they
    are, "(continued, 2/3)", so a reader scrolling the channel knows nothing is missing. With
    ``menus`` (one per line, or ``None`` for a line without), each line is a section with its
    menu.
    """
    widest_header = header("x" * 150)
    reserve = block_size(widest_header) + sum(block_size(b) for b in intro)
    max_blocks, max_chars = MAX_BLOCKS - 1 - len(intro), MESSAGE_CHARS - reserve
    if menus is not None:
        rows = [section(line, accessory=menu) for line, menu in zip(lines, menus, strict=True)]
        pages = paginate(rows, max_blocks=max_blocks, max_chars=max_chars)
    else:
        pages = paginate_lines(lines, max_blocks=max_blocks, max_chars=max_chars)
    messages: list[Message] = []
    for number, page in enumerate(pages, start=1):
        if number == 1:
            title_line = title
            head = [header(title_line), *intro]
        else:
            title_line = f"{title} (continued, {number}/{len(pages)})"
            head = [header(title_line)]
        messages.append(Message(text=fallback(title_line), blocks=[*head, *page]))
    return messages


def with_menus(
    title: str,
    lines: Sequence[str],
    menus: Sequence[dict[str, Any] | None],
    intro: Sequence[Block] = (),
) -> list[Message]:
    """Rows with their ⋯ menus when the listing is short enough and the person may change
    something; packed rows, with a word on how to change one, otherwise."""
    if not any(menus):
        return paged(title, lines, intro)
    if len(lines) <= ROW_MENUS_UP_TO:
        return paged(title, lines, intro, menus)
    return paged(title, lines, [*intro, context(ROWS_PACKED)])


def row_menu(entries: Sequence[tuple[str, str, str]], allowed: Menus) -> dict[str, Any] | None:
    """A row's ⋯ menu: (label, change command, value) entries the person may use."""
    options = [option(label, value) for label, change, value in entries if change in allowed]
    return overflow(ids.ROW_MENU, options) if options else None


def _environment_menu(env: Environment, allowed: Menus) -> dict[str, Any] | None:
    return row_menu(
        [
            ("Rename", "RenameEnv", f"RenameEnv:{env.id}"),
            ("Delete", "DeleteEnv", f"DeleteEnv:{env.id}"),
        ],
        allowed,
    )


_FLIP = {Status.ENABLED: "Enable", Status.DISABLED: "Disable"}


def flip_entry(change: str, resource_id: str, status: Status | None) -> tuple[str, str, str]:
    """A ⋯ menu's Enable or Disable entry: the opposite of ``status``, for ``change``."""
    to = Status.ENABLED if status is Status.DISABLED else Status.DISABLED
    return (_FLIP[to], change, f"{change}:{resource_id}:{to.value}")


def _key_menu(key: ApiKey, allowed: Menus) -> dict[str, Any] | None:
    return row_menu(
        [
            ("Rename", "RenameKey", f"RenameKey:{key.id}"),
            flip_entry("SetKeyStatus", key.id, key.status),
            ("Rotate", "RotateKey", f"RotateKey:{key.id}"),
            ("Delete", "DeleteKey", f"DeleteKey:{key.id}"),
        ],
        allowed,
    )


def _webhook_menu(hook: Webhook, allowed: Menus) -> dict[str, Any] | None:
    verify = [] if hook.verified else [("Verify", "VerifyWebhook", f"VerifyWebhook:{hook.id}")]
    return row_menu(
        [
            ("Change", "UpdateWebhook", f"UpdateWebhook:{hook.id}"),
            flip_entry("SetWebhookStatus", hook.id, hook.status),
            *verify,
            ("Delete", "DeleteWebhook", f"DeleteWebhook:{hook.id}"),
        ],
        allowed,
    )


def empty_listing(text: str) -> list[Message]:
    """A listing with nothing in it: one line saying so, never an empty message."""
    return [Message(text=fallback(text), blocks=[section(f":information_source: {text}")])]


def join_parts(parts: Sequence[str | None]) -> str:
    """One row from its parts, the missing ones left out."""
    return SEPARATOR.join(p for p in parts if p)


def _description(text: str | None) -> str | None:
    return inline(text, DESCRIPTION_MAX) if text and text.strip() else None


def _created(item: ApiKey | Environment | Webhook) -> str | None:
    return f"created {date(item.created_at, time=False)}" if item.created_at else None


def _limit(env: Environment) -> str | None:
    parts: list[str] = []
    if env.limit_mode not in (None, LimitMode.NONE) and env.limit_value:
        parts.append(f"limit {env.limit_value:,} ({env.limit_mode})")
    if env.is_restricted:
        since = f" since {date(env.restricted_at, time=False)}" if env.restricted_at else ""
        parts.append(f":no_entry: *restricted*{since}")
    return SEPARATOR.join(parts) or None


def _environment_line(env: Environment) -> str:
    return "• " + join_parts(
        [
            bold(env.name, NAME_MAX),
            code(env.id, ID_MAX),
            _created(env),
            _limit(env),
            _description(env.description),
        ]
    )


def render_environments(
    envs: Sequence[Environment], *, menus: Menus = frozenset()
) -> list[Message]:
    """Every environment, sorted by name (case-insensitive), one line each.

    Args:
        menus: the changes (command class names) the rows' ⋯ menus may offer.

    Returns:
        One message when the listing fits, otherwise several in order.
    """
    if not envs:
        return empty_listing("No environments in this Fingerprint workspace yet.")
    ordered = sorted(envs, key=lambda e: (e.name.casefold(), e.name, e.id))
    return with_menus(
        f"Environments ({len(envs)})",
        [_environment_line(e) for e in ordered],
        [_environment_menu(e, menus) for e in ordered],
    )


def _environment_label(env_id: str | None, env_names: Mapping[str, str]) -> tuple[str, str]:
    """(sort key, mrkdwn) of the environment an item belongs to: its name when known, the
    bare id when the listing does not know it, "workspace-wide" when there is none."""
    if env_id is None:
        return ("", WORKSPACE_WIDE)
    name = env_names.get(env_id)
    if name is None:
        return (env_id.casefold(), code(env_id, ID_MAX))
    return (name.casefold(), inline(name, ENV_NAME_MAX))


def status_part(status: Status | None) -> str | None:
    """A row's status: a disabled item stands out, an unknown status says nothing."""
    if status is Status.DISABLED:
        return ":no_entry_sign: *disabled*"
    return "enabled" if status is Status.ENABLED else None


def _key_line(key: ApiKey, env_names: Mapping[str, str]) -> str:
    _, env_label = _environment_label(key.environment, env_names)
    return "• " + join_parts(
        [
            bold(key.name, NAME_MAX),
            code(key.id, ID_MAX),
            key.type.value if key.type else None,
            status_part(key.status),
            env_label,
            _created(key),
            _description(key.description),
        ]
    )


def _environment_order(env_id: str | None, env_names: Mapping[str, str]) -> tuple[bool, str]:
    """Workspace-wide items first, then by environment name (case-insensitive)."""
    env_sort, _ = _environment_label(env_id, env_names)
    return (env_id is not None, env_sort)


def render_api_keys(
    keys: Sequence[ApiKey],
    env_names: Mapping[str, str],
    *,
    filters: str = "",
    menus: Menus = frozenset(),
) -> list[Message]:
    """API keys sorted by environment name then key name; tokens are never shown.

    Args:
        keys: the keys to list (already filtered by the caller).
        env_names: environment id → name, so readers see names rather than ids.
        filters: the options the caller typed, echoed so the reader knows the list is partial.
    """
    filters = filters.strip()
    if not keys:
        suffix = f" match {inline(filters, 500)}" if filters else " in this workspace"
        return empty_listing(f"No API keys{suffix}.")
    intro = [context(f"Filters: {inline(filters, 1000)}")] if filters else []
    ordered = sorted(
        keys,
        key=lambda k: (*_environment_order(k.environment, env_names), k.name.casefold(), k.id),
    )
    lines = [_key_line(k, env_names) for k in ordered]
    return with_menus(
        f"API keys ({len(keys)})", lines, [_key_menu(k, menus) for k in ordered], intro
    )


def _webhook_line(hook: Webhook, env_names: Mapping[str, str]) -> str:
    _, env_label = _environment_label(hook.environment, env_names)
    verified = None if hook.verified is None else ("verified" if hook.verified else "not verified")
    return "• " + join_parts(
        [
            code(hook.url, NAME_MAX),
            code(hook.id, ID_MAX),
            status_part(hook.status),
            verified,
            env_label,
            _created(hook),
            _description(hook.description),
        ]
    )


def render_webhooks(
    hooks: Sequence[Webhook], env_names: Mapping[str, str], *, menus: Menus = frozenset()
) -> list[Message]:
    """Webhooks sorted by environment name then URL; signing keys are never shown."""
    if not hooks:
        return empty_listing("No webhooks in this workspace.")
    ordered = sorted(
        hooks,
        key=lambda h: (*_environment_order(h.environment, env_names), h.url.casefold(), h.id),
    )
    lines = [_webhook_line(h, env_names) for h in ordered]
    return with_menus(f"Webhooks ({len(hooks)})", lines, [_webhook_menu(h, menus) for h in ordered])


def render_fetching(what: str) -> Message:
    """The placeholder posted at once ("Fetching environments…"); the result replaces it."""
    text = f"Fetching {inline(what, 200)}…"
    return Message(text=fallback(text), blocks=[context(f":hourglass_flowing_sand: {text}")])


def render_fetch_failed(what: str, user_id: str) -> Message:
    """What the "Fetching…" placeholder becomes when the listing failed; the person who asked
    gets the details privately."""
    text = f":no_entry: Could not fetch {inline(what, 200)}; {mention(user_id)} has the details."
    return Message(text=fallback(text), blocks=[section(text)])


#: ``chat.postMessage`` errors meaning the bot may not post in the channel.
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def _messages(n: int) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"


def render_listing_incomplete(
    *,
    what: str,
    channel_id: str,
    missing: int,
    total: int,
    sent_by_dm: int,
    refused: str,
    correlation_id: str,
) -> Message:
    """Parts of a listing the channel would not take: how many, where they went, how to fix.

    Args:
        what: the listing ("environments").
        missing: how many of its ``total`` messages the channel refused.
        sent_by_dm: how many of the missing ones reached the person by direct message.
        refused: Slack's error code for the channel post.
    """
    lines = [
        f":warning: This listing of {inline(what, 200)} is incomplete in {channel(channel_id)}: "
        f"{missing} of its {total} messages could not be posted there "
        f"(Slack said {code(refused or 'unknown_error', 100)})."
    ]
    if sent_by_dm == missing:
        lines.append(f"The missing {_messages(missing)} went to you by direct message.")
    elif sent_by_dm:
        lines.append(
            f"{_messages(sent_by_dm)} went to you by direct message; "
            f"the last {_messages(missing - sent_by_dm)} could not be delivered at all."
        )
    else:
        lines.append("They could not be sent to you by direct message either.")
    if refused in NOT_A_MEMBER:
        lines.append(
            "To get whole listings here, invite @fpbot to this channel "
            "(`/invite @fpbot`) and run the command again."
        )
    elif sent_by_dm < missing:
        lines.append("Please run the command again in a minute.")
    lines.append(f"Correlation id: {code(correlation_id, 100)}.")
    text = " ".join(lines)
    return Message(text=fallback(text), blocks=[section(text)])
