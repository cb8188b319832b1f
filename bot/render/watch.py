"""What the account watch says: the changes made outside fpbot, and the account's change log.

One message per pass of the watch, whatever it found: each change with its resource, id and
name, every field before → after, and the words "outside fpbot", with Acknowledge, Revert
and Keep. What someone decided is shown on the message, which is edited in place. A change
fpbot has no command to undo says so instead of offering a Revert that would fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.domain.account import (
    AccountChange,
    ChangeKind,
    Decision,
    FieldChange,
    LoggedChange,
    Resource,
    Source,
)
from bot.render import ids
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    actions,
    block_size,
    bold,
    button,
    code,
    context,
    date,
    fallback,
    fit_lines,
    header,
    inline,
    mention,
    section,
)

#: Changes of one message that get their own section and buttons; the rest are counted.
SHOWN = 12
VALUE_MAX = 300

NOUNS: Mapping[Resource, str] = {
    Resource.ENVIRONMENT: "Environment",
    Resource.API_KEY: "API key",
    Resource.WEBHOOK: "Webhook",
    Resource.FILTERING_RULE: "Filtering rule",
    Resource.ENCRYPTION_KEY: "Encryption key",
    Resource.SUBDOMAIN: "Subdomain",
}
#: The field a resource is named by, already said with its id (not repeated on a creation).
_NAMED_BY: Mapping[Resource, str] = {Resource.SUBDOMAIN: "hostname"}
#: Fields by the names a person knows them by.
FIELD_NAMES: Mapping[str, str] = {
    "limit_mode": "usage limit mode",
    "limit_value": "usage limit",
    "rate_limit": "rate limit",
    "url": "URL",
}


def field_name(name: str) -> str:
    return FIELD_NAMES.get(name, name.replace("_", " "))


def _value(value: str | None) -> str:
    return "_(none)_" if value is None else code(value, VALUE_MAX)


def field_line(change: FieldChange) -> str:
    """``name: `before` → `after```, for one field."""
    return f"{inline(field_name(change.field))}: {_value(change.before)} → {_value(change.after)}"


def subject(change: AccountChange) -> str:
    """The resource's id, then its name in bold; a subdomain's hostname, then its id (the
    hostname is what people know it by)."""
    if change.resource is Resource.SUBDOMAIN:
        return f"{code(change.name, 300)} ({code(change.id, 130)})"
    return f"{code(change.id, 130)} {bold(change.name, 300)}"


def _what(change: AccountChange) -> str:
    """``*API key* `tok_…` *Web*``."""
    return f"*{NOUNS[change.resource]}* {subject(change)}"


def _fields_text(change: AccountChange) -> str:
    if change.kind is ChangeKind.UPDATED:
        return "\n".join(f"• {field_line(f)}" for f in change.fields)
    named_by = _NAMED_BY.get(change.resource, "name")
    shown = [f for f in change.fields if f.field != named_by]
    values = ", ".join(
        f"{inline(field_name(f.field))} {_value(f.after if f.after is not None else f.before)}"
        for f in shown
    )
    return f"• {values}" if values else ""


def _decided(change: LoggedChange) -> str | None:
    if change.decision is None or change.decided_by is None or change.decided_at is None:
        return None
    who, when = mention(change.decided_by), date(change.decided_at)
    if change.decision is Decision.ACKNOWLEDGED:
        return f":eyes: Acknowledged by {who}, {when}."
    if change.decision is Decision.KEPT:
        return f":white_check_mark: Kept by {who}, {when}."
    request = f" as {code(change.revert_request, 40)}" if change.revert_request else ""
    return f":leftwards_arrow_with_hook: Revert requested by {who}{request}, {when}."


_TOKENED = frozenset({Resource.API_KEY, Resource.ENCRYPTION_KEY})


def cannot_undo(change: AccountChange, undoable: frozenset[str]) -> str | None:
    """Why fpbot cannot undo (all of) ``change``, or ``None`` when it can."""
    noun = NOUNS[change.resource].lower()
    if change.kind is ChangeKind.DELETED:
        return (
            f"fpbot cannot bring a deleted {noun} back (a new one would have another id"
            f"{' and token' if change.resource in _TOKENED else ''})."
        )
    if change.kind is ChangeKind.CREATED:
        return None if undoable else f"fpbot has no command to delete this {noun}."
    left = [f.field for f in change.fields if f.field not in undoable]
    if not left:
        return None
    names = ", ".join(field_name(f) for f in left)
    return (
        f"fpbot has no command to set {inline(names)} back; change it in Fingerprint's dashboard."
    )


def render_outside_changes(
    changes: Sequence[LoggedChange],
    *,
    undoable: Mapping[int, frozenset[str]],
) -> Message:
    """The changes one pass of the watch found made outside fpbot, as one message.

    Args:
        changes: what the pass found, in the change log (with any decisions taken since).
        undoable: for each change (by its number), the fields fpbot has a command to set back
            (a creation: any field means it can be deleted); empty: nothing to revert.
    """
    count = len(changes)
    title = "1 change made outside fpbot" if count == 1 else f"{count} changes made outside fpbot"
    blocks: list[Block] = [header(f":eyes: {title}")]
    for logged in changes[:SHOWN]:
        change = logged.change
        lines = [f"{_what(change)} {change.kind.value} outside fpbot"]
        if fields := _fields_text(change):
            lines.append(fields)
        blocks.append(section("\n".join(lines)))
        notes = []
        decided = _decided(logged)
        if decided:
            notes.append(decided)
        can = undoable.get(logged.id, frozenset())
        why_not = cannot_undo(change, can)
        if why_not and logged.decision in (None, Decision.ACKNOWLEDGED):
            notes.append(why_not)
        if notes:
            blocks.append(context(*notes))
        if logged.decision in (None, Decision.ACKNOWLEDGED):
            value = str(logged.id)
            elements = []
            if logged.decision is None:
                elements.append(button("Acknowledge", action_id=ids.OUTSIDE_ACK, value=value))
            if can and change.kind is not ChangeKind.DELETED:
                elements.append(
                    button("Revert", action_id=ids.OUTSIDE_REVERT, value=value, style="danger")
                )
            elements.append(button("Keep", action_id=ids.OUTSIDE_KEEP, value=value))
            blocks.append(actions(*elements, block_id=f"outside:{logged.id}"))
    if count > SHOWN:
        blocks.append(context(f"… and {count - SHOWN} more: `/fp changes` lists every one."))
    found = changes[0].at if changes else None
    blocks.append(
        context(
            "Found by fpbot's account watch"
            + (f" at {date(found)}" if found else "")
            + ". Fingerprint keeps no audit log, so who made it is not known. "
            "Revert asks for a change request, approved as any other."
        )
    )
    summary = "; ".join(_plain(c.change) for c in changes[:SHOWN])
    return Message(text=fallback(f"{title}: {summary}"), blocks=blocks)


def _plain(change: AccountChange) -> str:
    """One change in the fallback text: resource, id, name, fields before → after."""
    noun = NOUNS[change.resource].lower()
    what = f"{noun} {change.id} “{inline(change.name, 200)}” {change.kind.value}"
    if change.kind is not ChangeKind.UPDATED:
        return what
    fields = ", ".join(
        f"{field_name(f.field)} {inline(f.before or '(none)', 100)} → "
        f"{inline(f.after or '(none)', 100)}"
        for f in change.fields
    )
    return f"{what}: {fields}"


# ── answers to the buttons ──────────────────────────────────────────────────────────────────

#: Stored and shown instead of a value read from the account that looks like a secret.
HIDDEN_VALUE = "(hidden: it looks like a secret)"


def undo_reason(change_id: int) -> str:
    """The reason a Revert's change request gives (shown on its card and in the audit)."""
    return f"Undo a change made outside fpbot (#{change_id})"


