"""Exactly once under contention: many tasks, several "replicas" (separate Store objects, so
separate connection pools), one request — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import ChangeRequest, State
from bot.store import ApprovalResult, Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REPLICAS = 3
TASKS = 50


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[list[Store]]:
    stores = [await Store.connect(database_url) for _ in range(REPLICAS)]
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


async def approve_flow(store: Store, request_id: str, user: str, at: datetime) -> str:
    """The workflow's approve path: record, recount, then the two conditional moves."""
    added = await store.add_approval(request_id, user, at)
    if added is ApprovalResult.ALREADY_APPROVED:
        return "duplicate"
    if added is ApprovalResult.NOT_PENDING:
        return "too late"
    request = await store.get(request_id)
    assert request is not None
    if request.approvals_missing > 0:
        return "counted"
    if await store.transition(request_id, State.PENDING, State.APPROVED, decided_by=user) is None:
        return "lost approve"
    running = await store.transition(
        request_id, State.APPROVED, State.EXECUTING, executing_since=at
    )
    return "lost execute" if running is None else "executes"


@pytest.mark.parametrize("required", [1, 2, 5])
async def test_fifty_approvers_at_once_run_the_change_exactly_once(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest], required: int
) -> None:
    request = request_factory(required_approvals=required)
    await replicas[0].create(request)
    outcomes = await asyncio.gather(
        *(
            approve_flow(replicas[i % REPLICAS], request.id, f"U0APPROVER{i}", T0)
            for i in range(TASKS)
        )
    )
    tally = Counter(outcomes)
    assert tally["executes"] == 1, tally
    assert tally["duplicate"] == 0
    final = await replicas[0].get(request.id)
    assert final is not None and final.state is State.EXECUTING
    # Approvals recorded while it was pending count; the rest were told it had moved on.
    assert len(final.approvers) == TASKS - tally["too late"] >= required
    assert final.version == 3  # created, approved, executing: no other write won


async def test_the_same_approver_clicking_fifty_times_counts_once(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    request = request_factory(required_approvals=2)
    await replicas[0].create(request)
    outcomes = await asyncio.gather(
        *(approve_flow(replicas[i % REPLICAS], request.id, "U0ALICE", T0) for i in range(TASKS))
    )
    assert Counter(outcomes) == {"counted": 1, "duplicate": TASKS - 1}
    final = await replicas[0].get(request.id)
    assert final is not None and final.state is State.PENDING and final.approvers == {"U0ALICE"}


async def test_approve_deny_and_expire_racing_leave_exactly_one_winner(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    request = request_factory()
    await replicas[0].create(request)
    moves = [State.APPROVED, State.DENIED, State.EXPIRED] * 10
    won = await asyncio.gather(
        *(
            replicas[i % REPLICAS].transition(request.id, State.PENDING, new, decided_by=f"U{i}")
            for i, new in enumerate(moves)
        )
    )
    winners = [w for w in won if w is not None]
    assert len(winners) == 1
    final = await replicas[1].get(request.id)
    assert final is not None and final.state is winners[0].state
    assert final.decided_by == winners[0].decided_by


async def test_approvals_racing_a_deny_never_land_on_the_denied_request(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    """Every approval recorded was recorded while the request was pending: none written after
    the deny committed, whichever replica and whatever the interleaving."""
    request = request_factory(required_approvals=TASKS + 1)
    await replicas[0].create(request)

    async def deny() -> ChangeRequest | None:
        await asyncio.sleep(0.005)
        return await replicas[1].transition(
            request.id, State.PENDING, State.DENIED, decided_by="U0DENIER"
        )

    *outcomes, denied = await asyncio.gather(
        *(
            replicas[i % REPLICAS].add_approval(request.id, f"U0APPROVER{i}", T0)
            for i in range(TASKS)
        ),
        deny(),
    )
    assert denied is not None
    recorded = {f"U0APPROVER{i}" for i, o in enumerate(outcomes) if o is ApprovalResult.RECORDED}
    final = await replicas[2].get(request.id)
    assert final is not None and final.state is State.DENIED
    assert final.approvers == recorded
    assert set(outcomes) <= {ApprovalResult.RECORDED, ApprovalResult.NOT_PENDING}
    late = await replicas[0].add_approval(request.id, "U0LATE", T0)
    assert late is ApprovalResult.NOT_PENDING


async def test_concurrent_failures_group_into_one_notification(replicas: list[Store]) -> None:
    window = timedelta(minutes=10)
    slots = await asyncio.gather(
        *(
            replicas[i % REPLICAS].notification_slot("keys.create:409", T0, window)
            for i in range(TASKS)
        )
    )
    assert sum(s.is_new for s in slots) == 1
    assert sorted(s.count for s in slots) == list(range(1, TASKS + 1))


async def test_writers_and_readers_mixed_never_see_database_locked(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    requests = [request_factory() for _ in range(10)]

    async def churn(i: int) -> None:
        store = replicas[i % REPLICAS]
        r = requests[i % len(requests)]
        if i < len(requests):
            await store.create(r)
        else:
            await store.list_requests(states=[State.PENDING])
            await store.update_fields(r.id, approval_ts=f"{i}.0")
            await store.get(r.id)

    for i in range(len(requests)):
        await churn(i)
    await asyncio.gather(*(churn(i) for i in range(len(requests), len(requests) + TASKS)))
    assert len(await replicas[0].list_requests(limit=100)) == len(requests)


async def test_heartbeats_racing_the_end_of_a_change_never_touch_the_finished_row(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    request = request_factory(state=State.EXECUTING, executing_since=T0)
    await replicas[0].create(request)
    finished_at = T0 + timedelta(minutes=5)

    async def finish() -> bool:
        done = await replicas[0].transition(
            request.id, State.EXECUTING, State.SUCCEEDED, finished_at=finished_at
        )
        return done is not None

    beats = [
        replicas[i % REPLICAS].renew_lease(request.id, T0 + timedelta(seconds=i))
        for i in range(1, TASKS)
    ]
    *renewed, finished = await asyncio.gather(*beats, finish())
    assert finished
    final = await replicas[0].get(request.id)
    assert final is not None and final.state is State.SUCCEEDED
    assert final.version == 2, "only the transition bumped the version"
    assert final.finished_at == finished_at
    assert not await replicas[1].renew_lease(request.id, T0 + timedelta(hours=1))
    after = await replicas[2].get(request.id)
    assert after is not None and after.heartbeat_at == final.heartbeat_at
    assert final.heartbeat_at is None or any(renewed)


async def test_of_ten_sweepers_claiming_a_stale_request_exactly_one_wins(
    replicas: list[Store], request_factory: Callable[..., ChangeRequest]
) -> None:
    request = request_factory(state=State.EXECUTING, executing_since=T0)
    await replicas[0].create(request)
    lease = timedelta(minutes=2)
    now = T0 + timedelta(minutes=10)

    claims = await asyncio.gather(
        *(
            replicas[i % REPLICAS].claim_stale(
                request.id, lapsed_at=now - lease, at=now + timedelta(milliseconds=i)
            )
            for i in range(10)
        )
    )
    assert claims.count(True) == 1
    winner = claims.index(True)
    claimed = await replicas[1].get(request.id)
    assert claimed is not None and claimed.state is State.EXECUTING
    expected = now + timedelta(milliseconds=winner)
    assert claimed.reconciling_since == expected and claimed.heartbeat_at == expected
    assert claimed.version == 1, "a claim changes nothing a person sees"
    assert await replicas[2].stale_executing(now - lease) == []
