"""Replies to one person: help, whoami, usage errors, refusals, API errors, the pending
requests, the audit trail and the one message that delivers a new secret.

These are ephemeral (or a direct message), so each is exactly one message: what does not fit
is counted in a closing "… and N more" line rather than silently cut. Errors are short and
human — the summary, the API's own words, the violations and the correlation id that finds
the log lines — never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.changes.model import AuditEvent, ChangeRequest, State
from bot.fingerprint.errors import AUTH_ERRORS, FingerprintError, RateLimited
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    block_size,
    clip,
    code,
    context,
    date,
    fallback,
    fit_lines,
    header,
    inline,
    mention,
    one_line,
    pack_lines,
    section,
)

MAX_VIOLATIONS = 10
DETAIL_MAX = 1000


def _one_message(head: Sequence[Block], lines: Sequence[str], noun: str) -> list[Block]:
    """``head`` followed by as many ``lines`` as fit in the rest of one message."""
    used = sum(block_size(b) for b in head)
    body = fit_lines(
        lines, max_blocks=MAX_BLOCKS - len(head), max_chars=MESSAGE_CHARS - used, noun=noun
    )
    return [*head, *body]


def render_help(entries: Sequence[tuple[str, str]], *, note: str | None = None) -> Message:
    """The commands this caller may use, as (usage, description) pairs.

    The caller filters ``entries`` by the caller's permissions; usages are shown as given
    (e.g. ``/fp envs``), in code. ``note`` (mrkdwn) says what else applies, such as the
    channel where the other commands work; it replaces the "ask an admin" text when
    ``entries`` is empty, since the caller then has roles but not here.
    """
    if not entries and note is None:
        text = (
            "You have no fpbot commands yet besides `help` and `whoami`. "
            "Ask an admin to grant you a role in fpbot's policy file."
        )
        return Message(text=fallback(text), blocks=[section(text)])
    if not entries:
        assert note is not None
        return Message(text=fallback(note), blocks=[section(f":information_source: {note}")])
    lines = [f"• {code(usage, 300)} — {inline(description, 500)}" for usage, description in entries]
    blocks = _one_message([section("*Commands you can use*")], lines, "more commands")
    if note:
        blocks = [*blocks[: MAX_BLOCKS - 1], context(note)]
    return Message(text=fallback(f"fpbot: {len(entries)} commands you can use"), blocks=blocks)


def render_whoami(user_id: str, roles: Iterable[str], permissions: Iterable[str]) -> Message:
    """Who fpbot thinks the caller is and what the policy lets them request."""
    role_list = sorted(set(roles))
    perm_list = sorted(set(permissions))
    role_text = ", ".join(inline(r, 100) for r in role_list) if role_list else "none"
    if perm_list:
        perm_text = ", ".join(code(p, 100) for p in perm_list)
    else:
        perm_text = "none — fpbot denies everything until an admin grants you a role"
    text = (
        f":bust_in_silhouette: You are {mention(user_id)}.\n"
        f"*Roles:* {role_text}\n*Permissions:* {perm_text}"
    )
    return Message(text=fallback(text), blocks=[section(text)])


def render_usage_error(problem: str, usage: str) -> Message:
    """What was wrong with the command typed, and its correct form. Nothing was changed.

    ``usage`` may hold several lines (every form of a command group); each is shown as its
    own code span on its own line.
    """
    lines = [code(line, 1000) for line in usage.splitlines() if line.strip()] or [code(usage)]
    shown = " " + lines[0] if len(lines) == 1 else "\n" + "\n".join(lines)
    text = f":warning: {inline(problem, 1000)}\nUsage:{shown}"
    return Message(text=fallback(text), blocks=[section(text)])


def render_refusal(reason: str) -> Message:
    """A denial (permission, channel, self-approval…) in the words the policy gave.

    ``reason`` is mrkdwn, as `bot.policy.Decision.message` and `PlanError` produce it: what
    came from users or the API is already escaped inside it, and its ``<#C…>`` and ``<@U…>``
    links must stay links, so it is not escaped again.
    """
    text = f":no_entry: {clip(reason, 2000)}"
    return Message(text=fallback(text), blocks=[section(text)])


def _is_auth_error(err: FingerprintError) -> bool:
    return isinstance(err, AUTH_ERRORS) or err.status in (401, 403)


def render_error(err: FingerprintError, *, what: str) -> Message:
    """A Management API failure, for the person who asked.

    Args:
        err: the failure, as the client raised it (its message is already scrubbed).
        what: what fpbot was doing, as a verb phrase: "list environments".
    """
    lines = [f":x: Could not {inline(what, 200)}: {inline(err.summary, 300)}."]
    if _is_auth_error(err):
        lines.append(
            ":key: Fingerprint rejected fpbot's Management API key (revoked or wrong). "
            "An admin must set a valid `FP_MANAGEMENT_API_KEY` and restart fpbot."
        )
    if err.message and err.message != err.summary:
        lines.append(f"> {inline(err.message, DETAIL_MAX)}")
    for violation in err.violations[:MAX_VIOLATIONS]:
        lines.append(f"• {code(violation.property, 100)}: {inline(violation.message, 300)}")
    if len(err.violations) > MAX_VIOLATIONS:
        lines.append(f"… and {len(err.violations) - MAX_VIOLATIONS} more problems")
    if isinstance(err, RateLimited) and err.retry_after:
        lines.append(f"Try again in {err.retry_after:.0f} seconds.")
    details = []
    if err.status is not None:
        details.append(f"HTTP {err.status}")
    if err.code:
        details.append(code(err.code, 100))
    if err.correlation_id:
        details.append(f"Correlation id: {code(err.correlation_id, 100)}")
    blocks: list[Block] = [section(chunk) for chunk in pack_lines(lines)]
    if details:
        blocks.append(context(" · ".join(details)))
    corr = f" (correlation id {err.correlation_id})" if err.correlation_id else ""
    text = f"Could not {inline(what, 200)}: {inline(err.summary, 300)}{inline(corr)}"
    return Message(text=fallback(text), blocks=blocks)


def render_requests(requests: Sequence[ChangeRequest], *, now: datetime) -> Message:
    """The pending change requests the caller made or may approve, oldest first."""
    pending = [r for r in requests if r.state is State.PENDING]
    if not pending:
        text = "No pending change requests."
        return Message(text=text, blocks=[section(f":information_source: {text}")])
    lines = []
    for req in sorted(pending, key=lambda r: (r.created_at, r.id)):
        expiry = (
            f"expired {date(req.expires_at)}"
            if now >= req.expires_at
            else f"expires {date(req.expires_at)}"
        )
        lines.append(
            f"• {code(req.id, 100)} {one_line(req.summary, 1000)} — by {mention(req.requester)}"
            f" · {len(req.approvers)} of {req.required_approvals} approvals · {expiry}"
        )
    title = f"Pending change requests ({len(pending)})"
    blocks = _one_message([header(title)], lines, "more requests")
    return Message(text=fallback(title), blocks=blocks)


def _audit_line(event: AuditEvent) -> str:
    parts = [date(event.at), f"*{inline(event.kind, 100)}*", mention(event.actor)]
    if event.request_id:
        parts.append(code(event.request_id, 100))
    if event.detail:
        # Written by fpbot as mrkdwn (a summary, an execution's message, a refusal), escaped
        # where it was written: shown as it is.
        parts.append(one_line(event.detail, 500))
    if event.correlation_id:
        parts.append(f"correlation id {code(event.correlation_id, 100)}")
    return "• " + " · ".join(parts)


def render_audit(events: Sequence[AuditEvent]) -> Message:
    """The audit events given, newest first, in one ephemeral message."""
    if not events:
        text = "No audit events yet."
        return Message(text=text, blocks=[section(f":information_source: {text}")])
    ordered = sorted(events, key=lambda e: (e.at, e.id or 0), reverse=True)
    title = f"Audit trail (last {len(events)})"
    blocks = _one_message([header(title)], [_audit_line(e) for e in ordered], "more events")
    return Message(text=fallback(title), blocks=blocks)


def render_secret_delivery(kind: str, resource_name: str, resource_id: str, secret: str) -> Message:
    """The one direct message that carries a new secret (secret key token, signing key).

    The only renderer allowed to show a secret. The secret stays out of the fallback
    ``text``, which notifications and lock screens show.

    Args:
        kind: what the secret is, e.g. "secret key token" or "webhook signing key".
        resource_name: the key's or webhook's name (or URL).
        resource_id: its id.
        secret: the value, shown once in a code block for copying.
    """
    what = inline(kind, 100)
    blocks: list[Block] = [
        header(f"New {kind}"),
        section(
            f"The {what} of {'*' + inline(resource_name, 500) + '*'} ({code(resource_id, 100)}):"
        ),
        section(f"```{inline(secret, 2000)}```"),
        section(
            ":warning: *This is the only time it will be shown.* Store it in your secret "
            "manager now: fpbot keeps no copy and cannot show it again."
        ),
    ]
    text = (
        f"New {what} for {inline(resource_name, 500)} — open this message to copy it; "
        "it will not be shown again."
    )
    return Message(text=fallback(text), blocks=blocks)
