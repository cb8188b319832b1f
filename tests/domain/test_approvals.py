"""The approval rules as tables: each row is one sentence of the policy, then property tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import TRANSITIONS, Approval, ChangeRequest, State, can_transition
from bot.domain.approvals import (
    ApprovalRecorded,
    Denied,
    ReadyToExecute,
    Refusal,
    Refused,
    is_expired,
    on_approve,
    on_deny,
)
from bot.render.approvals import refusal as explain

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(hours=24)
SOON = T0 + timedelta(minutes=5)
REQUESTER = "U0REQUESTER"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


def make_request(*, approvals: tuple[str, ...] = (), **overrides: Any) -> ChangeRequest:
    """A pending ``envs.delete`` request made at `T0` by `REQUESTER`, expiring a day later."""
    request = ChangeRequest(
        id="CR-7K2M9Q",
        action="envs.delete",
        params={"environment_id": "ae_123"},
        summary="Delete environment *Staging* (`ae_123`)",
        requester=REQUESTER,
        channel_id="C0OPS",
        state=State.PENDING,
        required_approvals=1,
        created_at=T0,
        expires_at=EXPIRES,
        approvals=tuple(Approval(user_id=u, at=T0 + timedelta(minutes=1)) for u in approvals),
    )
    return replace(request, **overrides)


def refused(reason: Refusal, state: State | None = State.PENDING) -> Refused:
    if state is None:
        return Refused(reason)
    return Refused(reason, state=state, request_id="CR-7K2M9Q", expires_at=EXPIRES)


@dataclass(frozen=True)
class Click:
    request: ChangeRequest | None
    clicker: str = ALICE
    may_approve: bool = True
    allow_self_approval: bool = False
    now: datetime = SOON


APPROVE_CASES = [
    ("one approval completes a request the policy gives one approval",
     Click(make_request()), ReadyToExecute(frozenset({ALICE}))),
    ("two approvals are needed for envs.delete when the policy says 2",
     Click(make_request(required_approvals=2)), ApprovalRecorded(approvals=1, missing=1)),
    ("a second, different approver completes a two-approval request",
     Click(make_request(required_approvals=2, approvals=(BOB,))),
     ReadyToExecute(frozenset({ALICE, BOB}))),
    ("three approvals are needed when the policy says 3",
     Click(make_request(required_approvals=3, approvals=(BOB,))),
     ApprovalRecorded(approvals=2, missing=1)),
    ("an approver cannot approve twice",
     Click(make_request(required_approvals=2, approvals=(ALICE,))),
     refused(Refusal.ALREADY_APPROVED)),
    ("a viewer's click is refused",
     Click(make_request(), may_approve=False), refused(Refusal.NOT_AN_APPROVER)),
    ("self-approval is refused unless allowed",
     Click(make_request(), clicker=REQUESTER), refused(Refusal.SELF_APPROVAL)),
    ("self-approval counts when the policy allows it",
     Click(make_request(), clicker=REQUESTER, allow_self_approval=True),
     ReadyToExecute(frozenset({REQUESTER}))),
    ("a requester without requests.approve cannot approve even when self-approval is allowed",
     Click(make_request(), clicker=REQUESTER, may_approve=False, allow_self_approval=True),
     refused(Refusal.NOT_AN_APPROVER)),
    ("expired says expired, not denied",
     Click(make_request(), now=EXPIRES + timedelta(minutes=1)), refused(Refusal.EXPIRED)),
    ("a request is expired from its expiry time exactly",
     Click(make_request(), now=EXPIRES), refused(Refusal.EXPIRED)),
    ("a click a second before expiry still counts",
     Click(make_request(), now=EXPIRES - timedelta(seconds=1)),
     ReadyToExecute(frozenset({ALICE}))),
    ("a request the sweeper marked expired says expired",
     Click(make_request(state=State.EXPIRED)), refused(Refusal.EXPIRED, State.EXPIRED)),
    ("a click on a denied request names its state",
     Click(make_request(state=State.DENIED)), refused(Refusal.NOT_PENDING, State.DENIED)),
    ("a click on an approved request names its state",
     Click(make_request(state=State.APPROVED)), refused(Refusal.NOT_PENDING, State.APPROVED)),
    ("a click on a running request names its state",
     Click(make_request(state=State.EXECUTING)), refused(Refusal.NOT_PENDING, State.EXECUTING)),
    ("a click on a succeeded request names its state",
     Click(make_request(state=State.SUCCEEDED)), refused(Refusal.NOT_PENDING, State.SUCCEEDED)),
    ("a click on a failed request names its state",
     Click(make_request(state=State.FAILED)), refused(Refusal.NOT_PENDING, State.FAILED)),
    ("a request denied before its expiry is still 'denied' after it",
     Click(make_request(state=State.DENIED), now=EXPIRES + timedelta(days=1)),
     refused(Refusal.NOT_PENDING, State.DENIED)),
    ("a click on an unknown request is refused",
     Click(None), refused(Refusal.UNKNOWN_REQUEST, None)),
    ("a viewer clicking an expired request only learns they can't approve",
     Click(make_request(), may_approve=False, now=EXPIRES), refused(Refusal.NOT_AN_APPROVER)),
    ("the requester clicking their own finished request hears its state, not the self rule",
     Click(make_request(state=State.SUCCEEDED), clicker=REQUESTER),
     refused(Refusal.NOT_PENDING, State.SUCCEEDED)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("click", "expected"), [pytest.param(c, e, id=s) for s, c, e in APPROVE_CASES]
)
def test_approve(click: Click, expected: object) -> None:
    outcome = on_approve(
        click.request,
        click.clicker,
        may_approve=click.may_approve,
        allow_self_approval=click.allow_self_approval,
        now=click.now,
    )
    assert outcome == expected


DENY_CASES = [
    ("an approver's deny ends a pending request",
     Click(make_request()), Denied(by=ALICE)),
    ("a viewer cannot deny",
     Click(make_request(), may_approve=False), refused(Refusal.NOT_AN_APPROVER)),
    ("a requester without requests.approve cannot deny their own request",
     Click(make_request(), clicker=REQUESTER, may_approve=False),
     refused(Refusal.NOT_AN_APPROVER)),
    ("a requester without requests.approve cannot deny even when self-approval is allowed",
     Click(make_request(), clicker=REQUESTER, may_approve=False, allow_self_approval=True),
     refused(Refusal.NOT_AN_APPROVER)),
    ("an approver cannot deny their own request unless self-approval is allowed",
     Click(make_request(), clicker=REQUESTER), refused(Refusal.SELF_DENIAL)),
    ("an approver may withdraw their own request when self-approval is allowed",
     Click(make_request(), clicker=REQUESTER, allow_self_approval=True),
     Denied(by=REQUESTER, withdrawn=True)),
    ("an approver who already approved may still deny",
     Click(make_request(required_approvals=2, approvals=(ALICE,))), Denied(by=ALICE)),
    ("one deny ends a request even after other approvals",
     Click(make_request(required_approvals=3, approvals=(BOB, CAROL))), Denied(by=ALICE)),
    ("a deny on an expired request says expired, not denied",
     Click(make_request(), now=EXPIRES), refused(Refusal.EXPIRED)),
    ("the requester cannot withdraw an expired request",
     Click(make_request(), clicker=REQUESTER, now=EXPIRES, allow_self_approval=True),
     refused(Refusal.EXPIRED)),
    ("a deny on a denied request says it was already denied",
     Click(make_request(state=State.DENIED)), refused(Refusal.NOT_PENDING, State.DENIED)),
    ("a deny on a running request cannot stop it",
     Click(make_request(state=State.EXECUTING)), refused(Refusal.NOT_PENDING, State.EXECUTING)),
    ("a deny on an unknown request is refused",
     Click(None), refused(Refusal.UNKNOWN_REQUEST, None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("click", "expected"), [pytest.param(c, e, id=s) for s, c, e in DENY_CASES]
)
def test_deny(click: Click, expected: object) -> None:
    outcome = on_deny(
        click.request,
        click.clicker,
        may_approve=click.may_approve,
        allow_self_approval=click.allow_self_approval,
        now=click.now,
    )
    assert outcome == expected


EXPLAIN_CASES = [
    ("expired names the time and says it was not denied",
     refused(Refusal.EXPIRED), ["expired at 2025-03-02 12:00 UTC", "not denied"]),
    ("a denied request says already denied",
     refused(Refusal.NOT_PENDING, State.DENIED), ["CR-7K2M9Q", "already been denied"]),
    ("an approved request says it is about to run",
     refused(Refusal.NOT_PENDING, State.APPROVED), ["already been approved", "about to run"]),
    ("a running request says it is running",
     refused(Refusal.NOT_PENDING, State.EXECUTING), ["running now"]),
    ("a succeeded request says it was carried out",
     refused(Refusal.NOT_PENDING, State.SUCCEEDED), ["carried out"]),
    ("a failed request says it failed",
     refused(Refusal.NOT_PENDING, State.FAILED), ["failed"]),
    ("a second click says you already approved",
     refused(Refusal.ALREADY_APPROVED), ["You already approved CR-7K2M9Q"]),
    ("a self-approval says someone else has to approve",
     refused(Refusal.SELF_APPROVAL), ["someone else"]),
    ("a self-denial says someone else has to decide and that it expires on its own",
     refused(Refusal.SELF_DENIAL), ["someone else has to approve or deny it", "expires"]),
    ("a viewer is told which permission is needed",
     refused(Refusal.NOT_AN_APPROVER), ["`requests.approve`"]),
    ("an unknown request says it doesn't exist",
     Refused(Refusal.UNKNOWN_REQUEST, request_id="CR-000000"), ["CR-000000", "doesn't exist"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("refusal", "phrases"), [pytest.param(r, p, id=s) for s, r, p in EXPLAIN_CASES]
)
def test_explain(refusal: Refused, phrases: list[str]) -> None:
    text = explain(refusal)
    for phrase in phrases:
        assert phrase in text


@pytest.mark.parametrize("reason", list(Refusal))
@pytest.mark.parametrize("state", [None, *State])
def test_every_refusal_explains_itself_without_saying_expired_requests_were_denied(
    reason: Refusal, state: State | None
) -> None:
    text = explain(Refused(reason, state=state))
    assert text.endswith(".")
    if reason is Refusal.EXPIRED or (reason is Refusal.NOT_PENDING and state is State.EXPIRED):
        assert "expired" in text
        assert "was denied" not in text and "been denied" not in text


TRANSITION_CASES = [
    ("a pending request can be approved", State.PENDING, State.APPROVED, True),
    ("a pending request can be denied", State.PENDING, State.DENIED, True),
    ("a pending request can expire", State.PENDING, State.EXPIRED, True),
    ("an approved request starts executing", State.APPROVED, State.EXECUTING, True),
    ("an execution can succeed", State.EXECUTING, State.SUCCEEDED, True),
    ("an execution can fail", State.EXECUTING, State.FAILED, True),
    ("a pending request cannot skip approval", State.PENDING, State.EXECUTING, False),
    ("an approved request cannot be denied", State.APPROVED, State.DENIED, False),
    ("a denied request can never be approved", State.DENIED, State.APPROVED, False),
    ("an expired request can never be approved", State.EXPIRED, State.APPROVED, False),
    ("a running request cannot expire", State.EXECUTING, State.EXPIRED, False),
    ("nothing goes back to pending", State.APPROVED, State.PENDING, False),
    ("a failed request is not retried by a transition", State.FAILED, State.EXECUTING, False),
    ("a request cannot run twice", State.SUCCEEDED, State.EXECUTING, False),
]


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [pytest.param(a, b, ok, id=s) for s, a, b, ok in TRANSITION_CASES],
)
def test_transitions(current: State, new: State, allowed: bool) -> None:
    assert can_transition(current, new) is allowed


def test_no_final_state_leads_anywhere_but_an_uncertain_failure_settled_or_retried() -> None:
    """Final means final, with one exception the workflow guards: a failed change whose
    outcome was uncertain may be settled by a check (it did happen) or run again with the
    approvals it had (a check proved it did not)."""
    exits = {pair for pair in TRANSITIONS if pair[0].is_final}
    assert exits == {(State.FAILED, State.SUCCEEDED), (State.FAILED, State.APPROVED)}


def test_every_state_is_reachable_from_pending() -> None:
    reached = {State.PENDING}
    while True:
        more = {b for a, b in TRANSITIONS if a in reached} - reached
        if not more:
            break
        reached |= more
    assert reached == set(State)


IS_EXPIRED_CASES = [
    ("a pending request before its expiry is not expired", State.PENDING, SOON, False),
    ("a pending request at its expiry is expired", State.PENDING, EXPIRES, True),
    ("a request marked expired is expired", State.EXPIRED, SOON, True),
    ("a request that ran is never expired", State.SUCCEEDED, EXPIRES + timedelta(days=9), False),
    ("an approved request waiting to run is not expired", State.APPROVED, EXPIRES, False),
]


@pytest.mark.parametrize(
    ("state", "now", "expired"), [pytest.param(a, n, e, id=s) for s, a, n, e in IS_EXPIRED_CASES]
)
def test_is_expired(state: State, now: datetime, expired: bool) -> None:
    assert is_expired(make_request(state=state), now) is expired


# --- Properties: random clicks over a simulated store ------------------------------------------

USERS = [REQUESTER, ALICE, BOB, CAROL, "U0DAVE", "U0EVE"]


class SimulatedStore:
    """The store's two atomic operations, as the workflow uses them: a unique approval insert
    and a conditional state change. Every version is kept so a click can read a stale one."""

    def __init__(self, request: ChangeRequest) -> None:
        self.history = [request]

    @property
    def current(self) -> ChangeRequest:
        return self.history[-1]

    def read(self, lag: int) -> ChangeRequest:
        return self.history[max(0, len(self.history) - 1 - lag)]

    def add_approval(self, user: str, at: datetime) -> bool:
        if user in self.current.approvers:
            return False
        approvals = (*self.current.approvals, Approval(user_id=user, at=at))
        self.history.append(replace(self.current, approvals=approvals))
        return True

    def transition(self, expected: State, new: State) -> bool:
        assert can_transition(expected, new)
        if self.current.state is not expected:
            return False
        self.history.append(replace(self.current, state=new))
        return True


clicks = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(["approve", "deny", "sweep"]),
        st.integers(min_value=0, max_value=90),  # minutes since the previous click
        st.integers(min_value=0, max_value=3),  # how stale the clicker's read is
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    required=st.integers(min_value=1, max_value=3),
    allow_self=st.booleans(),
    approvers=st.sets(st.sampled_from(USERS)),
    events=clicks,
    stale=st.booleans(),
)
def test_random_clicks_run_a_request_at_most_once(
    required: int,
    allow_self: bool,
    approvers: set[str],
    events: list[tuple[str, str, int, int]],
    stale: bool,
) -> None:
    """The workflow's protocol — ask the machine, insert the approval, recount from the store,
    then a conditional PENDING→APPROVED — lets at most one click win, and only with enough
    distinct, eligible approvals, before any deny or expiry, however stale the reads are."""
    request = make_request(required_approvals=required, expires_at=T0 + timedelta(hours=8))
    store = SimulatedStore(request)
    now = T0
    ready, wins = 0, 0
    for user, kind, minutes, lag in events:
        now += timedelta(minutes=minutes)
        seen = store.read(lag if stale else 0)
        if kind == "sweep":
            if is_expired(store.current, now):
                store.transition(State.PENDING, State.EXPIRED)
            continue
        may = user in approvers
        if kind == "deny":
            outcome = on_deny(seen, user, may_approve=may, allow_self_approval=allow_self, now=now)
            if isinstance(outcome, Denied):
                store.transition(State.PENDING, State.DENIED)
            continue
        result = on_approve(seen, user, may_approve=may, allow_self_approval=allow_self, now=now)
        if isinstance(result, Refused):
            continue
        assert may and (allow_self or user != REQUESTER)
        ready += isinstance(result, ReadyToExecute)
        if not store.add_approval(user, now):
            continue  # the store says "you already approved"
        fresh = store.current
        if fresh.approvals_missing == 0 and store.transition(State.PENDING, State.APPROVED):
            wins += 1
            assert fresh.state is State.PENDING
            assert not is_expired(seen, now)
            assert len(fresh.approvers) >= required
            assert fresh.approvers <= approvers
            assert allow_self or REQUESTER not in fresh.approvers

    assert wins <= 1
    if not stale:
        # With fresh reads the machine's own verdict is exact: one ReadyToExecute, the winner.
        assert ready == wins
        states = [r.state for r in store.history]
        assert states.count(State.APPROVED) == wins


@settings(max_examples=200, deadline=None)
@given(
    required=st.integers(min_value=1, max_value=4),
    prior=st.sets(st.sampled_from(USERS[1:]), max_size=3),
    clicker=st.sampled_from(USERS),
    may=st.booleans(),
    allow_self=st.booleans(),
    minutes=st.integers(min_value=0, max_value=3000),
    state=st.sampled_from(list(State)),
)
def test_an_approval_never_counts_an_approver_twice(
    required: int,
    prior: set[str],
    clicker: str,
    may: bool,
    allow_self: bool,
    minutes: int,
    state: State,
) -> None:
    request = make_request(required_approvals=required, approvals=tuple(sorted(prior)), state=state)
    now = T0 + timedelta(minutes=minutes)
    outcome = on_approve(request, clicker, may_approve=may, allow_self_approval=allow_self, now=now)
    if isinstance(outcome, ApprovalRecorded):
        assert outcome.approvals == len(prior | {clicker}) < required
        assert outcome.approvals + outcome.missing == required
    elif isinstance(outcome, ReadyToExecute):
        assert outcome.approvers == prior | {clicker}
        assert len(outcome.approvers) >= required
    if not isinstance(outcome, Refused):
        assert state is State.PENDING and now < request.expires_at and clicker not in prior


@settings(max_examples=200, deadline=None)
@given(
    clicker=st.sampled_from(USERS),
    may=st.booleans(),
    allow_self=st.booleans(),
    minutes=st.integers(min_value=0, max_value=3000),
    state=st.sampled_from(list(State)),
)
def test_deny_is_accepted_from_exactly_whom_approve_is(
    clicker: str, may: bool, allow_self: bool, minutes: int, state: State
) -> None:
    """§5's rule holds for both buttons: ``requests.approve``, not the requester (unless
    ``allow_self_approval``), on a pending, unexpired request."""
    request = make_request(state=state)
    now = T0 + timedelta(minutes=minutes)
    denied = on_deny(request, clicker, may_approve=may, allow_self_approval=allow_self, now=now)
    approved = on_approve(
        request, clicker, may_approve=may, allow_self_approval=allow_self, now=now
    )
    assert isinstance(denied, Denied) == (not isinstance(approved, Refused))
    if isinstance(denied, Denied):
        assert may and (allow_self or clicker != REQUESTER)
        assert denied.withdrawn == (clicker == REQUESTER)
