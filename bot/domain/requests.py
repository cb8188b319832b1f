"""The change request as every layer of fpbot sees it: plain, immutable data, and the moves
between its states.

This module sits below everything else (the store reads and writes these types; the workflow,
the renderers and the handlers pass them around), so it imports nothing of fpbot. A request
stores *what* to do (``action`` and JSON-safe ``params``), what the account looked
like when it was asked (``before``) and what it should look like after (``after``), so the
approval message can show before → after. It never holds a secret: a token created by a change
goes to the requester by direct message and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """pending → approved → executing → succeeded | failed; pending → denied | expired |
    withdrawn."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in (
            State.SUCCEEDED,
            State.FAILED,
            State.DENIED,
            State.EXPIRED,
            State.WITHDRAWN,
        )


TRANSITIONS: frozenset[tuple[State, State]] = frozenset(
    {
        (State.PENDING, State.APPROVED),
        (State.PENDING, State.DENIED),
        (State.PENDING, State.EXPIRED),
        (State.PENDING, State.WITHDRAWN),
        (State.APPROVED, State.EXECUTING),
        # Nothing reached Fingerprint (its rate limit, the shared budget): still approved.
        (State.EXECUTING, State.APPROVED),
        (State.EXECUTING, State.SUCCEEDED),
        (State.EXECUTING, State.FAILED),
        # An uncertain failure checked against the account: it did happen after all…
        (State.FAILED, State.SUCCEEDED),
        # …or it did not, and the approvals it had are used again (Retry).
        (State.FAILED, State.APPROVED),
    }
)
"""Every allowed move; the store refuses any other so a bug cannot resurrect a request.
The two moves out of ``failed`` are taken only for an uncertain outcome (`Uncertainty`)."""


def can_transition(current: State, new: State) -> bool:
    """Whether a request in ``current`` may move to ``new``."""
    return (current, new) in TRANSITIONS


#: The changes that delete something or stop something that works now, by action and, for an
#: update, the status it sets. Their Approve button asks for confirmation first.
DESTRUCTIVE: frozenset[tuple[str, str | None]] = frozenset(
    {
        ("envs.delete", None),
        ("keys.delete", None),
        ("keys.rotate", None),
        ("keys.update", "disabled"),
        ("webhooks.update", "disabled"),
        ("webhooks.delete", None),
        ("rules.delete", None),
        ("enckeys.update", "disabled"),
        ("enckeys.rotate", None),
        ("subdomains.delete", None),
    }
)


def destructive_kind(action: str, params: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The `DESTRUCTIVE` entry a change falls under, or ``None`` when it breaks nothing."""
    status = params.get("status")
    kind = (action, None if status is None else str(status).lower())
    return kind if kind in DESTRUCTIVE else None


class GraceState(StrEnum):
    """Where a rotation's grace period stands (``ChangeRequest.grace_state``): the old key
    stays usable while it is open, and the requester may revert or end it early."""

    OPEN = "open"
    WARNED = "warned"  # open, and the card's thread was told it ends within the hour
    ENDED = "ended"  # it ran out: the old key was disabled
    FINISHED = "finished"  # ended early by a "Disable old key now" request
    REVERTED = "reverted"  # ended by a Revert request

    @property
    def is_open(self) -> bool:
        return self in (GraceState.OPEN, GraceState.WARNED)


class Uncertainty(StrEnum):
    """What is known of a failed change whose write got no answer (``result["outcome"]``):
    whether it may have happened, and whether a check against the account settled it."""

    UNKNOWN = "unknown"  # the write got no answer: perhaps applied
    NOTHING_HAPPENED = "nothing_happened"  # a check proved it was not: it may be retried


class ApprovalResult(StrEnum):
    """What adding an approval did, as the store judged it: the database, not the caller's
    earlier read, decides a race between clicks."""

    RECORDED = "recorded"
    ALREADY_APPROVED = "already_approved"
    NOT_PENDING = "not_pending"


@dataclass(frozen=True, slots=True)
class Approval:
    user_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One requested change and everything known about it so far.

    Attributes:
        id: short, human-typable id (e.g. ``CR-7K2M9Q``); also the buttons' ``value``.
        action: the permission it needs, e.g. ``envs.delete`` or ``keys.rotate``.
        params: the validated arguments (ids, names, type…), JSON-safe.
        summary: one line a person reads, e.g. "Delete environment *Staging* (`ae_123`)".
        before: the resource as it was when requested (``None`` for a create).
        after: the resource as it should be (``None`` for a delete).
        result: what the change produced, secrets removed (e.g. the new key's id).
        executing_since: when execution started (reconciliation recognises what the request
            created by it); never moved after that.
        heartbeat_at: when the executing process last renewed its lease (``None`` until the
            first renewal); the sweeper reconciles a request only once neither this nor
            ``executing_since`` is recent.
        reconciling_since: when a sweeper last claimed the request to reconcile it
            (the store's ``claim_stale``); ``None`` while its own process holds the lease.
            A claimed lease is never renewed by that process again.
        reason: why the requester asks (shown to approvers, kept in the audit).
        decision_note: why it was denied or withdrawn, when the decider said.
        environment: the environment the change touches (a key's or webhook's own), which
            picks its approval route; ``environment_name`` is its name when requested.
        target: what it changes, as ``<resource>:<id or name>``: two pending requests with
            the same action and target are one too many.
        reminders_sent, reminded_at: the reminders posted in the card's thread so far.
        card_error: Slack's refusal when the card could not be posted (the sweeper tries
            again; the requester and ``/fp requests`` are told).
        grace_ends_at, grace_state: a rotation that keeps the old key usable for a while:
            when that ends and where it stands (`GraceState`); ``None`` for any other.
        grace_closed_at: when the grace period ended, was ended early or was reverted.
    """

    id: str
    action: str
    params: dict[str, Any]
    summary: str
    requester: str
    channel_id: str
    state: State
    required_approvals: int
    created_at: datetime
    expires_at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    approvals: tuple[Approval, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    executing_since: datetime | None = None
    heartbeat_at: datetime | None = None
    reconciling_since: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    correlation_id: str = ""
    approval_channel: str | None = None
    approval_ts: str | None = None
    reason: str | None = None
    decision_note: str | None = None
    environment: str | None = None
    environment_name: str | None = None
    target: str | None = None
    reminders_sent: int = 0
    reminded_at: datetime | None = None
    card_error: str | None = None
    grace_ends_at: datetime | None = None
    grace_state: GraceState | None = None
    grace_closed_at: datetime | None = None
    version: int = field(default=0, compare=False)

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a.user_id for a in self.approvals)

    @property
    def approvals_missing(self) -> int:
        return max(0, self.required_approvals - len(self.approvers))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the trail: every transition and every refused click."""

    at: datetime
    kind: str  # e.g. "requested", "approved", "denied", "refused", "executed", "failed"
    actor: str  # Slack user id, or "fpbot" for the sweeper and reconciliation
    request_id: str | None
    detail: str
    correlation_id: str = ""
    id: int | None = None
