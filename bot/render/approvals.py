"""What people see of one change request: the approval message, its outcome, its receipt.

The approval message is edited in place as the request moves on, so one function renders it
for every state: buttons only while it can still be approved, and afterwards a line that says
plainly what happened — an expired request says "expired", never "denied".
``req.summary`` and ``req.error`` are mrkdwn written by fpbot (`bot.changes.actions`), with the
names people typed already escaped once where they were written, so they are shown as they are
(`one_line`); the raw values of ``before``, ``after`` and ``result`` are escaped here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.domain import ChangeRequest, State, Uncertainty, destructive_kind, without_secrets
from bot.domain.approvals import Refusal, Refused
from bot.render import ids
from bot.render.blocks import (
    MAX_FIELDS,
    Block,
    Message,
    actions,
    bold,
    button,
    channel,
    code,
    confirm,
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
from bot.render.grace import grace_blocks
from bot.render.rules import card_blocks as rules_card_blocks
from bot.render.rules import test_block as rule_test_block

SUMMARY_MAX = 1000
VALUE_MAX = 250
DETAIL_MAX = 1000

#: What approving each destructive change (`bot.domain.DESTRUCTIVE`) breaks, shown in the
#: Approve confirmation.
_CONSEQUENCES: Mapping[tuple[str, str | None], str] = {
    ("envs.delete", None): "Deleting an environment cannot be undone.",
    ("keys.delete", None): "Deleting a key cannot be undone; apps using it stop working.",
    ("keys.rotate", None): "The old key will be disabled; apps still using it stop working.",
    ("keys.update", "disabled"): "Apps using this key stop working until it is enabled again.",
    ("webhooks.update", "disabled"): (
        "Its events stop being sent until the webhook is enabled again."
    ),
    ("webhooks.delete", None): "Deleting a webhook cannot be undone; its events stop being sent.",
    ("rules.delete", None): "Deleting a rule cannot be undone; the requests it matched are no "
    "longer filtered by it.",
    ("enckeys.update", "disabled"): (
        "Sealed Results stop being encrypted with this key until it is enabled again."
    ),
    ("enckeys.rotate", None): (
        "Apps decrypting with the current token need the new one (sent to the requester)."
    ),
    ("subdomains.delete", None): (
        "Deleting a subdomain revokes its certificate; Fingerprint stops serving from it."
    ),
}


def consequence(action: str, params: Mapping[str, Any]) -> str | None:
    """What approving a change will break, or ``None`` when it is not destructive."""
    kind = destructive_kind(action, params)
    if kind == ("keys.rotate", None):
        if params.get("op") == "revert":
            return "The replacement key will be disabled; apps already using it stop working."
        if params.get("grace_seconds"):
            return (
                "The old key will be disabled when the grace period ends; apps still using it "
                "stop working then."
            )
    return None if kind is None else _CONSEQUENCES[kind]


#: Where a request that is no longer waiting stands, as "has already …" and "had already …"
#: say it: the one phrase per state every refusal and late answer uses.
_SO_FAR: Mapping[State, str] = {
    State.APPROVED: "been approved and is about to run",
    State.EXECUTING: "been approved and is running now",
    State.SUCCEEDED: "been approved and carried out",
    State.FAILED: "been approved but failed when it ran",
    State.DENIED: "been denied",
    State.WITHDRAWN: "been withdrawn by its requester",
    State.EXPIRED: "expired",
}
_WILL_NOT_RUN = frozenset({State.DENIED, State.WITHDRAWN, State.EXPIRED})


def _utc_time(at: datetime | None) -> str:
    return "" if at is None else " at " + at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def refusal(refused: Refused, *, approvers: tuple[str, ...] = ()) -> str:
    """Why a click changed nothing, in one sentence of mrkdwn for an ephemeral reply.

    ``approvers`` are the people (and groups) the request's route names, for ``NOT_ON_ROUTE``.
    """
    subject = f"Change request {refused.request_id}" if refused.request_id else "This request"
    match refused.reason:
        case Refusal.NOT_ON_ROUTE:
            who = people(approvers) if approvers else "the approvers its route names"
            return f"{subject} changes an environment whose changes only {who} approve."
        case Refusal.NOT_THE_REQUESTER:
            owner = mention(refused.requester) if refused.requester else "its requester"
            return f"Only {owner} can withdraw {refused.request_id or 'this request'}."
        case Refusal.UNKNOWN_REQUEST:
            if refused.request_id is None:
                return "There is no change request with that id, so nothing was changed."
            return (
                f"There is no change request with that id: {refused.request_id} doesn't "
                "exist (any more), so nothing was changed."
            )
        case Refusal.NOT_AN_APPROVER:
            return (
                "You can't approve or deny change requests: that needs the "
                "`requests.approve` permission."
            )
        case Refusal.SELF_APPROVAL:
            return f"{subject} is yours, so someone else has to approve it."
        case Refusal.SELF_DENIAL:
            return (
                f"{subject} is yours, so someone else has to approve or deny it; "
                "if nobody does, it expires on its own."
            )
        case Refusal.ALREADY_APPROVED:
            return (
                f"You already approved {refused.request_id or 'this request'}; "
                "it needs an approval from someone else."
            )
        case Refusal.EXPIRED:
            when = _utc_time(refused.expires_at)
            return f"{subject} expired{when} — it was not denied. Ask again if still needed."
        case Refusal.NOT_PENDING:
            phrase = _SO_FAR.get(refused.state) if refused.state is not None else None
            if phrase is None:
                return f"{subject} is no longer waiting for approval."
            return f"{subject} has already {phrase}."
    raise AssertionError(f"unhandled refusal {refused.reason!r}")  # pragma: no cover


def render_refused(refused: Refused, *, approvers: tuple[str, ...] = ()) -> Message:
    """`refusal` as the ephemeral message a clicker gets."""
    text = f":no_entry: {refusal(refused, approvers=approvers)}"
    return Message(text=fallback(text), blocks=[section(text)])


def render_late_approval(req: ChangeRequest) -> Message:
    """An approval the store recorded after the request had already moved on (another click
    or replica decided it first): the approver hears where it stands instead of nothing."""
    phrase = _SO_FAR.get(req.state)
    where = f"had already {phrase}" if phrase else f"is {req.state}"
    if req.state in _WILL_NOT_RUN:
        where += ", so it will not run"
    text = f":information_source: Your approval was recorded; {req.id} {where}."
    return Message(text=fallback(text), blocks=[section(text)])


def _summary(req: ChangeRequest) -> str:
    return one_line(req.summary, SUMMARY_MAX)


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return date(value)
    return inline(str(value), VALUE_MAX)


def change_fields(req: ChangeRequest) -> list[str]:
    """The before → after table as section fields, one per changed attribute.

    A create shows what will exist, a delete what will go, an update only what differs.
    """
    before, after = without_secrets(req.before), without_secrets(req.after)
    # An environment's rules are shown whole, in order (`bot.render.rules.card_blocks`).
    before.pop("rules", None)
    after.pop("rules", None)
    label = {k: f"*{inline(k.replace('_', ' '), 100)}*" for k in (*before, *after)}
    if req.before is None:
        return [f"{label[k]}\n{_value(v)}" for k, v in after.items()]
    if req.after is None:  # what is deleted, as it is (its summary says it goes)
        return [f"{label[k]}\n{_value(v)}" for k, v in before.items()]
    return [
        f"{label[k]}\n{_value(before.get(k))} → {_value(v)}"
        for k, v in after.items()
        if before.get(k) != v
    ]


def _people(user_ids: list[str]) -> str:
    return ", ".join(mention(u) for u in user_ids) or "nobody"


def _approvers(req: ChangeRequest) -> list[str]:
    seen: list[str] = []
    for approval in sorted(req.approvals, key=lambda a: a.at):
        if approval.user_id not in seen:
            seen.append(approval.user_id)
    return seen


#: Result fields that hold a sentence fpbot wrote (mrkdwn, escaped where it was written) rather
#: than a raw value: the workflow stores a reconciled request's verdict under "reconciled".
_PROSE_RESULTS = frozenset({"reconciled"})


def _result_value(key: str, value: Any) -> str:
    if key in _PROSE_RESULTS and isinstance(value, str) and value:
        return one_line(value, VALUE_MAX)
    return _value(value)


def _result(result: Mapping[str, Any] | None) -> str | None:
    visible = without_secrets(result)
    if not visible:
        return None
    parts = [
        f"{inline(k.replace('_', ' '), 100)}: {_result_value(k, v)}" for k, v in visible.items()
    ]
    return "Result: " + " · ".join(parts)


def _failure(req: ChangeRequest) -> str:
    error = one_line(req.error or "unknown error", DETAIL_MAX)
    code_part = f" ({code(req.error_code, 100)})" if req.error_code else ""
    corr = f"\nCorrelation id: {code(req.correlation_id, 100)}" if req.correlation_id else ""
    return f"{error}{code_part}{corr}"


def _overdue(req: ChangeRequest, now: datetime) -> bool:
    """A pending request past its expiry, before the sweeper has marked it."""
    return req.state is State.PENDING and now >= req.expires_at


def status_line(req: ChangeRequest, now: datetime) -> str:
    """Where the request stands, in one short paragraph of mrkdwn."""
    approved_by = _people(_approvers(req))
    if req.state is State.PENDING and not _overdue(req, now):
        return (
            f":hourglass_flowing_sand: *Waiting for approval* — {req.approvals_missing} more "
            f"needed · expires {date(req.expires_at)}"
        )
    if req.state in (State.PENDING, State.EXPIRED):
        return (
            f":hourglass: *Expired* {date(req.expires_at)} without enough approvals. "
            "Nothing was changed."
        )
    if req.state is State.APPROVED and req.error:
        return (
            f":hourglass: *Approved* by {approved_by} — waiting to run: {one_line(req.error)} "
            "It runs by itself as soon as Fingerprint takes requests again."
        )
    if req.state is State.APPROVED:
        return f":white_check_mark: *Approved* by {approved_by} — about to run."
    if req.state is State.EXECUTING:
        return f":gear: *Approved* by {approved_by} — running…"
    if req.state is State.SUCCEEDED:
        when = f" {date(req.finished_at)}" if req.finished_at else ""
        result = _result(req.result)
        lines = [f":white_check_mark: *Succeeded*{when} — approved by {approved_by}."]
        return "\n".join([*lines, result] if result else lines)
    if req.state is State.FAILED:
        return f":x: *Failed* — approved by {approved_by}. Error: {_failure(req)}"
    when = f" {date(req.decided_at)}" if req.decided_at else ""
    if req.state is State.WITHDRAWN:
        return (
            f":leftwards_arrow_with_hook: *Withdrawn* by {mention(req.requester)}{when}. "
            f"Nothing was changed.{_note(req)}"
        )
    by = mention(req.decided_by) if req.decided_by else "an approver"
    return f":no_entry: *Denied* by {by}{when}. Nothing was changed.{_note(req)}"


def _note(req: ChangeRequest) -> str:
    return f" Reason: {inline(req.decision_note, 500)}" if req.decision_note else ""


def uncertain(req: ChangeRequest) -> Uncertainty | None:
    """What is known of a failed request whose outcome was uncertain, if it was."""
    if req.state is not State.FAILED or not req.result:
        return None
    outcome = req.result.get("outcome")
    return Uncertainty(outcome) if outcome in set(Uncertainty) else None


_PRODUCTION = re.compile(r"(?i)\bprod")


def risks(req: ChangeRequest, *, production: bool) -> list[str]:
    """What makes approving this change risky, in a few words each: a production-like
    environment (the policy routes it, or its name says so), a key that works now, a change
    that cannot be undone."""
    found = []
    if production or (req.environment_name and _PRODUCTION.search(req.environment_name)):
        where = bold(req.environment_name) if req.environment_name else "a routed"
        found.append(f"{where} is a production environment")
    before = req.before or {}
    key_stops = req.action in ("keys.delete", "keys.rotate") or (
        req.action == "keys.update" and str(req.params.get("status")) == "disabled"
    )
    if key_stops and str(before.get("status")) == "enabled":
        found.append("the key is enabled now: apps using it are affected")
    if req.action.endswith(".delete"):
        found.append("it cannot be undone")
    return found


def _consequence_line(req: ChangeRequest) -> str | None:
    """For a rotation, when the old key stops working."""
    if req.action != "keys.rotate" or req.params.get("op") == "revert":
        return None
    if req.params.get("grace_seconds"):
        return (
            "The old key keeps working during the grace period, then fpbot disables it; the "
            "requester may disable it sooner or revert the rotation (each asks for approval)."
        )
    return (
        "The old key stops working as soon as the replacement is created and its token "
        "delivered to the requester."
    )


def decision_buttons(
    req: ChangeRequest, *, block_id: str | None = ids.REQUEST_ACTIONS_BLOCK
) -> Block:
    """Approve and Deny for ``req``, wherever they are shown (its card, App Home); a
    destructive change's Approve asks for confirmation first."""
    warning = consequence(req.action, req.params)
    dialog = None
    if warning is not None:
        dialog = confirm(
            "Approve this change?",
            f"{one_line(req.summary, 150)}\n{warning}",
            ok="Approve",
            cancel="Cancel",
        )
    return actions(
        button("Approve", action_id=ids.APPROVE, value=req.id, style="primary", confirm=dialog),
        button("Deny", action_id=ids.DENY, value=req.id, style="danger"),
        block_id=block_id,
    )