def no_such_change(value: str) -> str:
    return f"There is no change made outside fpbot numbered {code(value, 40)}."


def already_decided(logged: LoggedChange) -> str:
    """A Keep or Revert on a change someone already decided about (mrkdwn)."""
    return _decided(logged) or "Someone already decided about this change."


def render_decided(logged: LoggedChange) -> Message:
    """The clicker's confirmation: what was recorded."""
    text = _decided(logged) or "Recorded."
    return Message(text=fallback(text), blocks=[section(text)])


# ── the change log ──────────────────────────────────────────────────────────────────────────


def _log_line(logged: LoggedChange) -> str:
    change = logged.change
    if logged.source is Source.FPBOT:
        who = "by fpbot"
        if logged.request_id:
            who += f" ({code(logged.request_id, 40)}"
            who += f", asked by {mention(logged.actor)})" if logged.actor else ")"
    else:
        who = "*outside fpbot*"
    head = f"• {date(logged.at)} · {_what(change)} {change.kind.value} {who}"
    parts = [head]
    if change.kind is ChangeKind.UPDATED and change.fields:
        parts.append("; ".join(_logged_field(logged, f) for f in change.fields))
    decided = _decided(logged)
    if decided:
        parts.append(decided)
    return " — ".join(parts)


def _logged_field(logged: LoggedChange, change: FieldChange) -> str:
    """A field fpbot set whose earlier value its request did not keep (a filtering rule's
    card shows the environment's rules instead) reads ``status set to `disabled```."""
    if logged.source is Source.FPBOT and change.before is None and change.after is not None:
        return f"{inline(field_name(change.field))} set to {_value(change.after)}"
    return field_line(change)


def render_change_log(
    entries: Sequence[LoggedChange],
    *,
    environment: str | None = None,
    since: datetime | None = None,
) -> Message:
    """The account's change log, newest first, in one ephemeral message."""
    scope = []
    if environment:
        scope.append(f"environment {code(environment, 130)}")
    if since:
        scope.append(f"since {date(since)}")
    where = f" ({', '.join(scope)})" if scope else ""
    if not entries:
        text = f"No changes in the log{where}."
        return Message(text=fallback(text), blocks=[section(f":information_source: {text}")])
    title = f"Changes to the account (last {len(entries)})"
    head = [header(title)]
    if where:
        head.append(context(f"Only{where}."))
    used = sum(block_size(b) for b in head)
    body = fit_lines(
        [_log_line(e) for e in entries],
        max_blocks=MAX_BLOCKS - len(head),
        max_chars=MESSAGE_CHARS - used,
        noun="more changes",
    )
    return Message(text=fallback(title), blocks=[*head, *body])
