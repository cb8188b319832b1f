"""The store's queries behind a request's rules and the hardening in the README's fault table, on
SQLite and PostgreSQL alike: one pending request per change, a cap per person, reminders claimed
once, cards Slack refused and cards a click recorded first, a reconciler's claim given back, and a
run that starts on a fresh lease."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import AuditEvent, ChangeRequest, GraceState, State
from bot.store import PendingDuplicate, Store, TooManyPending

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
Factory = Callable[..., ChangeRequest]


async def made(store: Store, factory: Factory, **overrides: object) -> ChangeRequest:
    request = factory(**overrides)
    await store.create(request)
    return request


async def executing(store: Store, factory: Factory, since: datetime) -> ChangeRequest:
    request = await made(store, factory)
    await store.transition(request.id, State.PENDING, State.APPROVED, decided_at=since)
    running = await store.transition(
        request.id, State.APPROVED, State.EXECUTING, executing_since=since
    )
    assert running is not None
    return running


# ── one pending request per change, and a cap per person ───────────────────────────────────


async def test_a_second_pending_request_for_the_same_change_is_refused_naming_the_first(
    store: Store, request_factory: Factory
) -> None:
    target = "environment-name:twin env"
    first = await made(store, request_factory, action="envs.create", target=target)
    with pytest.raises(PendingDuplicate) as refused:
        await made(
            store,
            request_factory,
            action="envs.create",
            target=target,
            created_at=T0 + timedelta(minutes=1),
        )

    assert refused.value.existing.id == first.id
    found = await store.pending_duplicate("envs.create", target)
    assert found is not None and found.id == first.id
    assert len(await store.list_requests(states=[State.PENDING])) == 1


async def test_the_same_change_asked_on_several_replicas_at_once_is_stored_once(
    database_url: str, request_factory: Factory
) -> None:
    """Each replica has found nothing pending; their inserts race. (On PostgreSQL the advisory
    locks order them; on SQLite the write lock does.)"""
    stores = [await Store.connect(database_url) for _ in range(4)]
    try:
        target = "environment:ae_123:name"
        outcomes = await asyncio.gather(
            *(
                s.create(request_factory(action="envs.update", target=target, requester=who))
                for s, who in zip(stores, ["U0A", "U0B", "U0C", "U0D"], strict=True)
            ),
            return_exceptions=True,
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert all(isinstance(o, PendingDuplicate) for o in outcomes if o is not None)
        assert len(await stores[0].list_requests(states=[State.PENDING])) == 1
    finally:
        for s in stores:
            await s.close()


async def test_a_person_at_the_cap_is_refused_even_by_several_replicas_at_once(
    database_url: str, request_factory: Factory
) -> None:
    stores = [await Store.connect(database_url) for _ in range(3)]
    try:
        await stores[0].create(request_factory(requester="U0ALICE"), max_pending=2)
        outcomes = await asyncio.gather(
            *(s.create(request_factory(requester="U0ALICE"), max_pending=2) for s in stores),
            return_exceptions=True,
        )
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert all(isinstance(o, TooManyPending) for o in outcomes if o is not None)
        assert await stores[0].count_pending("U0ALICE") == 2
    finally:
        for s in stores:
            await s.close()


async def test_a_request_for_another_change_or_no_longer_pending_is_no_duplicate(
    store: Store, request_factory: Factory
) -> None:
    target = "key:tok_1:status"
    decided = await made(store, request_factory, action="keys.update", target=target)
    await store.transition(decided.id, State.PENDING, State.DENIED, decided_by="U0ALICE")
    await made(store, request_factory, action="keys.update", target="key:tok_1:name")
    await made(store, request_factory, action="keys.delete", target=target)

    assert await store.pending_duplicate("keys.update", target) is None


async def test_only_a_persons_pending_requests_count_towards_their_cap(
    store: Store, request_factory: Factory
) -> None:
    for _ in range(2):
        await made(store, request_factory, requester="U0ALICE")
    withdrawn = await made(store, request_factory, requester="U0ALICE")
    await store.transition(withdrawn.id, State.PENDING, State.WITHDRAWN, decided_by="U0ALICE")
    await made(store, request_factory, requester="U0BOB")

    assert await store.count_pending("U0ALICE") == 2
    assert await store.count_pending("U0BOB") == 1
    assert await store.count_pending("U0NOBODY") == 0


# ── reminders ───────────────────────────────────────────────────────────────────────────────


async def test_due_for_reminder_are_pending_carded_unexpired_requests_quiet_for_long_enough(
    store: Store, request_factory: Factory
) -> None:
    card = {"approval_channel": "C0APPROVALS", "approval_ts": "1700000000.000100"}
    due = await made(store, request_factory, **card)
    await made(store, request_factory)  # no card: nowhere to remind
    recent = await made(store, request_factory, **card, created_at=T0 + timedelta(hours=3))
    await made(store, request_factory, **card, reminders_sent=3)  # reminded enough
    await made(store, request_factory, **card, expires_at=T0 + timedelta(hours=4))  # expired
    reminded = await made(
        store, request_factory, **card, reminders_sent=1, reminded_at=T0 + timedelta(hours=3)
    )
    decided = await made(store, request_factory, **card)
    await store.transition(decided.id, State.PENDING, State.DENIED, decided_by="U0ALICE")

    now = T0 + timedelta(hours=5)
    found = await store.due_for_reminder(now, timedelta(hours=4), 3)
    assert [r.id for r in found] == [due.id]
    later = await store.due_for_reminder(now + timedelta(hours=2), timedelta(hours=4), 3)
    assert {r.id for r in later} == {due.id, reminded.id, recent.id}


async def test_of_two_replicas_claiming_one_reminder_exactly_one_wins(
    database_url: str, request_factory: Factory
) -> None:
    stores = [await Store.connect(database_url) for _ in range(2)]
    try:
        request = await made(stores[0], request_factory)
        at = T0 + timedelta(hours=4)
        wins = await asyncio.gather(*(s.claim_reminder(request.id, 0, at) for s in stores))
        assert sorted(wins) == [False, True]
        counted = await stores[1].get(request.id)
        assert counted is not None
        assert (counted.reminders_sent, counted.reminded_at) == (1, at)
        assert not await stores[0].claim_reminder(request.id, 0, at), "already counted"
        assert await stores[1].claim_reminder(request.id, 1, at + timedelta(hours=4))
    finally:
        for store in stores:
            await store.close()


async def test_a_decided_request_is_not_reminded_of(store: Store, request_factory: Factory) -> None:
    request = await made(store, request_factory)
    await store.transition(request.id, State.PENDING, State.EXPIRED)
    assert not await store.claim_reminder(request.id, 0, T0 + timedelta(hours=4))


# ── cards ───────────────────────────────────────────────────────────────────────────────────


async def test_without_card_lists_pending_requests_old_enough_whose_card_is_missing(
    store: Store, request_factory: Factory
) -> None:
    refused = await made(store, request_factory, card_error="channel_not_found")
    await made(store, request_factory, created_at=T0 + timedelta(minutes=5))  # just made
    await made(store, request_factory, approval_channel="C0APPROVALS", approval_ts="1.000100")
    gone = await made(store, request_factory)
    await store.transition(gone.id, State.PENDING, State.WITHDRAWN, decided_by="U0REQUESTER")

    found = await store.without_card(T0 + timedelta(minutes=1))
    assert [(r.id, r.card_error) for r in found] == [(refused.id, "channel_not_found")]


async def test_only_the_first_recording_of_a_card_wins_and_it_clears_the_error(
    store: Store, request_factory: Factory
) -> None:
    request = await made(store, request_factory, card_error="channel_not_found")

    assert await store.set_card(request.id, "C0APPROVALS", "1700000000.000100")  # a click's
    assert not await store.set_card(request.id, "C0APPROVALS", "1700000000.000999")  # the post's
    carded = await store.get(request.id)
    assert carded is not None
    assert (carded.approval_channel, carded.approval_ts) == ("C0APPROVALS", "1700000000.000100")
    assert carded.card_error is None and carded.version == 2
    assert await store.without_card(T0 + timedelta(hours=1)) == []


async def test_of_two_recordings_of_a_card_at_once_exactly_one_wins(
    database_url: str, request_factory: Factory
) -> None:
    stores = [await Store.connect(database_url) for _ in range(2)]
    try:
        request = await made(stores[0], request_factory)
        wins = await asyncio.gather(
            *(
                s.set_card(request.id, "C0APPROVALS", f"1700000000.00010{n}")
                for n, s in enumerate(stores)
            )
        )
        assert sorted(wins) == [False, True]
        carded = await stores[0].get(request.id)
        assert carded is not None and carded.version == 2
    finally:
        for store in stores:
            await store.close()


# ── the reconciler's claim, and a fresh lease for each run ─────────────────────────────────


async def test_a_released_claim_is_stale_again_at_once_and_claimed_by_the_next_sweep(
    store: Store, request_factory: Factory
) -> None:
    request = await executing(store, request_factory, T0)
    sweep = T0 + LEASE + timedelta(seconds=1)
    assert await store.claim_stale(request.id, lapsed_at=sweep - LEASE, at=sweep)
    next_sweep = sweep + timedelta(seconds=15)
    assert await store.stale_executing(next_sweep - LEASE) == [], "claimed: not stale"

    await store.release_claim(request.id)  # the API did not answer the reconciler

    released = await store.get(request.id)
    assert released is not None and released.heartbeat_at is None
    assert released.reconciling_since == sweep  # the running process stays shut out
    assert [r.id for r in await store.stale_executing(next_sweep - LEASE)] == [request.id]
    assert not await store.renew_lease(request.id, next_sweep)
    assert await store.claim_stale(request.id, lapsed_at=next_sweep - LEASE, at=next_sweep)


async def test_releasing_a_claim_leaves_a_request_that_is_no_longer_executing_alone(
    store: Store, request_factory: Factory
) -> None:
    request = await executing(store, request_factory, T0)
    beat = T0 + timedelta(seconds=30)
    assert await store.renew_lease(request.id, beat)
    await store.transition(request.id, State.EXECUTING, State.SUCCEEDED, finished_at=beat)

    await store.release_claim(request.id)

    done = await store.get(request.id)
    assert done is not None and done.heartbeat_at == beat and done.state is State.SUCCEEDED


async def test_a_transition_may_clear_an_earlier_runs_lease_and_claim(
    store: Store, request_factory: Factory
) -> None:
    request = await executing(store, request_factory, T0)
    sweep = T0 + LEASE + timedelta(seconds=1)
    assert await store.claim_stale(request.id, lapsed_at=sweep - LEASE, at=sweep)
    await store.transition(request.id, State.EXECUTING, State.FAILED, finished_at=sweep)
    await store.transition(request.id, State.FAILED, State.APPROVED)  # Retry

    later = sweep + timedelta(minutes=10)
    again = await store.transition(
        request.id,
        State.APPROVED,
        State.EXECUTING,
        executing_since=later,
        heartbeat_at=None,
        reconciling_since=None,
    )
    assert again is not None
    assert (again.heartbeat_at, again.reconciling_since) == (None, None)
    assert again.executing_since == later
    assert await store.renew_lease(request.id, later, lapsed_at=later - LEASE)


# ── the audit trail, by kind ────────────────────────────────────────────────────────────────


async def test_the_audit_of_one_kind_finds_an_event_buried_under_many_others(
    store: Store, request_factory: Factory
) -> None:
    request = await made(store, request_factory)
    delivered = "secret key token of tok_new1 sent to the requester by DM"
    await store.record(AuditEvent(T0, "secret_delivered", "fpbot", request.id, delivered))
    for n in range(30):
        at = T0 + timedelta(seconds=n + 1)
        await store.record(AuditEvent(at, "refused", "U0VIEWER", request.id, "not an approver"))
    await store.record(AuditEvent(T0, "secret_delivered", "fpbot", None, "another request's"))

    assert all(e.kind == "refused" for e in await store.audit(20, request_id=request.id))
    (found,) = await store.audit(20, request_id=request.id, kind="secret_delivered")
    assert found.detail == delivered


async def test_a_persons_open_graces_are_theirs_still_open_soonest_end_first(
    store: Store, request_factory: Factory
) -> None:
    def rotation(requester: str, ends: timedelta, state: GraceState) -> ChangeRequest:
        return request_factory(
            action="keys.rotate",
            state=State.SUCCEEDED,
            requester=requester,
            grace_state=state,
            grace_ends_at=T0 + ends,
        )

    later = rotation("U0ALICE", timedelta(hours=20), GraceState.OPEN)
    sooner = rotation("U0ALICE", timedelta(hours=2), GraceState.WARNED)
    for request in (
        later,
        sooner,
        rotation("U0ALICE", timedelta(hours=1), GraceState.ENDED),
        rotation("U0BOB", timedelta(hours=1), GraceState.OPEN),
    ):
        await store.create(request)

    assert [r.id for r in await store.open_graces("U0ALICE")] == [sooner.id, later.id]
    assert await store.open_graces("U0NOBODY") == []