def render_change_request(
    req: ChangeRequest,
    *,
    now: datetime,
    approvers: tuple[str, ...] = (),
    production: bool = False,
) -> Message:
    """The approval card for ``req`` in its current state.

    What an approver needs to decide from the card alone: who asks and why, what changes
    (before → after), in which environment, what makes it risky, and who may approve. While
    the request is pending (and not past its expiry) it carries Approve and Deny buttons whose
    value is the request id; a destructive change's Approve button asks for confirmation
    first. A failed request whose outcome was uncertain offers a check against the account,
    and a retry once the check found nothing happened. Otherwise: no buttons, the outcome.

    Args:
        approvers: who may approve (users and groups), as the policy names them now.
        production: the policy routes the request's environment (treated as production).
    """
    fields = change_fields(req)
    approved = _approvers(req)
    progress = (
        f" · approved by {_people(approved)} ({len(approved)} of {req.required_approvals})"
        if approved
        else ""
    )
    blocks: list[Block] = [
        header(f"Change request {req.id}"),
        section(f"{mention(req.requester)} asks to: {_summary(req)}"),
    ]
    if req.reason:
        blocks.append(section(f"*Why:* {inline(req.reason, 1000)}"))
    if fields:
        blocks.append(section(fields=fields[:MAX_FIELDS]))
        if len(fields) > MAX_FIELDS:
            blocks.append(context(f"… and {len(fields) - MAX_FIELDS} more fields"))
    blocks.extend(rules_card_blocks(req.before, req.after))
    blocks.extend(rule_test_block(req.params))
    where = f" · environment {bold(req.environment_name, 300)}" if req.environment_name else ""
    blocks.append(
        context(
            f"Action {code(req.action, 100)}{where} · requested {date(req.created_at)}{progress}"
        )
    )
    pending = req.state is State.PENDING and not _overdue(req, now)
    if pending:
        risky = risks(req, production=production)
        if risky:
            blocks.append(section(f":warning: *Risk:* {'; '.join(risky)}."))
        rotation = _consequence_line(req)
        if rotation:
            blocks.append(context(rotation))
    blocks.append(section(status_line(req, now), block_id=ids.REQUEST_STATUS_BLOCK))
    if pending:
        if approvers:
            blocks.append(context(f"Who may approve: {people(approvers)}"))
        blocks.append(decision_buttons(req))
    follow_up = _follow_up(req)
    if follow_up is not None:
        blocks.append(follow_up)
    blocks.extend(grace_blocks(req))
    state = "expired" if _overdue(req, now) else req.state.value
    text = f"Change request {req.id} from {mention(req.requester)}: {_summary(req)} ({state})"
    return Message(text=fallback(text), blocks=blocks)


