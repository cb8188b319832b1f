"""The change-request state machine: who may click what, and what a click means.

Every rule about approvals lives here as a pure function of data — the request as stored, the
person clicking, what the policy says about them, and the time — so the rules can be read in
one place and tested as tables without Slack, a database or a clock. The workflow asks this
module what a click means, then makes it durable with the store's atomic operations
(``add_approval`` and the conditional ``transition``); the store, not this module, is what makes
"runs exactly once" true when clicks race.

Decisions the interface leaves open, settled here:

* Checks run in a fixed order — unknown request, then who is clicking (``requests.approve``),
  then the request's state and expiry, then self-approval, then a repeated approval — so a
  person without the permission learns nothing but that, and an approver clicking a finished
  request is told what happened to it rather than a rule that no longer matters.
* Deny follows the same rule as Approve (a click is accepted only from someone holding
  ``requests.approve`` who is not the requester, unless ``allow_self_approval``). A
  requester cannot withdraw their own request by clicking Deny; it expires on its own, or an
  approver denies it. Where the policy allows self-approval, a requester who holds
  ``requests.approve`` may deny (withdraw) their own request as well.
* Any one approver's deny ends a pending request, even after other approvals: approvals say
  "I agree", a deny says "stop", and stopping is the safe side.
* An approver who already approved may still deny (they changed their mind before it ran).
* A request is expired from ``expires_at`` on (inclusive) even before the sweeper has marked
  it, and a click on it says "expired", never "denied".
* An environment's route may name the only people who approve its changes: a holder of
  ``requests.approve`` who is not one of them is told so (after the permission check).
* Only the requester withdraws a request, and only while it is pending and unexpired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.domain import ChangeRequest, State


class Refusal(StrEnum):
    """Why a click changed nothing; each has its own sentence in `bot.render`."""

    UNKNOWN_REQUEST = "unknown_request"
    NOT_AN_APPROVER = "not_an_approver"
    NOT_PENDING = "not_pending"
    EXPIRED = "expired"
    SELF_APPROVAL = "self_approval"
    SELF_DENIAL = "self_denial"
    ALREADY_APPROVED = "already_approved"
    NOT_ON_ROUTE = "not_on_route"
    NOT_THE_REQUESTER = "not_the_requester"


@dataclass(frozen=True, slots=True)
class Refused:
    """A click that changes nothing, with enough context to tell the clicker why
    (`bot.render.approvals.refusal` says it).

    Attributes:
        reason: which rule refused it.
        state: the request's state when refused (``None`` for an unknown request), so the reply
            can say "already denied" rather than a generic "not pending".
        request_id: the request clicked, for the reply.
        expires_at: when the request expired or expires, for the ``EXPIRED`` sentence.
        requester: who made it, for the ``NOT_THE_REQUESTER`` sentence.
    """

    reason: Refusal
    state: State | None = None
    request_id: str | None = None
    expires_at: datetime | None = None
    requester: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ApprovalRecorded:
    """The approval counts, and the request still needs ``missing`` more."""

    approvals: int
    missing: int


@dataclass(frozen=True, slots=True)
class ReadyToExecute:
    """This approval completes the request: the change may run (if this caller wins the race).

    Attributes:
        approvers: every distinct approver, this click included.
    """

    approvers: frozenset[str]


@dataclass(frozen=True, slots=True)
class Denied:
    """The request ends here; ``withdrawn`` when the requester denied their own request."""

    by: str
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The requester takes the request back; nothing will run."""

    by: str


ApproveOutcome = Refused | ApprovalRecorded | ReadyToExecute
DenyOutcome = Refused | Denied
WithdrawOutcome = Refused | Withdrawn


def is_expired(request: ChangeRequest, now: datetime) -> bool:
    """Whether the request is past its expiry: marked expired, or pending at/after ``expires_at``.

    A request that was decided before its expiry time never becomes expired.
    """
    if request.state is State.EXPIRED:
        return True
    return request.state is State.PENDING and now >= request.expires_at


