"""Incident cards for the alerts channel: one per cause, kept up to date, then resolved.

A card says what is wrong in a few words, how often and since when, which commands and whom
it hit, what an operator does about it, and who is on call; when the cause clears it is edited
to say so. The fix is written for the operators here, never in the answer a person in the
command channel gets (`bot.render.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.incidents import Cause
from bot.render.blocks import (
    Block,
    Message,
    code,
    context,
    date,
    fallback,
    header,
    inline,
    mention,
    one_line,
    people,
    section,
)

#: Commands and people named on a card; the rest are counted.
SHOWN = 8
DETAIL_MAX = 1500

TITLES: dict[Cause, str] = {
    Cause.KEY_REJECTED: "Fingerprint rejects fpbot's Management API key",
    Cause.API_UNAVAILABLE: "Fingerprint's Management API is unavailable",
    Cause.API_RATE_LIMITED: "Fingerprint keeps rate-limiting fpbot",
    Cause.BUDGET_UNAVAILABLE: "fpbot's shared rate budget (Redis) is unreachable",
    Cause.STORE_UNREACHABLE: "fpbot's database is unreachable",
    Cause.SLACK_TOKEN_REJECTED: "Slack rejects fpbot's bot token",
}

FIXES: dict[Cause, str] = {
    Cause.KEY_REJECTED: (
        "Set `FP_MANAGEMENT_API_KEY` to a valid Management API key (Fingerprint dashboard → "
        "App settings → API keys) and restart fpbot."
    ),
    Cause.API_UNAVAILABLE: (
        "Nothing to change in fpbot: it retries reads by itself. Check Fingerprint's status "
        "page; `/healthz` shows when the API answers again."
    ),
    Cause.API_RATE_LIMITED: (
        "Check what else uses this Management API key; keep `FP_RATE_LIMIT` at or below what "
        "the key is allowed, and share it through `REDIS_URL` when several replicas run."
    ),
    Cause.BUDGET_UNAVAILABLE: (
        "Check that the Redis at `REDIS_URL` answers; no Management API call leaves until it "
        "does, so the rate limit cannot be broken."
    ),
    Cause.STORE_UNREACHABLE: (
        "Check that the database at `DATABASE_URL` accepts connections (and has room); "
        "nothing is changed while it is unreachable."
    ),
    Cause.SLACK_TOKEN_REJECTED: (
        "Replace `SLACK_BOT_TOKEN` with a working bot token (reinstalling the app gives a new "
        "one) and restart fpbot."
    ),
}


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What an incident card shows."""

    cause: Cause
    count: int
    opened_at: datetime
    last_at: datetime
    operations: Sequence[str]
    users: Sequence[str]
    error_code: str
    correlation_id: str
    detail: str
    resolved_at: datetime | None = None


def _named(items: Sequence[str], shown: Sequence[str]) -> str:
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def render_incident(incident: IncidentView, *, oncall: str | None = None) -> Message:
    """An incident card: open (with the fix and the on-call mention) or resolved.

    Args:
        incident: the incident as the store counted it.
        oncall: the user or user group to mention while it is open (``channels.oncall``).
    """
    title = TITLES[incident.cause]
    resolved = incident.resolved_at is not None
    blocks: list[Block] = [
        header(f":white_check_mark: Resolved: {title}" if resolved else f":rotating_light: {title}")
    ]
    operations = _named(incident.operations, [inline(o, 100) for o in incident.operations[:SHOWN]])
    users = _named(incident.users, [mention(u) for u in incident.users[:SHOWN]])
    correlation = code(incident.correlation_id, 200) if incident.correlation_id else "—"
    fields = [
        f"*Affected*\n{operations or '—'}",
        f"*People*\n{users or '—'}",
        f"*Error code*\n{code(incident.error_code, 200)}",
        f"*Latest correlation id*\n{correlation}",
    ]
    blocks.append(section(fields=fields))
    if incident.detail.strip():
        blocks.append(section(f"> {one_line(incident.detail, DETAIL_MAX)}"))
    times = "once" if incident.count == 1 else f"{incident.count:,} times"
    span = f"Happened {times} since {date(incident.opened_at)} (latest {date(incident.last_at)})."
    if resolved:
        assert incident.resolved_at is not None
        blocks.append(section(f"*Resolved at {date(incident.resolved_at)}*: it works again."))
        blocks.append(context(span))
    else:
        blocks.append(section(f":wrench: *Fix:* {FIXES[incident.cause]}"))
        notes = [span]
        if oncall:
            notes.append(f"On call: {people([oncall])}")
        blocks.append(context(*notes))
    state = "resolved" if resolved else "incident"
    count = f" ({incident.count} times)" if incident.count > 1 else ""
    text = (
        f"fpbot {state}: {title}{count} — {', '.join(incident.operations[:SHOWN]) or '—'}, "
        f"{incident.error_code}"
    )
    return Message(text=fallback(inline(text)), blocks=blocks)
