"""Replies to one person: help, whoami, usage errors, refusals and denials, fpbot's own
failures, the pending requests, the audit trail and the one message that delivers a secret.

These are ephemeral (or a direct message), so each is exactly one message: what does not fit
is counted in a closing "… and N more" line rather than silently cut. Failures are short and
human — what happened, whether anything changed, and the correlation id that finds the log
lines — never a traceback. (Management API failures are `bot.render.errors`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from bot.domain import AuditEvent, ChangeRequest, State
from bot.policy import Decision, Reason
from bot.render import ids
from bot.render.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    Block,
    Message,
    actions,
    block_size,
    button,
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
    people,
    section,
)
from bot.render.grace import grace_blocks


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
    changes: bool = False,
    reason_required: bool = False,
    approves_in: str | None = None,
    admins: Sequence[str] = (),
) -> Message:
    """The commands this caller may use, as (usage, description) pairs, and how to use them.

    The caller filters ``entries`` by the caller's permissions; usages are shown as given
    (e.g. ``/fp envs``), in code. ``topic`` is the help topic asked for, and ``elsewhere`` the
    channels where the caller's other commands work, which the answer names. Someone who may
    ask for ``changes`` learns about forms, names and reasons; someone who may approve learns
    how (``approves_in``: where the cards are posted, ``""`` when not one channel). With
    nothing to show (someone without any role), the answer is whom to ask for one.
    """
    notes = []
    if not entries and topic:
        notes.append(f"You may not use any {code(topic, 100)} command here.")
    where = sorted(elsewhere)
    if where:
        notes.append(f"Your other commands work only in {', '.join(channel(c) for c in where)}.")
    note = " ".join(notes)
    if not entries and not note:
        text = f"You have no fpbot commands yet besides `help` and `whoami`. {_ask_admin(admins)}"
        return Message(text=fallback(text), blocks=[section(text)])
    if not entries:
        return Message(text=fallback(note), blocks=[section(f":information_source: {note}")])
    lines = [f"• {code(usage, 300)} — {inline(description, 500)}" for usage, description in entries]
    tips = []
    if changes:
        reason = (
            "Every change needs `--reason <text>`"
            if reason_required
            else "Add `--reason <text>` to any change"
        )
        tips.append(
            "Type a change without its arguments (`/fp envs rename`) or `/fp new` for a form; "
            f"an exact name works wherever an id is asked for. {reason}: approvers see it."
        )
    if approves_in is not None:
        cards = f" in {channel(approves_in)}" if approves_in else ""
        tips.append(
            f"To approve or deny, use the buttons on a request's card{cards}; `/fp requests` "
            "and fpbot's Home tab list the requests waiting for you."
        )
    tail = [context(" ".join(t for t in (*tips, note) if t))] if tips or note else []
    head = section("*Commands you can use*")
    body = fit_lines(
        lines,
        max_blocks=MAX_BLOCKS - 1 - len(tail),
        max_chars=MESSAGE_CHARS - block_size(head) - sum(block_size(t) for t in tail),
        noun="more commands",
    )
    blocks = [head, *body, *tail]
    return Message(text=fallback(f"fpbot: {len(entries)} commands you can use"), blocks=blocks)


def _ask_admin(admins: Sequence[str]) -> str:
    if admins:
        return f"Ask an fpbot admin ({people(admins)}) to grant you a role in its policy file."
    return "Ask an admin to grant you a role in fpbot's policy file."


def render_whoami(
    user_id: str,
    roles: Iterable[str],
    permissions: Iterable[str],
    *,
    admins: Sequence[str] = (),
) -> Message:
    """Who fpbot thinks the caller is, what the policy lets them request, and who changes
    the policy."""
    role_list = sorted(set(roles))
    perm_list = sorted(set(permissions))
    role_text = ", ".join(inline(r, 100) for r in role_list) if role_list else "none"
    if perm_list:
        perm_text = ", ".join(code(p, 100) for p in perm_list)
    else:
        perm_text = "none — fpbot denies everything until an admin grants you a role"
    admin_text = people(admins) if admins else "not named in the policy"
    text = (
        f":bust_in_silhouette: You are {mention(user_id)}.\n"
        f"*Roles:* {role_text}\n*Permissions:* {perm_text}\n*fpbot admins:* {admin_text}"
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


def render_wrong_version(usage: str, needed: str, speaking: str) -> Message:
    """A command of the Management API version fpbot does not speak: which one it needs."""
    return render_refusal(
        f"{code('/fp ' + usage, 300)} needs Management API version {code(needed, 20)}; "
        f"fpbot speaks {code(speaking, 20)} (its FP_API_VERSION setting), so nothing was done."
    )


def _with_correlation(text: str, correlation_id: str) -> Message:
    return render_refusal(f"{text} Correlation id: {code(correlation_id, 100)}.")


RESTARTING = "fpbot is restarting; please try again in a few seconds."
REASON_NEEDED = "A reason is required here."


def gone_from_account(field: str) -> str:
    """A form field whose pick no longer exists in the account."""
    return f"This {field} is no longer in the account; pick another."


def render_form_not_opened(error: str) -> Message:
    """Slack would not open the form (its three seconds ran out): say how to try again."""
    return render_refusal(
        f"The form could not be opened (Slack said {code(error, 100)}); please try again."
    )


def render_form_refused(reason: str) -> Message:
    """A submitted form that cannot become a request, in the words the plan gave."""
    return render_refusal(reason)


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


def plural(count: int, noun: str) -> str:
    """ "1 approval", "2 approvals"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