def _follow_up(req: ChangeRequest) -> Block | None:
    """Check now / Retry for a failed change whose outcome was uncertain."""
    known = uncertain(req)
    if known is Uncertainty.UNKNOWN:
        return actions(
            button("Check now", action_id=ids.CHECK, value=req.id),
            block_id=ids.REQUEST_ACTIONS_BLOCK,
        )
    if known is Uncertainty.NOTHING_HAPPENED:
        return actions(
            button(
                "Retry with the same approvals",
                action_id=ids.RETRY,
                value=req.id,
                style="primary",
            ),
            block_id=ids.REQUEST_ACTIONS_BLOCK,
        )
    return None


def _outcome(req: ChangeRequest) -> str:
    subject = f"Request {code(req.id, 100)} ({_summary(req)})"
    if req.state is State.SUCCEEDED:
        result = _result(req.result)
        return f":white_check_mark: {subject} succeeded." + (f"\n{result}" if result else "")
    if req.state is State.FAILED:
        return f":x: {subject} failed: {_failure(req)}"
    if req.state is State.DENIED:
        by = mention(req.decided_by) if req.decided_by else "an approver"
        return f":no_entry: {subject} was denied by {by}. Nothing was changed.{_note(req)}"
    if req.state is State.WITHDRAWN:
        return (
            f":leftwards_arrow_with_hook: {subject} was withdrawn by "
            f"{mention(req.requester)}. Nothing was changed.{_note(req)}"
        )
    if req.state is State.EXPIRED:
        return (
            f":hourglass: {subject} expired {date(req.expires_at)} before it got enough "
            "approvals. Nothing was changed."
        )
    if req.state is State.EXECUTING:
        return f":gear: {subject} was approved and is running…"
    if req.state is State.APPROVED and req.error:
        return (
            f":hourglass: {subject} was approved and waits to run: {one_line(req.error)} It "
            "runs by itself as soon as Fingerprint takes requests again."
        )
    if req.state is State.APPROVED:
        return f":white_check_mark: {subject} was approved and is about to run."
    return f":hourglass_flowing_sand: {subject} is waiting for approval."


