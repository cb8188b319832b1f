"""When something under a change request fails: the store, Slack being slow, a race, a bug.

Whatever breaks, the clicker hears back (with a correlation id), the operators are told in
``#alerts``, a change never runs after its lease lapsed, a delivered secret is never taken
back, and one bad request never holds up the sweeper's work on the others.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import bot.changes.workflow as workflow_module
from bot.domain import AuditEvent, ChangeRequest, State
from bot.store import StoreUnavailable
from sandbox.run import Sandbox
from tests.scenarios.change_helpers import (
    APPROVER_1,
    APPROVER_2,
    FAST_SETTINGS,
    REQUESTER,
    Desk,
    button_ids,
    everything,
    move_clock,
    policy_yaml,
    status_of,
    with_lease,
)
from tests.scenarios.conftest import StackFactory

SHORT_LEASE = timedelta(seconds=2)


@pytest.fixture
async def sandbox(make_stack: StackFactory) -> AsyncIterator[Sandbox]:
    async with make_stack(**FAST_SETTINGS) as running:
        yield running
        assert running.slack.violations == []


@pytest.fixture
def desk(sandbox: Sandbox) -> Desk:
    return Desk.of(sandbox)


def env_count(desk: Desk, name: str) -> int:
    return sum(e.name == name for e in desk.fingerprint.workspace.environments.values())


async def answer_to(desk: Desk, user: str, seen: int) -> str:
    await desk.slack.wait_for(
        lambda: len(desk.slack.ephemerals(user)) > seen, what=f"an answer to {user}"
    )
    return everything(desk.slack.ephemerals(user)[seen])


# ── a click whose handling fails (finding: no answer, no alert) ─────────────────────────────


async def test_a_click_while_the_database_is_unreachable_is_answered_and_reported(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = await desk.request("envs create Database Down")

    async def unreachable(request_id: str) -> ChangeRequest | None:
        raise StoreUnavailable("the database is unavailable: ConnectionRefusedError")

    monkeypatch.setattr(desk.store, "get", unreachable)
    seen = len(desk.slack.ephemerals(APPROVER_1))
    await desk.click(request_id, user=APPROVER_1)
    answer = await answer_to(desk, APPROVER_1, seen)
    await desk.slack.wait_for(lambda: bool(desk.alerts()), what="an alert")
    monkeypatch.undo()

    assert "fpbot's database is unreachable; nothing changed" in answer
    correlation = answer.split("Correlation id: `")[1].split("`")[0]
    assert correlation.startswith("fpb-")
    [alert] = desk.alerts()
    assert "store.unavailable" in everything(alert) and correlation in everything(alert)
    assert request_id in everything(alert)
    assert (await desk.get(request_id)).state is State.PENDING
    assert env_count(desk, "Database Down") == 0


async def test_a_click_that_fails_unexpectedly_gets_a_correlation_id_to_quote(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, log_buffer: Any
) -> None:
    request_id = await desk.request("envs create Bug Inside")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(desk.workflow._groups, "groups_of", broken)
    seen = len(desk.slack.ephemerals(APPROVER_1))
    await desk.click(request_id, user=APPROVER_1, approve=False)
    answer = await answer_to(desk, APPROVER_1, seen)

    assert "Something went wrong inside fpbot" in answer and "Deny" in answer
    correlation = answer.split("Correlation id: `")[1].split("`")[0]
    assert correlation in log_buffer.getvalue()
    assert "click_failed" in log_buffer.getvalue()
    assert (await desk.get(request_id)).state is State.PENDING


async def test_a_failing_sweeper_is_reported_once_however_often_it_fails(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(now: datetime) -> list[ChangeRequest]:
        raise StoreUnavailable("the database is unavailable: ConnectionRefusedError")

    monkeypatch.setattr(desk.store, "due_for_expiry", unreachable)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(desk.sweeper.run(0.05, stop=stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(sweeper, 5)

    [alert] = desk.alerts()
    assert "sweeper" in everything(alert) and "store.unavailable" in everything(alert)
    assert alert.edited > 0, "the repeats were counted on the one message"


# ── the lease and the first write ───────────────────────────────────────────────────────────


def slow_first_edit(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> Callable[[], Awaitable[None]]:
    """Make the approval message's edit to "running" take ``seconds`` (a Slack 429 waited
    out); returns a coroutine function awaiting the moment the edit starts."""
    messenger = desk.messenger
    update = messenger.update
    started = asyncio.Event()

    async def slow(channel: str, ts: str, message: Any) -> Any:
        if "running…" in everything_in(message) and not started.is_set():
            started.set()
            await asyncio.sleep(seconds)
        return await update(channel, ts, message)

    monkeypatch.setattr(messenger, "update", slow)

    async def wait() -> None:
        await asyncio.wait_for(started.wait(), 10)

    return wait


def everything_in(message: Any) -> str:
    return str(message.text) + str(message.blocks)


async def test_a_slow_edit_before_the_first_write_does_not_let_the_change_be_declared_dead(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease is held (and renewed) from the moment the request is executing, so while the
    "running" edit waits out Slack, a sweeper does not reconcile the change as interrupted."""
    workflow = with_lease(desk.replicas[0], SHORT_LEASE)
    edit_started = slow_first_edit(desk, monkeypatch, 3 * SHORT_LEASE.total_seconds() / 2)
    request_id = await desk.request("envs create Slow Edit")

    await desk.click(request_id, user=APPROVER_1)
    await edit_started()
    await asyncio.sleep(SHORT_LEASE.total_seconds() * 1.2)
    await desk.sweeper_for(workflow).sweep()  # another replica's sweeper, with the same lease
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    assert env_count(desk, "Slow Edit") == 1
    assert "reconciled" not in await desk.audit_kinds(request_id)
    assert desk.alerts() == []


