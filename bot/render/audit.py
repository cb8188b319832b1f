"""``/fp audit``: each change request's story on one line — who asked, who approved, how it
ended — instead of one line per event.

The events are the trail the workflow writes (``requested``, ``approval``, ``approved``,
``executing``, ``succeeded``, ``denied``…); this only reads them back in order. An event about
no request (a click on an unknown one) is a line of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import AuditEvent
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Message,
    block_size,
    code,
    context,
    date,
    fallback,
    fit_lines,
    header,
    inline,
    mention,
    one_line,
    section,
)

#: The kinds that end a story, or say where it stands, and how the line says them.
_STANDING = {
    "requested": "pending",
    "approved": "approved",
    "executing": "running",
    "postponed": "waiting (held back by Fingerprint)",
    "retried": "run again",
    "succeeded": "succeeded",
    "failed": "failed",
    "denied": "denied",
    "expired": "expired",
    "withdrawn": "withdrawn",
    "reconciled": "reconciled after a restart",
}
_BY_SOMEONE = frozenset({"denied", "withdrawn"})


def _story(events: Sequence[AuditEvent]) -> str:
    first = events[0]
    if first.request_id is None:
        detail = f" — {one_line(first.detail, 300)}" if first.detail else ""
        return f"• {date(first.at)} · *{inline(first.kind, 60)}* by {mention(first.actor)}{detail}"
    asked = next((e for e in events if e.kind == "requested"), None)
    parts = [f"• {code(first.request_id, 40)}"]
    if asked is not None:
        summary = asked.detail.split(" — ")[0]
        parts.append(f"{one_line(summary, 300)} — asked by {mention(asked.actor)} {date(asked.at)}")
    approvers = list(dict.fromkeys(e.actor for e in events if e.kind == "approval"))
    if approvers:
        parts.append("approved by " + ", ".join(mention(a) for a in approvers))
    standing = [e for e in events if e.kind in _STANDING]
    if standing:
        last = standing[-1]
        by = f" by {mention(last.actor)}" if last.kind in _BY_SOMEONE else ""
        parts.append(f"*{_STANDING[last.kind]}*{by} {date(last.at)}")
    refused = [e.actor for e in events if e.kind == "refused"]
    if refused:
        who = ", ".join(mention(a) for a in dict.fromkeys(refused))
        parts.append(f"{len(refused)} click{'s' if len(refused) > 1 else ''} refused ({who})")
    return " · ".join(parts)


def render_audit_stories(stories: Sequence[Sequence[AuditEvent]], *, filters: str = "") -> Message:
    """The stories given (newest first), one line each, in one ephemeral message.

    Args:
        filters: what they were chosen by, in words ("by <@U…>, since …"), shown under the title.
    """
    if not stories:
        text = "No audit events" + (f" {filters}" if filters else " yet") + "."
        return Message(text=fallback(text), blocks=[section(f":information_source: {text}")])
    title = f"Audit trail (last {len(stories)})"
    head = [header(title)]
    if filters:
        head.append(context(f"Only {filters}."))
    used = sum(block_size(b) for b in head)
    body = fit_lines(
        [_story(s) for s in stories if s],
        max_blocks=MAX_BLOCKS - len(head),
        max_chars=MESSAGE_CHARS - used,
        noun="more requests",
    )
    return Message(text=fallback(title), blocks=[*head, *body])
