"""The digest: the account at a glance, once a day in the notifications channel (and on
``/fp digest``).

Counts against the plan's limits, what is switched off or unverified, what waits for approval
and for how long, and what changed in the last day — by fpbot and outside it. A part that
could not be read says so; the rest is still shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import ChangeRequest
from bot.domain.account import LoggedChange, Source
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    block_size,
    code,
    context,
    date,
    divider,
    fallback,
    fit_lines,
    header,
    inline,
    one_line,
    section,
)
from bot.render.watch import NOUNS, field_line, subject

#: Items listed per part; the rest are counted.
LISTED = 10


@dataclass(frozen=True, slots=True)
class DigestView:
    """What the digest shows; ``None`` counts could not be read (``unreadable`` says why).

    Attributes:
        rules_note: why filtering rules are not counted, when they are not.
    """

    now: datetime
    environments: int | None
    keys: int | None
    key_limit: int
    webhooks: int | None
    webhook_limit: int
    rules: int | None
    rule_limit: int
    rules_note: str | None
    disabled_keys: Sequence[tuple[str, str]]
    unverified_webhooks: Sequence[tuple[str, str]]
    pending: Sequence[ChangeRequest]
    changes: Sequence[LoggedChange]
    unreadable: str | None = None


RULES_NOT_COUNTED_2024 = (
    "not counted: API version 2024-05-20 has origin lists per environment, not rules"
)
RULES_UNREADABLE = "could not be read just now"


def waited(span: timedelta) -> str:
    """``2 d 3 h``, ``3 h 20 min``, ``12 min``: how long something has waited."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _count(count: int | None, limit: int) -> str:
    if count is None:
        return "—"
    warn = " :warning:" if count >= limit else ""
    return f"{count}/{limit}{warn}"


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:LISTED])
    more = len(items) - LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _change(logged: LoggedChange) -> str:
    change = logged.change
    who = "outside fpbot" if logged.source is Source.OUTSIDE else "by fpbot"
    line = (
        f"• {date(logged.at)} {NOUNS[change.resource]} {subject(change)} {change.kind.value} {who}"
    )
    if change.fields and change.kind.value == "updated":
        line += ": " + "; ".join(field_line(f) for f in change.fields)
    return line


def render_digest(view: DigestView) -> Message:
    """The digest as one message."""
    title = f"fpbot digest — {view.now:%Y-%m-%d}"
    blocks: list[Block] = [header(f":bar_chart: {title}")]
    if view.unreadable:
        blocks.append(context(f":warning: The account could not be read: {view.unreadable}"))
    rules = _count(view.rules, view.rule_limit) if view.rules_note is None else "—"
    blocks.append(
        section(
            fields=[
                f"*API keys*\n{_count(view.keys, view.key_limit)}",
                f"*Webhooks*\n{_count(view.webhooks, view.webhook_limit)}",
                f"*Filtering rules*\n{rules}",
                f"*Environments*\n{view.environments if view.environments is not None else '—'}",
            ]
        )
    )
    notes = []
    if view.rules_note:
        notes.append(f"Filtering rules {view.rules_note}.")
    notes.append("Limits are the default plan's; a larger plan may allow more.")
    blocks.append(context(" ".join(notes)))
    if view.unreadable is None:
        disabled = [f"{code(i, 130)} {inline(n, 100)}" for i, n in view.disabled_keys]
        unverified = [f"{code(i, 130)} {inline(u, 200)}" for i, u in view.unverified_webhooks]
        blocks.append(
            section(
                f"*Disabled keys ({len(disabled)})*: {_listed(disabled) or 'none'}\n"
                f"*Unverified webhooks ({len(unverified)})*: {_listed(unverified) or 'none'}"
            )
        )
    blocks.append(divider())
    pending = sorted(view.pending, key=lambda r: r.created_at)
    lines = [
        f"• {code(r.id, 40)} {one_line(r.summary, 300)} — waiting {waited(view.now - r.created_at)}"
        f" ({len(r.approvers)} of {r.required_approvals} approvals)"
        for r in pending
    ]
    blocks.append(section(f"*Pending requests ({len(pending)})*" + ("" if lines else ": none")))
    tail: list[Block] = []
    outside = sum(1 for c in view.changes if c.source is Source.OUTSIDE)
    changed = (
        f"*Last 24 hours: {len(view.changes)} changes* ({len(view.changes) - outside} by fpbot, "
        f"{outside} outside it)"
        if view.changes
        else "*Last 24 hours*: no changes"
    )
    tail.append(section(changed))
    change_lines = [_change(c) for c in view.changes]
    budget_blocks = MAX_BLOCKS - len(blocks) - len(tail)
    used = sum(block_size(b) for b in (*blocks, *tail))
    half = (MESSAGE_CHARS - used) // 2
    body = fit_lines(lines, max_blocks=budget_blocks // 2, max_chars=half, noun="more requests")
    later = fit_lines(
        change_lines,
        max_blocks=budget_blocks - len(body),
        max_chars=half,
        noun="more changes",
    )
    blocks = [*blocks, *body, *tail, *later]
    summary = (
        f"{title}: API keys {_count(view.keys, view.key_limit)}, webhooks "
        f"{_count(view.webhooks, view.webhook_limit)}, {len(pending)} pending requests, "
        f"{len(view.changes)} changes in the last 24 hours"
    )
    return Message(text=fallback(summary), blocks=blocks)
