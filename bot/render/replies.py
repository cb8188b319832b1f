"""Replies to one person: help, whoami, usage errors, refusals and denials, fpbot's own
failures, the pending requests, the audit trail and the one message that delivers a secret.

These are ephemeral (or a direct message), so each is exactly one message: what does not fit
is counted in a closing "… and N more" line rather than silently cut. Failures are short and
human — what happened, whether anything changed, and the correlation id that finds the log
lines — never a traceback. (Management API failures are `bot.render.errors`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.domain import AuditEvent, ChangeRequest, State
from bot.policy import Decision, Reason
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    block_size,
    channel,
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
    section,
)


def _one_message(head: Sequence[Block], lines: Sequence[str], noun: str) -> list[Block]:
    """``head`` followed by as many ``lines`` as fit in the rest of one message."""
    used = sum(block_size(b) for b in head)
    body = fit_lines(
        lines, max_blocks=MAX_BLOCKS - len(head), max_chars=MESSAGE_CHARS - used, noun=noun
    )
    return [*head, *body]


def render_help(
    entries: Sequence[tuple[str, str]],
    *,
    topic: str | None = None,
    elsewhere: Iterable[str] = (),
) -> Message:
    """The commands this caller may use, as (usage, description) pairs.

    The caller filters ``entries`` by the caller's permissions; usages are shown as given
    (e.g. ``/fp envs``), in code. ``topic`` is the help topic asked for, and ``elsewhere`` the
    channels where the caller's other commands work, which the answer names. With nothing to
    show and nothing to say about it (someone without any role), the answer is how to get one.
    """
    notes = []
    if not entries and topic:
        notes.append(f"You may not use any {code(topic, 100)} command here.")
    where = sorted(elsewhere)
    if where:
        notes.append(f"Your other commands work only in {', '.join(channel(c) for c in where)}.")
    note = " ".join(notes)
    if not entries and not note:
        text = (
            "You have no fpbot commands yet besides `help` and `whoami`. "
            "Ask an admin to grant you a role in fpbot's policy file."
        )
        return Message(text=fallback(text), blocks=[section(text)])
    if not entries:
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


_DENIALS = {
    Reason.GRANTED: "You have the permission this needs.",
    Reason.NOT_NEEDED: "This needs no permission.",
    Reason.UNKNOWN_USER: "You have no fpbot roles yet; ask an fpbot admin to grant you one.",
    Reason.MISSING_PERMISSION: "You don't have the permission this needs.",
    Reason.CHANNEL_NOT_ALLOWED: "fpbot commands can't be used in this channel.",
}


def denial(decision: Decision) -> str:
    """The policy's answer in plain words, specific to this decision (mrkdwn)."""
    if decision.reason is Reason.MISSING_PERMISSION and decision.permission:
        return (
            f"You need the `{decision.permission}` permission for this; "
            "ask an fpbot admin if you should have it."
        )
    if decision.reason is Reason.CHANNEL_NOT_ALLOWED and decision.allowed_channels:
        where = ", ".join(channel(c) for c in sorted(decision.allowed_channels))
        return f"fpbot commands can only be used in {where}."
    return _DENIALS[decision.reason]


def render_denial(decision: Decision) -> Message:
    """A command the policy refused."""
    return render_refusal(denial(decision))


def _with_correlation(text: str, correlation_id: str) -> Message:
    return render_refusal(f"{text} Correlation id: {code(correlation_id, 100)}.")


RESTARTING = "fpbot is restarting; please try again in a few seconds."


def render_restarting() -> Message:
    """A command or click that arrived while this process shuts down."""
    return render_refusal(RESTARTING)


def render_internal_error(correlation_id: str, *, click: str | None = None) -> Message:
    """fpbot failed in a way it did not foresee; ``click`` names the button, if one."""
    if click is None:
        return _with_correlation(
            "Something went wrong inside fpbot; nothing was changed.", correlation_id
        )
    return _with_correlation(
        f"Something went wrong inside fpbot while handling your {click} click.", correlation_id
    )


def render_store_unreachable(correlation_id: str, *, command: str | None = None) -> Message:
    """The store could not be reached, so nothing was changed; ``command`` names the command
    (``envs create``), or the answer is to a click."""
    if command is None:
        text = "fpbot's database is unreachable; nothing changed. Please try again in a minute."
    else:
        text = (
            f"fpbot could not run `/fp {command}`: its database is unreachable, so nothing "
            "was changed. Try again in a minute."
        )
    return _with_correlation(text, correlation_id)


def render_interrupted(
    correlation_id: str,
    *,
    command: str | None = None,
    changes: bool = False,
    click: str | None = None,
) -> Message:
    """Shutdown ran out of time for this command or click: say so rather than stay silent."""
    if click is not None:
        text = (
            f"fpbot restarted before it could finish handling your {click} click; "
            "the approval message shows where the request stands."
        )
    else:
        advice = (
            " Check `/fp requests` before asking again."
            if changes
            else " Please try again in a few seconds."
        )
        text = f"fpbot restarted before it could finish `/fp {command}`.{advice}"
    return _with_correlation(text, correlation_id)


def render_approved_unfinished(
    request_id: str, correlation_id: str, *, store_down: bool
) -> Message:
    """An approved change this click could not finish; the sweeper takes it from here."""
    cause = "its database became unreachable" if store_down else "something went wrong"
    return _with_correlation(
        f"{request_id} is approved, but {cause} before fpbot could finish it. It will be "
        "run, or checked against Fingerprint and reported, automatically; the approval "
        "message will show the outcome.",
        correlation_id,
    )


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


# What the audit trail says of each step of a request (the details of its events).
AUDIT_APPROVALS_COMPLETE = "approvals complete"
AUDIT_RUNNING = "running the change"
AUDIT_DENIED = "denied"


def audit_approval(approvals: int, required: int) -> str:
    return f"{approvals}/{required}"


def audit_expiry(expires_at: datetime) -> str:
    return f"expired at {expires_at.isoformat()}"


def audit_secret_delivered(kind: str, resource_id: str) -> str:
    return f"{kind} of {resource_id} sent to the requester by DM"


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


#: The alert's title when Slack no longer accepts the bot token (`bot.health`).
SLACK_TOKEN_REJECTED = "Slack rejected fpbot's bot token"


def slack_token_rejected(error: str) -> str:
    """The alert's detail (mrkdwn): what Slack answered and what the operator must do."""
    return (
        f"`auth.test` answered {code(error, 100)}: fpbot cannot answer anyone in Slack until "
        "SLACK_BOT_TOKEN is replaced with a working bot token (reinstalling the app gives a "
        "new one) and fpbot is restarted."
    )
