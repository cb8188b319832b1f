"""The account watch's store (revision 0007), on SQLite and PostgreSQL: one holder of the
schedule at a time, a pass recorded once or not at all, reports claimed once, decisions taken
once, the change log, and incidents counted once per hit and resolved once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.domain import AuditEvent, ChangeRequest, GraceState, State
from bot.domain.account import (
    AccountChange,
    ChangeKind,
    Decision,
    FieldChange,
    Resource,
    Source,
)
from bot.store import Incident, Schedule, Store
from tests.store.conftest import make_request

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
RENAMED = AccountChange(
    Resource.ENVIRONMENT,
    "ae_1",
    "Prod EU",
    "ae_1",
    ChangeKind.UPDATED,
    (FieldChange("name", "Production", "Prod EU"),),
)
ENABLED = AccountChange(
    Resource.API_KEY,
    "tok_1",
    "Web",
    "ae_2",
    ChangeKind.UPDATED,
    (FieldChange("status", "disabled", "enabled"),),
)


async def hold(store: Store, holder: str, now: datetime = T0) -> Schedule | None:
    return await store.hold_schedule(
        "account", holder, now=now, lease=LEASE, first_due=T0 + timedelta(minutes=5)
    )


async def test_one_holder_at_a_time_until_its_lease_lapses_or_it_lets_go(store: Store) -> None:
    first = await hold(store, "replica-a")
    assert first is not None and first.due_at == T0 + timedelta(minutes=5)
    assert await hold(store, "replica-b") is None
    assert await hold(store, "replica-a", T0 + timedelta(seconds=30)) is not None, "renewed"
    assert await hold(store, "replica-b", T0 + timedelta(seconds=80)) is None
    assert await hold(store, "replica-b", T0 + timedelta(seconds=91)) is not None, "lapsed"
    await store.release_schedule("account", "replica-b")
    assert await hold(store, "replica-a", T0 + timedelta(seconds=92)) is not None, "let go"


async def test_of_replicas_racing_for_the_schedule_one_holds_it(database_url: str) -> None:
    stores = [await Store.connect(database_url) for _ in range(2)]
    try:
        held = await asyncio.gather(*(hold(stores[n % 2], f"r{n}") for n in range(10)))
    finally:
        for opened in stores:
            await opened.close()
    assert sum(h is not None for h in held) == 1


async def test_a_pass_is_recorded_once_with_its_findings_or_not_at_all(store: Store) -> None:
    state = await hold(store, "a")
    assert state is not None
    recorded = await store.record_watch_pass(
        "account",
        "a",
        runs=0,
        snapshot={"items": []},
        read_at=T0,
        due_at=T0 + timedelta(minutes=5),
        found=[RENAMED, ENABLED],
        at=T0,
    )
    assert recorded == 1
    again = await store.record_watch_pass(
        "account",
        "a",
        runs=0,
        snapshot={"items": []},
        read_at=T0,
        due_at=T0,
        found=[RENAMED],
        at=T0,
    )
    assert again is None, "a pass diffed against an older snapshot records nothing"
    other = await store.record_watch_pass(
        "account", "b", runs=1, snapshot={}, read_at=T0, due_at=T0, found=[RENAMED], at=T0
    )
    assert other is None, "only the holder records"
    found = await store.found_in(1)
    assert [c.change for c in found] == [RENAMED, ENABLED]
    held = await hold(store, "a")
    assert held is not None and held.runs == 1 and held.read_at == T0


async def test_a_report_is_claimed_once_and_taken_over_after_the_grace(store: Store) -> None:
    await hold(store, "a")
    await store.record_watch_pass(
        "account", "a", runs=0, snapshot={}, read_at=T0, due_at=T0, found=[RENAMED], at=T0
    )
    grace = timedelta(seconds=30)
    assert await store.claim_report(now=T0, grace=grace) == 1
    assert await store.claim_report(now=T0 + timedelta(seconds=5), grace=grace) is None
    assert await store.claim_report(now=T0 + timedelta(seconds=31), grace=grace) == 1
    await store.set_report(1, "C0ALERTS", "1.000001")
    assert await store.claim_report(now=T0 + timedelta(hours=1), grace=grace) is None
    (reported,) = await store.found_in(1)
    assert (reported.report_channel, reported.report_ts) == ("C0ALERTS", "1.000001")


async def test_an_outside_change_is_acknowledged_once_then_kept_or_reverted_once(
    store: Store,
) -> None:
    await hold(store, "a")
    await store.record_watch_pass(
        "account", "a", runs=0, snapshot={}, read_at=T0, due_at=T0, found=[RENAMED], at=T0
    )
    (change,) = await store.found_in(1)
    acked = await store.decide_change(change.id, Decision.ACKNOWLEDGED, user="U1", at=T0)
    assert acked is not None and acked.decided_by == "U1"
    assert await store.decide_change(change.id, Decision.ACKNOWLEDGED, user="U2", at=T0) is None
    reverted = await store.decide_change(
        change.id, Decision.REVERT_REQUESTED, user="U2", at=T0, revert_request="CR-ABCDEF"
    )
    assert reverted is not None and reverted.revert_request == "CR-ABCDEF"
    assert await store.decide_change(change.id, Decision.KEPT, user="U3", at=T0) is None


async def test_the_change_log_filters_and_logs_a_request_once(store: Store) -> None:
    await store.log_own_changes([RENAMED], request_id="CR-000001", actor="U0OP", at=T0)
    await store.log_own_changes([RENAMED], request_id="CR-000001", actor="U0OP", at=T0)
    await hold(store, "a")
    await store.record_watch_pass(
        "account",
        "a",
        runs=0,
        snapshot={},
        read_at=T0,
        due_at=T0,
        found=[ENABLED],
        at=T0 + timedelta(days=2),
    )
    log = await store.change_log()
    assert [(c.source, c.change.id) for c in log] == [
        (Source.OUTSIDE, "tok_1"),
        (Source.FPBOT, "ae_1"),
    ]
    assert [c.change.id for c in await store.change_log(environment="ae_2")] == ["tok_1"]
    since = await store.change_log(since=T0 + timedelta(days=1))
    assert [c.change.id for c in since] == ["tok_1"]
    (own,) = await store.change_log(source=Source.FPBOT)
    assert (own.request_id, own.actor, own.change) == ("CR-000001", "U0OP", RENAMED)


async def test_the_requests_that_may_have_written_since_a_moment(store: Store) -> None:
    running = make_request(state=State.EXECUTING)
    recent = make_request(state=State.SUCCEEDED, finished_at=T0 + timedelta(minutes=1))
    old = make_request(state=State.SUCCEEDED, finished_at=T0 - timedelta(hours=1))
    pending = make_request()
    for request in (running, recent, old, pending):
        await store.create(request)
    found = {r.id for r in await store.requests_run_since(T0)}
    assert found == {running.id, recent.id}


async def test_a_rotation_whose_grace_closed_or_is_due_may_have_written_long_after_it_ran(
    store: Store,
) -> None:
    """The sweeper disables the old key when the grace ends: the rotation finished a day
    before, but that write is its own."""
    yesterday = T0 - timedelta(days=1)

    def rotation(ends: timedelta) -> ChangeRequest:
        return make_request(
            action="keys.rotate",
            state=State.SUCCEEDED,
            finished_at=yesterday,
            grace_state=GraceState.OPEN,
            grace_ends_at=T0 + ends,
        )

    ended, due, later = (
        rotation(timedelta(minutes=-5)),
        rotation(timedelta(0)),
        rotation(timedelta(hours=5)),
    )
    for request in (ended, due, later):
        await store.create(request)
    moved = await store.move_grace(
        ended.id, (GraceState.OPEN,), GraceState.ENDED, at=T0 + timedelta(minutes=1)
    )
    assert moved is not None and moved.grace_closed_at == T0 + timedelta(minutes=1)

    assert {r.id for r in await store.requests_run_since(T0)} == {ended.id}
    found = await store.requests_run_since(T0, graces_due_by=T0 + timedelta(minutes=1))
    assert {r.id for r in found} == {ended.id, due.id}
    assert await store.requests_run_since(T0 + timedelta(minutes=2)) == []


async def test_an_incident_counts_every_hit_once_and_is_resolved_once(database_url: str) -> None:
    stores = [await Store.connect(database_url) for _ in range(2)]
    try:
        hits = await asyncio.gather(
            *(
                stores[n % 2].incident_hit(
                    "api.key_rejected",
                    operation=f"/fp {('envs', 'keys', 'webhooks')[n % 3]}",
                    user=f"U{n % 2}",
                    error_code="general.unauthorized",
                    correlation_id=f"fp-{n}",
                    detail="HTTP 401",
                    now=T0 + timedelta(seconds=n),
                )
                for n in range(9)
            )
        )
        assert sum(h.is_new for h in hits) == 1
        assert sorted(h.count for h in hits) == list(range(1, 10))
        (incident,) = await stores[0].open_incidents()
        assert incident.count == 9
        assert sorted(incident.operations) == ["/fp envs", "/fp keys", "/fp webhooks"]
        assert sorted(incident.users) == ["U0", "U1"]
        resolved = await asyncio.gather(
            stores[0].resolve_incident("api.key_rejected", T0),
            stores[1].resolve_incident("api.key_rejected", T0),
        )
        assert sum(r is not None for r in resolved) == 1
        assert await stores[0].open_incidents() == []
        again = await stores[1].incident_hit(
            "api.key_rejected",
            operation="/fp envs",
            user=None,
            error_code="general.unauthorized",
            correlation_id="fp-x",
            detail="",
            now=T0 + timedelta(hours=1),
        )
        assert again.is_new and again.count == 1, "the cause returning is a new incident"
    finally:
        for opened in stores:
            await opened.close()


async def test_a_run_of_a_schedule_is_claimed_by_one_caller(store: Store) -> None:
    due = await store.schedule_due("digest", first_due=T0)
    assert due == T0
    assert await store.schedule_due("digest", first_due=T0 + timedelta(days=9)) == T0
    claims = [
        await store.claim_run("digest", due_at=T0, next_due=T0 + timedelta(days=1))
        for _ in range(3)
    ]
    assert claims == [True, False, False]
    assert await store.schedule_due("digest", first_due=T0) == T0 + timedelta(days=1)


async def test_an_incident_resolved_a_moment_ago_is_reopened_when_its_cause_returns(
    store: Store,
) -> None:
    async def hit(at: datetime) -> Incident:
        return await store.incident_hit(
            "store.unavailable",
            operation="sweeper",
            user=None,
            error_code="store.unavailable",
            correlation_id="c",
            detail="",
            now=at,
            reopen_within=timedelta(minutes=10),
        )

    first = await hit(T0)
    await store.set_incident_message(first.id, "C0ALERTS", "1.0001")
    await store.resolve_incident("store.unavailable", T0 + timedelta(minutes=1))
    again = await hit(T0 + timedelta(minutes=2))
    assert (again.id, again.is_new, again.count, again.ts) == (first.id, False, 2, "1.0001")
    await store.resolve_incident("store.unavailable", T0 + timedelta(minutes=3))
    later = await hit(T0 + timedelta(minutes=30))
    assert later.is_new and later.id != first.id


async def test_audit_stories_are_whole_newest_first_and_filtered(store: Store) -> None:
    def event(request: str | None, kind: str, actor: str, minutes: int) -> AuditEvent:
        return AuditEvent(T0 + timedelta(minutes=minutes), kind, actor, request, kind)

    for e in (
        event("CR-AAAAAA", "requested", "U0OP", 0),
        event("CR-BBBBBB", "requested", "U0OP", 1),
        event("CR-AAAAAA", "approval", "U0AP", 2),
        event(None, "refused", "U0STRANGER", 3),
        event("CR-AAAAAA", "succeeded", "fpbot", 4),
    ):
        await store.record(e)

    stories = await store.audit_stories(10)
    assert [[e.kind for e in s] for s in stories] == [
        ["requested", "approval", "succeeded"],
        ["refused"],
        ["requested"],
    ]
    assert len(await store.audit_stories(1)) == 1
    (only,) = await store.audit_stories(10, request_id="CR-BBBBBB")
    assert [e.request_id for e in only] == ["CR-BBBBBB"]
    (approved,) = await store.audit_stories(10, user="U0AP")
    assert len(approved) == 3, "the whole story of a request the person took part in"
    recent = await store.audit_stories(10, since=T0 + timedelta(minutes=3))
    assert [s[0].kind for s in recent] == ["requested", "refused"]
