"""The store's behaviour, the same on SQLite and PostgreSQL (each test runs on both)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from bot.domain import Approval, AuditEvent, ChangeRequest, SecretRefused, State
from bot.store import (
    ApprovalResult,
    DuplicateRequest,
    InvalidTransition,
    Store,
    StoreUnavailable,
    UnknownRequest,
    new_request_id,
)
from tests.store.conftest import PG_DSN

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
Factory = Callable[..., ChangeRequest]


async def test_a_created_request_reads_back_exactly(store: Store, request_factory: Factory) -> None:
    request = request_factory(
        after=None, result=None, approval_channel="C0APPROVALS", approval_ts="1700000000.000100"
    )
    await store.create(request)
    loaded = await store.get(request.id)
    assert loaded == request
    assert loaded is not None and loaded.version == 1
    assert loaded.created_at.tzinfo is not None and loaded.created_at == T0


async def test_timestamps_in_other_zones_come_back_as_the_same_instant_in_utc(
    store: Store, request_factory: Factory
) -> None:
    plus_two = timezone(timedelta(hours=2))
    request = request_factory(created_at=T0.astimezone(plus_two))
    await store.create(request)
    loaded = await store.get(request.id)
    assert loaded is not None
    assert loaded.created_at == T0 and loaded.created_at.utcoffset() == timedelta(0)


async def test_a_naive_timestamp_is_refused(store: Store, request_factory: Factory) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await store.create(request_factory(created_at=datetime(2025, 3, 1, 12, 0)))


async def test_an_unknown_request_is_none(store: Store) -> None:
    assert await store.get("CR-000000") is None


async def test_a_duplicate_id_is_refused(store: Store, request_factory: Factory) -> None:
    request = request_factory()
    await store.create(request)
    with pytest.raises(DuplicateRequest):
        await store.create(replace(request, summary="another"))


async def test_approvals_carried_by_a_new_request_are_stored(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory(approvals=(Approval("U0ALICE", T0),))
    await store.create(request)
    loaded = await store.get(request.id)
    assert loaded is not None and loaded.approvers == {"U0ALICE"}


async def test_a_person_approves_once_however_often_they_click(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory(required_approvals=2)
    await store.create(request)
    recorded, again = ApprovalResult.RECORDED, ApprovalResult.ALREADY_APPROVED
    assert await store.add_approval(request.id, "U0ALICE", T0) is recorded
    assert await store.add_approval(request.id, "U0ALICE", T0 + timedelta(seconds=1)) is again
    assert await store.add_approval(request.id, "U0BOB", T0 + timedelta(seconds=2)) is recorded
    loaded = await store.get(request.id)
    assert loaded is not None
    assert [a.user_id for a in loaded.approvals] == ["U0ALICE", "U0BOB"]
    assert loaded.approvals[0].at == T0
    assert loaded.approvals_missing == 0


async def test_approving_an_unknown_request_raises(store: Store) -> None:
    with pytest.raises(UnknownRequest):
        await store.add_approval("CR-000000", "U0ALICE", T0)


@pytest.mark.parametrize(
    "state", [State.APPROVED, State.EXECUTING, State.SUCCEEDED, State.FAILED, State.DENIED,
              State.EXPIRED],
)  # fmt: skip
async def test_an_approval_of_a_request_no_longer_pending_writes_nothing(
    store: Store, request_factory: Factory, state: State
) -> None:
    request = request_factory(state=state, required_approvals=2, approvals=(Approval("U0BOB", T0),))
    await store.create(request)

    result = await store.add_approval(request.id, "U0ALICE", T0 + timedelta(minutes=1))

    assert result is ApprovalResult.NOT_PENDING
    loaded = await store.get(request.id)
    assert loaded is not None and loaded.approvers == {"U0BOB"} and loaded.version == 1


async def test_an_approval_at_or_after_the_expiry_writes_nothing(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory()
    await store.create(request)

    at_expiry = await store.add_approval(request.id, "U0ALICE", request.expires_at)
    just_before = await store.add_approval(
        request.id, "U0BOB", request.expires_at - timedelta(seconds=1)
    )

    assert at_expiry is ApprovalResult.NOT_PENDING
    assert just_before is ApprovalResult.RECORDED
    loaded = await store.get(request.id)
    assert loaded is not None and loaded.approvers == {"U0BOB"}


async def test_a_transition_from_the_expected_state_wins_once(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory()
    await store.create(request)
    won = await store.transition(
        request.id, State.PENDING, State.APPROVED, decided_by="U0ALICE", decided_at=T0
    )
    assert won is not None
    assert won.state is State.APPROVED and won.decided_by == "U0ALICE" and won.version == 2
    assert await store.transition(request.id, State.PENDING, State.APPROVED) is None
    assert await store.transition(request.id, State.PENDING, State.DENIED) is None
    running = await store.transition(
        request.id, State.APPROVED, State.EXECUTING, executing_since=T0
    )
    assert running is not None and running.executing_since == T0 and running.version == 3
    done = await store.transition(
        request.id,
        State.EXECUTING,
        State.SUCCEEDED,
        result={"key_id": "tok_9", "names": ["a", "b"]},
        finished_at=T0,
    )
    assert done is not None and done.result == {"key_id": "tok_9", "names": ["a", "b"]}


async def test_a_transition_of_an_unknown_request_is_none(store: Store) -> None:
    assert await store.transition("CR-000000", State.PENDING, State.APPROVED) is None


async def test_a_transition_the_machine_forbids_raises(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory()
    await store.create(request)
    with pytest.raises(InvalidTransition):
        await store.transition(request.id, State.PENDING, State.EXECUTING)


@pytest.mark.parametrize("field", ["state", "id", "version", "requester", "params", "action"])
async def test_fixed_fields_cannot_be_changed(
    store: Store, request_factory: Factory, field: str
) -> None:
    request = request_factory()
    await store.create(request)
    with pytest.raises(TypeError, match=field):
        await store.update_fields(request.id, **{field: "x"})
    with pytest.raises(TypeError, match=field):
        await store.transition(request.id, State.PENDING, State.DENIED, **{field: "x"})
    assert (await store.get(request.id)) == request


async def test_update_fields_sets_the_message_and_bumps_the_version(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory()
    await store.create(request)
    updated = await store.update_fields(request.id, approval_channel="C0APP", approval_ts="1.2")
    assert updated is not None
    assert (updated.approval_channel, updated.approval_ts, updated.version) == ("C0APP", "1.2", 2)
    assert updated.state is State.PENDING
    assert await store.update_fields("CR-000000", approval_ts="1.2") is None


async def test_list_requests_filters_by_state_and_requester_newest_first(
    store: Store, request_factory: Factory
) -> None:
    made = []
    for i, (state, requester) in enumerate(
        [
            (State.PENDING, "U0A"),
            (State.PENDING, "U0B"),
            (State.DENIED, "U0A"),
            (State.SUCCEEDED, "U0A"),
        ]
    ):
        r = request_factory(state=state, requester=requester, created_at=T0 + timedelta(hours=i))
        await store.create(r)
        made.append(r)
    await store.add_approval(made[0].id, "U0ALICE", T0)

    pending = await store.list_requests(states=[State.PENDING])
    assert [r.id for r in pending] == [made[1].id, made[0].id]
    assert pending[1].approvers == {"U0ALICE"}
    mine = await store.list_requests(requester="U0A")
    assert [r.id for r in mine] == [made[3].id, made[2].id, made[0].id]
    assert [r.id for r in await store.list_requests(requester="U0A", limit=1)] == [made[3].id]
    both = await store.list_requests(states=[State.PENDING, State.DENIED], requester="U0A")
    assert [r.id for r in both] == [made[2].id, made[0].id]
    assert await store.list_requests(states=[]) == []


async def test_due_for_expiry_is_pending_requests_at_or_past_their_expiry(
    store: Store, request_factory: Factory
) -> None:
    due = request_factory(expires_at=T0)
    exactly = request_factory(expires_at=T0 + timedelta(minutes=1))
    later = request_factory(expires_at=T0 + timedelta(minutes=2))
    decided = request_factory(expires_at=T0, state=State.DENIED)
    for r in (due, exactly, later, decided):
        await store.create(r)
    found = await store.due_for_expiry(T0 + timedelta(minutes=1))
    assert [r.id for r in found] == [due.id, exactly.id]


async def test_stale_executing_finds_requests_running_too_long(
    store: Store, request_factory: Factory
) -> None:
    old = request_factory(state=State.EXECUTING, executing_since=T0)
    fresh = request_factory(state=State.EXECUTING, executing_since=T0 + timedelta(minutes=30))
    unknown = request_factory(state=State.EXECUTING)
    done = request_factory(state=State.SUCCEEDED, executing_since=T0)
    for r in (old, fresh, unknown, done):
        await store.create(r)
    found = {r.id for r in await store.stale_executing(T0 + timedelta(minutes=10))}
    assert found == {old.id, unknown.id}


async def test_stale_executing_goes_by_the_last_heartbeat_once_there_is_one(
    store: Store, request_factory: Factory
) -> None:
    cutoff = T0 + timedelta(minutes=10)
    renewed = request_factory(state=State.EXECUTING, executing_since=T0)
    lapsed = request_factory(state=State.EXECUTING, executing_since=T0)
    at_the_cutoff = request_factory(state=State.EXECUTING, executing_since=T0)
    never_renewed = request_factory(state=State.EXECUTING, executing_since=T0)
    for r in (renewed, lapsed, at_the_cutoff, never_renewed):
        await store.create(r)
    assert await store.renew_lease(renewed.id, cutoff + timedelta(seconds=1))
    assert await store.renew_lease(lapsed.id, cutoff - timedelta(minutes=1))
    assert await store.renew_lease(at_the_cutoff.id, cutoff)

    found = [r.id for r in await store.stale_executing(cutoff)]
    assert sorted(found) == sorted([lapsed.id, at_the_cutoff.id, never_renewed.id])
    assert found[0] == never_renewed.id, "the longest-unrenewed lease comes first"


async def test_renewing_a_lease_touches_only_the_heartbeat_of_an_executing_request(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory()
    await store.create(request)
    assert not await store.renew_lease(request.id, T0), "a pending request has no lease"
    await store.transition(request.id, State.PENDING, State.APPROVED, decided_at=T0)
    running = await store.transition(
        request.id, State.APPROVED, State.EXECUTING, executing_since=T0
    )
    assert running is not None and running.heartbeat_at is None

    beat = T0 + timedelta(seconds=30)
    assert await store.renew_lease(request.id, beat)
    renewed = await store.get(request.id)
    assert renewed is not None
    assert renewed.heartbeat_at == beat and renewed.executing_since == T0
    assert renewed.version == running.version, "a heartbeat is not a change anyone sees"
    assert replace(renewed, heartbeat_at=None) == running

    done = await store.transition(request.id, State.EXECUTING, State.SUCCEEDED, finished_at=beat)
    assert done is not None
    assert not await store.renew_lease(request.id, beat + timedelta(seconds=30))
    after = await store.get(request.id)
    assert after is not None and after.heartbeat_at == beat and after.version == done.version
    assert not await store.renew_lease("CR-000000", beat)


async def test_a_lapsed_lease_is_not_revived_when_the_caller_says_when_it_lapses(
    store: Store, request_factory: Factory
) -> None:
    fresh = request_factory(state=State.EXECUTING, executing_since=T0)
    beaten = request_factory(state=State.EXECUTING, executing_since=T0)
    lapsed = request_factory(state=State.EXECUTING, executing_since=T0)
    for r in (fresh, beaten, lapsed):
        await store.create(r)
    await store.renew_lease(beaten.id, T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=2)
    lease = timedelta(minutes=1, seconds=30)

    assert await store.renew_lease(fresh.id, now, lapsed_at=now - timedelta(minutes=5))
    assert await store.renew_lease(beaten.id, now, lapsed_at=now - lease)
    assert not await store.renew_lease(lapsed.id, now, lapsed_at=now - lease)

    left = await store.get(lapsed.id)
    assert left is not None and left.heartbeat_at is None
    assert [r.id for r in await store.stale_executing(now - lease)] == [lapsed.id]


async def test_the_audit_trail_is_newest_first(store: Store) -> None:
    for i, kind in enumerate(["requested", "approved", "executed"]):
        await store.record(
            AuditEvent(
                at=T0 + timedelta(seconds=i),
                kind=kind,
                actor="U0A",
                request_id="CR-AAAAAA",
                detail=f"step {i}",
            )
        )
    await store.record(
        AuditEvent(at=T0 + timedelta(seconds=5), kind="refused", actor="U0B", request_id=None,
                   detail="no such request", correlation_id="c-9")
    )  # fmt: skip
    events = await store.audit()
    assert [e.kind for e in events] == ["refused", "executed", "approved", "requested"]
    assert events[0].correlation_id == "c-9" and events[0].id is not None
    assert [e.kind for e in await store.audit(limit=2)] == ["refused", "executed"]
    assert [e.kind for e in await store.audit(request_id="CR-AAAAAA", limit=2)] == [
        "executed",
        "approved",
    ]


async def test_events_at_the_same_instant_keep_the_order_they_were_recorded(store: Store) -> None:
    for kind in ["first", "second", "third"]:
        await store.record(AuditEvent(at=T0, kind=kind, actor="fpbot", request_id=None, detail=""))
    assert [e.kind for e in await store.audit()] == ["third", "second", "first"]


SECRET_WRITES = [
    ("a token in the params", {"params": {"token": "abc123"}}),
    ("a signing key in the result", {"result": {"webhook": {"signing_key": "whsec_1"}}}),
    ("a secret in the after-picture", {"after": {"secret": "s3cr3t"}}),
    ("a Slack bot token in the summary", {"summary": "use xoxb-1234-5678-abcdef"}),
]


@pytest.mark.parametrize("fields", [pytest.param(f, id=sentence) for sentence, f in SECRET_WRITES])
async def test_no_secret_is_ever_written(
    store: Store, request_factory: Factory, fields: dict[str, object]
) -> None:
    request = request_factory()
    with pytest.raises(SecretRefused):
        await store.create(replace(request, **fields))  # type: ignore[arg-type]
    assert await store.get(request.id) is None


async def test_no_secret_is_written_by_a_transition_an_update_or_the_audit(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory(state=State.EXECUTING)
    await store.create(request)
    with pytest.raises(SecretRefused, match=r"result\.token"):
        await store.transition(
            request.id, State.EXECUTING, State.SUCCEEDED, result={"token": "sk_live"}
        )
    with pytest.raises(SecretRefused):
        await store.update_fields(request.id, after={"signingKey": "k"})
    with pytest.raises(SecretRefused):
        await store.record(
            AuditEvent(T0, "failed", "fpbot", request.id, "posted https://hooks.slack.com/x/y")
        )
    assert await store.get(request.id) == request
    assert await store.audit() == []


async def test_a_failure_notification_groups_within_the_window_then_starts_anew(
    store: Store,
) -> None:
    window = timedelta(minutes=10)
    first = await store.notification_slot("envs.list:rate_limited", T0, window)
    assert (first.is_new, first.count, first.channel, first.ts) == (True, 1, None, None)
    assert first.first_at == T0
    await store.set_notification_ts("envs.list:rate_limited", "C0ALERTS", "1700.0001")

    second = await store.notification_slot(
        "envs.list:rate_limited", T0 + timedelta(minutes=9), window
    )
    assert (second.is_new, second.count, second.channel, second.ts) == (
        False, 2, "C0ALERTS", "1700.0001",
    )  # fmt: skip
    assert second.first_at == T0

    other = await store.notification_slot(
        "keys.list:rate_limited", T0 + timedelta(minutes=9), window
    )
    assert other.is_new and other.count == 1

    later = T0 + timedelta(minutes=10, seconds=1)
    third = await store.notification_slot("envs.list:rate_limited", later, window)
    assert (third.is_new, third.count, third.channel, third.ts) == (True, 1, None, None)
    assert third.first_at == later
    fourth = await store.notification_slot("envs.list:rate_limited", later, window)
    assert (fourth.is_new, fourth.count, fourth.ts) == (False, 2, None)


async def test_ping_answers(store: Store) -> None:
    await store.ping()


async def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await Store.connect("postgresql://fpbot:hunter2@127.0.0.1:1/fpbot")
    assert "hunter2" not in str(caught.value)


async def test_an_unopenable_sqlite_file_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await Store.connect("sqlite:////nonexistent-dir/for/fpbot.sqlite3")


async def test_an_in_memory_sqlite_store_works_for_concurrent_callers(
    request_factory: Factory,
) -> None:
    store = await Store.connect("sqlite:///:memory:")
    try:
        request = request_factory(required_approvals=5)
        await store.create(request)
        added = await asyncio.gather(
            *(store.add_approval(request.id, f"U0{i}", T0) for i in range(5))
        )
        assert added == [ApprovalResult.RECORDED] * 5
        assert (await store.get(request.id)).approvals_missing == 0  # type: ignore[union-attr]
    finally:
        await store.close()


def test_request_ids_are_short_readable_and_distinct() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"CR-[0-9A-HJKMNP-TV-Z]{6}", i) for i in ids)


@pytest.mark.postgres
async def test_a_postgresql_database_that_was_dropped_is_unavailable(
    pg_database: str, request_factory: Factory
) -> None:
    """A missing database (or one refusing connections) is "unreachable", as for a cut
    network: callers tell people and operators instead of failing with a driver error."""
    name = f"{pg_database}_gone"
    admin = await asyncpg.connect(PG_DSN.format(database="postgres"), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        store = await Store.connect(PG_DSN.format(database=name))
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            with pytest.raises(StoreUnavailable):
                await store.get("CR-000000")
            with pytest.raises(StoreUnavailable):
                await store.create(request_factory())
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


LEASE = timedelta(minutes=2)


async def test_a_claimed_lease_cannot_be_renewed_by_the_process_that_ran_the_change(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory(state=State.EXECUTING, executing_since=T0)
    await store.create(request)
    now = T0 + timedelta(minutes=10)
    assert not await store.claim_stale(request.id, lapsed_at=T0 - LEASE, at=T0), "fresh"
    assert await store.claim_stale(request.id, lapsed_at=now - LEASE, at=now)

    later = now + timedelta(seconds=30)
    assert not await store.renew_lease(request.id, later, lapsed_at=later - LEASE)
    assert not await store.renew_lease(request.id, later), "not even once the change started"
    claimed = await store.get(request.id)
    assert claimed is not None
    assert claimed.heartbeat_at == now and claimed.reconciling_since == now
    assert claimed.executing_since == T0, "the start of execution never moves"
    assert not await store.claim_stale(request.id, lapsed_at=later - LEASE, at=later)
    assert await store.stale_executing(later - LEASE) == [], "its reconciler is at work"


async def test_a_claim_older_than_a_lease_can_be_claimed_again(
    store: Store, request_factory: Factory
) -> None:
    request = request_factory(state=State.EXECUTING, executing_since=T0)
    never_ran = request_factory(state=State.EXECUTING)
    for r in (request, never_ran):
        await store.create(r)
    first = T0 + timedelta(minutes=10)
    assert await store.claim_stale(request.id, lapsed_at=first - LEASE, at=first)
    assert await store.claim_stale(never_ran.id, lapsed_at=first - LEASE, at=first)

    second = first + LEASE  # the first reconciler died: its claim lapsed in turn
    assert {r.id for r in await store.stale_executing(second - LEASE)} == {
        request.id,
        never_ran.id,
    }
    assert await store.claim_stale(request.id, lapsed_at=second - LEASE, at=second)
    reclaimed = await store.get(request.id)
    assert reclaimed is not None and reclaimed.reconciling_since == second
    assert not await store.renew_lease(request.id, second + timedelta(seconds=1))


async def test_only_an_executing_request_can_be_claimed(
    store: Store, request_factory: Factory
) -> None:
    pending = request_factory()
    done = request_factory(state=State.SUCCEEDED, executing_since=T0)
    for r in (pending, done):
        await store.create(r)
    now = T0 + timedelta(minutes=10)
    for request_id in (pending.id, done.id, "CR-000000"):
        assert not await store.claim_stale(request_id, lapsed_at=now - LEASE, at=now)
    after = await store.get(done.id)
    assert after is not None and after.reconciling_since is None and after.heartbeat_at is None