#: Requests whose card could not be posted get their buttons right in the listing; a message
#: holds only so many.
MAX_INLINE_BUTTONS = 10
#: Rotations in their grace period shown with their buttons (three blocks each).
MAX_GRACES_SHOWN = 5


def render_requests(
    requests: Sequence[ChangeRequest],
    *,
    now: datetime,
    viewer: str | None = None,
    links: Mapping[str, str] | None = None,
    graces: Sequence[ChangeRequest] = (),
) -> Message:
    """The pending change requests the caller may act on, oldest first, each with a link to
    its card; a request whose card could not be posted carries its buttons here instead
    (Approve and Deny, or Withdraw for its requester ``viewer``). Then the caller's rotations
    still in their grace period, with the grace's buttons (``graces``)."""
    pending = [r for r in requests if r.state is State.PENDING]
    in_grace = _in_grace(graces)
    if not pending:
        text = "No pending change requests."
        return Message(text=text, blocks=[section(f":information_source: {text}"), *in_grace])
    links = links or {}
    lines = []
    orphans = []
    for req in sorted(pending, key=lambda r: (r.created_at, r.id)):
        expiry = (
            f"expired {date(req.expires_at)}"
            if now >= req.expires_at
            else f"expires {date(req.expires_at)}"
        )
        where = ""
        if req.id in links:
            where = f" · <{links[req.id]}|card>"
        elif req.approval_ts is None:
            where = " · its card could not be posted" if req.card_error else " · no card yet"
            orphans.append(req)
        lines.append(
            f"• {code(req.id, 100)} {one_line(req.summary, 1000)} — by {mention(req.requester)}"
            f" · {len(req.approvers)} of {plural(req.required_approvals, 'approval')}"
            f" · {expiry}{where}"
        )
    title = f"Pending change requests ({len(pending)})"
    buttons = [_decide_here(req, viewer) for req in orphans[:MAX_INLINE_BUTTONS]]
    reserve = sum(block_size(b) for b in [*buttons, *in_grace])
    used = block_size(header(title))
    body = fit_lines(
        lines,
        max_blocks=MAX_BLOCKS - 1 - len(buttons) - len(in_grace),
        max_chars=MESSAGE_CHARS - used - reserve,
        noun="more requests",
    )
    return Message(text=fallback(title), blocks=[header(title), *body, *buttons, *in_grace])


def _in_grace(graces: Sequence[ChangeRequest]) -> list[Block]:
    """The caller's rotations in their grace period, each with its buttons (the soonest
    ending first, at most `MAX_GRACES_SHOWN`)."""
    if not graces:
        return []
    blocks = [section(f"*Your rotations in their grace period ({len(graces)})*")]
    for rotation in graces[:MAX_GRACES_SHOWN]:
        blocks.append(context(f"{code(rotation.id, 100)} {one_line(rotation.summary, 1000)}"))
        blocks.extend(grace_blocks(rotation, block_id=None))
    if len(graces) > MAX_GRACES_SHOWN:
        blocks.append(context(f"… and {len(graces) - MAX_GRACES_SHOWN} more: see App Home."))
    return blocks


def _decide_here(req: ChangeRequest, viewer: str | None) -> Block:
    """The buttons of a request whose card is missing: decide on it from the listing."""
    if req.requester == viewer:
        elements = [button(f"Withdraw {req.id}", action_id=ids.CANCEL, value=req.id)]
    else:
        elements = [
            button(f"Approve {req.id}", action_id=ids.APPROVE, value=req.id, style="primary"),
            button(f"Deny {req.id}", action_id=ids.DENY, value=req.id, style="danger"),
        ]
    return actions(*elements)


# What the audit trail says of each step of a request (the details of its events).
AUDIT_APPROVALS_COMPLETE = "approvals complete"
AUDIT_RUNNING = "running the change"
AUDIT_DENIED = "denied"
AUDIT_WITHDRAWN = "withdrawn by the requester"
AUDIT_RETRIED = "run again with the approvals it had"
_DELIVERED = re.compile(r" of (\S+) sent to the requester by DM$")


def audit_reminder(number: int) -> str:
    return f"reminder {number} posted in the card's thread"


def audit_approval(approvals: int, required: int) -> str:
    return f"{approvals}/{required}"


def audit_expiry(expires_at: datetime) -> str:
    return f"expired at {expires_at.isoformat()}"


def audit_secret_delivered(kind: str, resource_id: str) -> str:
    return f"{kind} of {resource_id} sent to the requester by DM"


def secret_delivered_resource(detail: str) -> str:
    """The resource id an `audit_secret_delivered` line names (empty if it names none)."""
    found = _DELIVERED.search(detail)
    return found.group(1) if found else ""


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