def on_approve(
    request: ChangeRequest | None,
    clicker: str,
    *,
    may_approve: bool,
    allow_self_approval: bool,
    now: datetime,
    request_id: str | None = None,
    on_route: bool = True,
) -> ApproveOutcome:
    """What an Approve click by ``clicker`` means for ``request`` as it stands.

    Args:
        request: the request as stored, with its approvals; ``None`` if the id is unknown.
        clicker: the Slack user id of the person who clicked.
        may_approve: whether the policy grants ``clicker`` ``requests.approve``.
        allow_self_approval: the policy's ``approvals.allow_self_approval``.
        now: the time of the click (timezone-aware).
        request_id: the id clicked, named in the refusal when no request has it.
        on_route: whether ``clicker`` is one of the approvers the route of the request's
            environment names (always true without a route).

    Returns:
        `Refused` with the reason, `ApprovalRecorded` when more approvals are needed, or
        `ReadyToExecute` when this approval reaches ``request.required_approvals``.
    """
    refused = _refuse_common(
        request, may_approve=may_approve, on_route=on_route, now=now, request_id=request_id
    )
    if refused is not None:
        return refused
    assert request is not None
    if clicker == request.requester and not allow_self_approval:
        return _refused(Refusal.SELF_APPROVAL, request)
    if clicker in request.approvers:
        return _refused(Refusal.ALREADY_APPROVED, request)
    approvers = request.approvers | {clicker}
    missing = max(0, request.required_approvals - len(approvers))
    if missing == 0:
        return ReadyToExecute(approvers=approvers)
    return ApprovalRecorded(approvals=len(approvers), missing=missing)


def on_deny(
    request: ChangeRequest | None,
    clicker: str,
    *,
    may_approve: bool,
    allow_self_approval: bool,
    now: datetime,
    request_id: str | None = None,
    on_route: bool = True,
) -> DenyOutcome:
    """What a Deny click by ``clicker`` means for ``request`` as it stands.

    The same people may deny as may approve: holders of ``requests.approve``, and the requester
    only when ``allow_self_approval`` is true (then it is a withdrawal).

    Returns:
        `Refused` with the reason, or `Denied` (``withdrawn`` when it was the requester).
    """
    refused = _refuse_common(
        request, may_approve=may_approve, on_route=on_route, now=now, request_id=request_id
    )
    if refused is not None:
        return refused
    assert request is not None
    is_requester = clicker == request.requester
    if is_requester and not allow_self_approval:
        return _refused(Refusal.SELF_DENIAL, request)
    return Denied(by=clicker, withdrawn=is_requester)


def on_withdraw(
    request: ChangeRequest | None, clicker: str, *, now: datetime, request_id: str | None = None
) -> WithdrawOutcome:
    """What a Withdraw (``requests cancel``) by ``clicker`` means for ``request``.

    Returns:
        `Refused` (someone else's request, or one no longer pending), or `Withdrawn`.
    """
    if request is None:
        return Refused(Refusal.UNKNOWN_REQUEST, request_id=request_id)
    if clicker != request.requester:
        return _refused(Refusal.NOT_THE_REQUESTER, request)
    if is_expired(request, now):
        return _refused(Refusal.EXPIRED, request)
    if request.state is not State.PENDING:
        return _refused(Refusal.NOT_PENDING, request)
    return Withdrawn(by=clicker)


def _refuse_common(
    request: ChangeRequest | None,
    *,
    may_approve: bool,
    on_route: bool,
    now: datetime,
    request_id: str | None,
) -> Refused | None:
    """The checks Approve and Deny share, in the order the module docstring gives."""
    if request is None:
        return Refused(Refusal.UNKNOWN_REQUEST, request_id=request_id)
    if not may_approve:
        return _refused(Refusal.NOT_AN_APPROVER, request)
    if not on_route:
        return _refused(Refusal.NOT_ON_ROUTE, request)
    if is_expired(request, now):
        return _refused(Refusal.EXPIRED, request)
    if request.state is not State.PENDING:
        return _refused(Refusal.NOT_PENDING, request)
    return None


def _refused(reason: Refusal, request: ChangeRequest) -> Refused:
    return Refused(
        reason=reason,
        state=request.state,
        request_id=request.id,
        expires_at=request.expires_at,
        requester=request.requester,
    )