def render_request_result(req: ChangeRequest) -> Message:
    """The outcome told to the requester (direct message) and in the approval thread.

    Worded for both readers: it names the request rather than saying "your".
    """
    text = _outcome(req)
    blocks: list[Block] = [section(text)]
    if req.reason:
        blocks.append(context(f"Asked for because: {inline(req.reason, 1000)}"))
    blocks.extend(grace_blocks(req))
    return Message(text=fallback(text), blocks=blocks)


def render_request_created(req: ChangeRequest, *, card_link: str | None = None) -> Message:
    """The requester's ephemeral receipt: the request id, what it waits for, when it expires,
    a link to its card (or why there is none yet), and a Withdraw button."""
    needed = req.required_approvals
    approvals = f"{needed} approval{'s' if needed != 1 else ''}"
    where = f" in {channel(req.approval_channel)}" if req.approval_channel else ""
    lines = [
        f":inbox_tray: Request {code(req.id, 100)} created: {_summary(req)}",
        f"It needs {approvals}{where} and expires {date(req.expires_at)}. "
        "You will get a direct message with the outcome.",
    ]
    if req.card_error is not None:
        lines.append(
            f":warning: Its card could not be posted for approval (Slack said "
            f"{code(req.card_error, 100)}); fpbot keeps trying, and meanwhile approvers can "
            "decide on it from `/fp requests`."
        )
    elif card_link:
        lines.append(f"<{card_link}|See its card>")
    text = "\n".join(lines)
    blocks: list[Block] = [
        section(text),
        actions(
            button("Withdraw", action_id=ids.CANCEL, value=req.id),
            block_id=ids.RECEIPT_ACTIONS_BLOCK,
        ),
    ]
    return Message(text=fallback(lines[0]), blocks=blocks)