async def test_a_change_whose_lease_lapsed_before_the_first_write_is_not_started(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat could not reach the store while the edit waited, the lease lapsed and
    another replica reconciled the request as interrupted: this bot then must not write."""
    workflow = with_lease(desk.replicas[0], SHORT_LEASE)
    edit_started = slow_first_edit(desk, monkeypatch, 2.5 * SHORT_LEASE.total_seconds())
    renew = desk.store.renew_lease
    cut_off = True

    async def flaky(request_id: str, at: datetime, **kwargs: Any) -> bool:
        if cut_off:
            raise StoreUnavailable("the database is unavailable: TimeoutError")
        return await renew(request_id, at, **kwargs)

    monkeypatch.setattr(desk.store, "renew_lease", flaky)
    request_id = await desk.request("envs create Lapsed Lease")

    await desk.click(request_id, user=APPROVER_1)
    await edit_started()
    await asyncio.sleep(SHORT_LEASE.total_seconds() * 1.2)
    cut_off = False
    await desk.sweeper_for(workflow).sweep()  # another replica reconciles: nothing was created
    await desk.quiet()

    final = await desk.get(request_id)
    assert final.state is State.FAILED and final.error_code == "change.interrupted"
    assert desk.fingerprint.count(method="POST", path="/environments") == 0
    assert env_count(desk, "Lapsed Lease") == 0
    assert "succeeded" not in await desk.audit_kinds(request_id)


# ── a delivered secret stays delivered ──────────────────────────────────────────────────────


async def test_a_delivered_secret_is_not_taken_back_when_its_audit_line_cannot_be_written(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp = desk.fingerprint
    staging = next(e.id for e in fp.workspace.environments.values() if e.name == "Staging")
    request_id = await desk.request(f"keys create secret Audit Lost --env {staging}")
    record = desk.store.record

    async def no_delivery_line(event: AuditEvent) -> None:
        if event.kind == "secret_delivered":
            raise StoreUnavailable("the database is unavailable: TimeoutError")
        await record(event)

    monkeypatch.setattr(desk.store, "record", no_delivery_line)
    await desk.click(request_id, user=APPROVER_1)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    [key] = [k for k in fp.workspace.api_keys.values() if k.name == "Audit Lost"]
    assert key.status == "enabled", "the requester holds its token: it must keep working"
    assert fp.count(method="PATCH", path=f"/api-keys/{key.id}") == 0
    assert [m for m in desk.slack.dms(REQUESTER) if key.token in everything(m)]


# ── an approval racing a decision ───────────────────────────────────────────────────────────


async def test_an_approval_landing_after_a_deny_writes_nothing_and_says_what_happened(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_stack(policy=policy_yaml(), **FAST_SETTINGS) as sb:
        desk = Desk.of(sb)
        fp = desk.fingerprint
        target = next(e.id for e in fp.workspace.environments.values() if e.name.endswith("0007"))
        request_id = await desk.request(f"envs delete {target}")  # needs two approvals
        add_approval = desk.store.add_approval

        async def denied_first(request_id: str, user: str, at: datetime) -> Any:
            await desk.store.transition(
                request_id, State.PENDING, State.DENIED, decided_by=APPROVER_2, decided_at=at
            )
            return await add_approval(request_id, user, at)

        monkeypatch.setattr(desk.store, "add_approval", denied_first)
        seen = len(desk.slack.ephemerals(APPROVER_1))
        await desk.click(request_id, user=APPROVER_1)
        answer = await answer_to(desk, APPROVER_1, seen)
        await desk.quiet()

        assert "has already been denied" in answer
        final = await desk.get(request_id)
        assert final.state is State.DENIED and final.approvers == frozenset()
        kinds = await desk.audit_kinds(request_id)
        assert "approval" not in kinds and kinds[-1] == "refused"
        assert fp.count(method="DELETE") == 0


# ── the sweeper ─────────────────────────────────────────────────────────────────────────────


@pytest.fixture
async def short_lived(make_stack: StackFactory) -> AsyncIterator[Desk]:
    async with make_stack(policy=policy_yaml(expires_after="1m"), **FAST_SETTINGS) as sb:
        yield Desk.of(sb)


async def test_one_request_the_sweeper_cannot_expire_does_not_hold_up_the_others(
    short_lived: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = short_lived
    ids = [await desk.request(f"envs create Sweep Item {i}") for i in range(3)]
    broken = ids[1]
    transition = desk.store.transition

    async def failing_for_one(request_id: str, *args: Any, **kwargs: Any) -> Any:
        if request_id == broken:
            raise RuntimeError("a bug with this one request")
        return await transition(request_id, *args, **kwargs)

    monkeypatch.setattr(desk.store, "transition", failing_for_one)
    move_clock(desk.workflow, timedelta(minutes=2))
    await desk.sweeper.sweep()

    for request_id in (ids[0], ids[2]):
        assert (await desk.get(request_id)).state is State.EXPIRED
        assert "*Expired*" in status_of(desk.approval(request_id))
    assert (await desk.get(broken)).state is State.PENDING
    await desk.slack.wait_for(lambda: bool(desk.alerts()), what="an alert")
    [alert] = desk.alerts()
    assert "sweeper" in everything(alert) and broken in everything(alert)


async def test_many_requests_expiring_at_once_are_all_edited_before_slow_dms_go_out(
    short_lived: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = short_lived
    ids = [await desk.request(f"envs create Expiring Together {i}") for i in range(12)]
    messenger = desk.messenger
    dm = messenger.dm
    edited_when_first_dm: list[int] = []

    def edited() -> int:
        return sum("*Expired*" in status_of(desk.approval(i)) for i in ids)

    async def slow_dm(user: str, message: Any) -> Any:
        if not edited_when_first_dm:
            edited_when_first_dm.append(edited())
        await asyncio.sleep(0.5)
        return await dm(user, message)

    monkeypatch.setattr(messenger, "dm", slow_dm)
    move_clock(desk.workflow, timedelta(minutes=2))
    sweeping = asyncio.create_task(desk.sweeper.sweep())
    await desk.slack.wait_for(lambda: edited() == len(ids), 3, what="every message edited")
    await asyncio.wait_for(sweeping, 10)

    assert edited_when_first_dm == [len(ids)], "a DM went out before every edit was done"
    for request_id in ids:
        assert button_ids(desk.approval(request_id)) == []
        assert len(desk.dms_about(request_id)) == 1 and len(desk.thread(request_id)) == 1


# ── ids ─────────────────────────────────────────────────────────────────────────────────────


async def test_a_request_id_already_taken_is_drawn_again(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = await desk.request("envs create First Of Two")
    fresh = workflow_module.new_request_id()
    draws = itertools.chain([taken, taken], itertools.repeat(fresh))
    monkeypatch.setattr(workflow_module, "new_request_id", lambda: next(draws))

    second = await desk.request("envs create Second Of Two")

    assert second == fresh
    assert (await desk.get(taken)).summary.endswith("*First Of Two*")
    assert (await desk.get(second)).summary.endswith("*Second Of Two*")
    assert "Second Of Two" in everything(desk.approval(second))