def render_withdrawn(req: ChangeRequest) -> Message:
    """The requester's answer to their own withdrawal."""
    text = f":leftwards_arrow_with_hook: {code(req.id, 100)} withdrawn; nothing will run."
    return Message(text=fallback(text), blocks=[section(text)])


def render_reminder(req: ChangeRequest, mentions: Iterable[str], *, now: datetime) -> Message:
    """A reply in the card's thread for the people who may still approve (users only: a
    group or the channel is never pinged)."""
    who = " ".join(mention(u) for u in mentions)
    missing = req.approvals_missing
    more = f"{missing} more approval{'s' if missing != 1 else ''}"
    text = (
        f":alarm_clock: {who + ': ' if who else ''}{req.id} still needs {more}; it expires "
        f"{date(req.expires_at)}."
    )
    return Message(text=fallback(text), blocks=[section(text)])


def duplicate(existing: ChangeRequest, card_link: str | None) -> str:
    """A request identical in action and target to one already pending."""
    card = f" (<{card_link}|its card>)" if card_link else ""
    return (
        f"{code(existing.id, 100)}, a pending request for the same change, already exists"
        f"{card}: approve, deny or withdraw that one instead of asking twice."
    )


def too_many_pending(limit: int) -> str:
    return (
        f"You have {limit} requests waiting for approval, the most one person may have; "
        "withdraw one (`/fp requests cancel <id>`) or wait for decisions."
    )


REASON_REQUIRED = (
    'This workspace asks for a reason with every change request: add `--reason "why"` '
    "to the command, or use the form (`/fp new`)."
)


def permission_lost(requester: str, permission: str) -> str:
    """Why an approved change was not run: the policy in force no longer lets its requester
    ask for it."""
    return (
        f"Not run: {mention(requester)} no longer holds {code(permission, 100)} under the "
        "policy in force."
    )


def approvals_now_short(required: int, approvals: int) -> str:
    return (
        f"Not run: the policy in force asks for {required} approvals and this request had "
        f"{approvals}; ask again."
    )


HELD_BACK = "Fingerprint held the write back ({code}), so nothing was sent."


def held_back(error_code: str) -> str:
    """Why an approved change is still waiting: nothing reached Fingerprint."""
    return HELD_BACK.format(code=code(error_code, 100))


def checked(req: ChangeRequest, verdict: str, *, happened: bool, untouched: bool) -> Message:
    """The answer to Check now: what the account shows — the change happened, it never
    reached Fingerprint (``untouched``: it may run again), or part of it did."""
    if happened:
        text = f":white_check_mark: {req.id} did happen after all: {one_line(verdict)}"
    elif not untouched:
        text = f":mag: {req.id} did not complete: {one_line(verdict)}"
    else:
        text = (
            f":mag: {req.id} did not happen: {one_line(verdict)} It can run again with the "
            "approvals it had: *Retry with the same approvals* on its card."
        )
    return Message(text=fallback(text), blocks=[section(text)])
