"""A redeploy in the middle of a change: the next bot finishes it without running it twice.

The store is the truth. A request left ``approved`` by a bot that died before running it is run
by the next bot's sweeper, once. A request left ``executing`` (something may have reached
Fingerprint) is never run again: the sweeper looks at the account, decides what happened,
reports it in the alerts channel and tells the requester. The sweeper is driven directly with
its clock moved past `APPROVED_GRACE` and `EXECUTION_LEASE` instead of waiting.

A live bot is not a dead one: while a change runs, however long its call waits, the bot renews
the request's lease, and the sweeper leaves it alone. Those scenarios give the bot a short lease
(`with_lease`) so its heartbeat beats within the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.changes.lease import EXECUTION_LEASE
from bot.changes.sweeper import APPROVED_GRACE
from bot.domain import ChangeRequest, State
from sandbox.run import Sandbox
from tests.scenarios.change_helpers import (
    APPROVER_1,
    APPROVER_2,
    FAST_SETTINGS,
    Desk,
    button_ids,
    everything,
    move_clock,
    restart,
    status_of,
    with_lease,
)
from tests.scenarios.conftest import BOTH_VERSIONS, StackFactory

#: Every scenario here runs under both Management API versions.
pytestmark = BOTH_VERSIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fpbot.sqlite3"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def sandbox(make_stack: StackFactory, database_url: str) -> AsyncIterator[Sandbox]:
    async with make_stack(database_url=database_url, **FAST_SETTINGS) as running:
        yield running
        assert running.slack.violations == []


#: A lease short enough for its heartbeat (every quarter of it) to beat several times in a test.
SHORT_LEASE = timedelta(seconds=2)


def env_names(desk: Desk) -> list[str]:
    return [e.name for e in desk.fingerprint.workspace.environments.values()]


async def mark_executing(desk: Desk, request_id: str) -> None:
    """What a bot does between the last approval and its first write, done by hand."""
    now = datetime.now(UTC)
    await desk.store.add_approval(request_id, APPROVER_1, now)
    approved = await desk.store.transition(
        request_id, State.PENDING, State.APPROVED, decided_by=APPROVER_1, decided_at=now
    )
    assert approved is not None
    running = await desk.store.transition(
        request_id, State.APPROVED, State.EXECUTING, executing_since=now
    )
    assert running is not None


async def test_a_change_cut_off_by_a_restart_while_fingerprint_hung_is_not_run_again(
    sandbox: Sandbox,
) -> None:
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("envs create Interrupted Env")
    fp.faults.hang = True
    await desk.click(request_id, user=APPROVER_1)
    await desk.wait_state(request_id, State.EXECUTING)
    await desk.slack.wait_for(lambda: fp.count(method="POST", path="/environments") == 1)

    desk = await restart(sandbox)
    fp.faults.hang = False
    await desk.slack.wait_for(lambda: fp.requests[-1].status != 0, what="the cut-off call ends")
    assert (await desk.get(request_id)).state is State.EXECUTING

    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    failed = await desk.settled(request_id)

    assert fp.count(method="POST", path="/environments") == 1, "the change ran twice"
    assert "Interrupted Env" not in env_names(desk)
    assert failed.state is State.FAILED and failed.error_code == "change.interrupted"
    assert "nothing changed" in (failed.error or "")
    message = desk.approval(request_id)
    assert button_ids(message) == [] and "*Failed*" in status_of(message)
    [alert] = desk.alerts()
    assert request_id in everything(alert) and "interrupted" in everything(alert)
    assert "nothing changed" in desk.dms_about(request_id)[0].text
    assert (await desk.audit_kinds(request_id))[-1] == "reconciled"

    await desk.sweeper.sweep()
    assert fp.count(method="POST", path="/environments") == 1
    assert len(desk.alerts()) == 1 and len(desk.thread(request_id)) == 1


async def test_a_change_that_reached_fingerprint_before_a_restart_is_reported_done(
    sandbox: Sandbox,
) -> None:
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("envs create Made Before The Crash")
    await mark_executing(desk, request_id)
    fp.workspace.create_environment({"name": "Made Before The Crash"})  # the write landed

    desk = await restart(sandbox)
    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    assert fp.count(method="POST", path="/environments") == 0, "the change was run again"
    assert env_names(desk).count("Made Before The Crash") == 1
    assert "*Succeeded*" in status_of(desk.approval(request_id))
    [alert] = desk.alerts()
    assert request_id in everything(alert) and "reconciled" in everything(alert)
    [reply] = desk.thread(request_id)
    assert "succeeded" in reply.text


async def test_a_secret_key_created_just_before_a_restart_is_disabled_not_left_live(
    sandbox: Sandbox,
) -> None:
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("keys create secret Orphaned backend")
    await mark_executing(desk, request_id)
    orphan = fp.workspace.create_api_key({"type": "secret", "name": "Orphaned backend"})

    desk = await restart(sandbox)
    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    failed = await desk.settled(request_id)

    assert failed.state is State.FAILED
    assert orphan.status == "disabled"
    assert fp.count(method="POST", path="/api-keys") == 0
    assert fp.count(method="PATCH", path=f"/api-keys/{orphan.id}") == 1
    assert "has been disabled" in (failed.error or "")
    assert not any(orphan.token in everything(m) for m in desk.slack.messages())
    [alert] = desk.alerts()
    assert request_id in everything(alert)


async def test_an_approval_whose_bot_died_before_running_it_runs_once_after_the_restart(
    sandbox: Sandbox,
) -> None:
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("envs create Approved Then Crashed")
    now = datetime.now(UTC)
    await desk.store.add_approval(request_id, APPROVER_1, now)
    await desk.store.transition(
        request_id, State.PENDING, State.APPROVED, decided_by=APPROVER_1, decided_at=now
    )

    desk = await restart(sandbox)
    await desk.sweeper.sweep()  # within the grace period the approving bot may still run it
    assert (await desk.get(request_id)).state is State.APPROVED
    move_clock(desk.workflow, APPROVED_GRACE + timedelta(seconds=1))
    await asyncio.gather(desk.sweeper.sweep(), desk.sweeper.sweep(), desk.sweeper.sweep())
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    assert fp.count(method="POST", path="/environments") == 1
    assert env_names(desk).count("Approved Then Crashed") == 1
    await desk.sweeper.sweep()
    assert fp.count(method="POST", path="/environments") == 1
    assert len(desk.thread(request_id)) == 1 and len(desk.dms_about(request_id)) == 1
    assert desk.alerts() == []


async def test_a_redeploy_lets_a_change_in_flight_finish_before_the_bot_exits(
    sandbox: Sandbox,
) -> None:
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("envs create Finished During Shutdown")
    fp.faults.latency = 0.5
    await desk.click(request_id, user=APPROVER_1)
    await desk.wait_state(request_id, State.EXECUTING)

    desk = await restart(sandbox, grace=10.0)
    fp.faults.latency = 0.0

    done = await desk.get(request_id)
    assert done.state is State.SUCCEEDED
    assert fp.count(method="POST", path="/environments") == 1
    assert "*Succeeded*" in status_of(desk.approval(request_id))
    assert len(desk.thread(request_id)) == 1 and len(desk.dms_about(request_id)) == 1
    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    assert fp.count(method="POST", path="/environments") == 1
    assert desk.alerts() == []


async def test_a_change_still_waiting_for_its_rate_limit_slot_after_the_lease_is_not_declared_dead(
    sandbox: Sandbox,
) -> None:
    """Hundreds of approved changes behind the API's rate budget: a write may wait minutes for
    its slot. Here the API holds the call (the bot sees the same thing: a call that has not
    answered) while the bot's clock moves ten leases on; the bot is alive, renews the lease,
    and the sweeper neither reconciles nor fails the change, which then completes once."""
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    workflow = with_lease(desk.replicas[0], SHORT_LEASE)
    request_id = await desk.request("envs create Patient Env")
    fp.faults.hang = True
    await desk.click(request_id, user=APPROVER_1)
    started = await desk.wait_state(request_id, State.EXECUTING)
    await desk.slack.wait_for(lambda: fp.count(method="POST", path="/environments") == 1)

    later = 10 * SHORT_LEASE
    move_clock(workflow, later)
    renewed = await desk.wait_heartbeat(request_id, at_or_after=datetime.now(UTC) + later)
    await desk.sweeper_for(workflow).sweep()

    still = await desk.get(request_id)
    assert still.state is State.EXECUTING, "a live change was declared dead"
    assert still.executing_since == started.executing_since, "the start of execution moved"
    assert still.version == started.version and renewed.version == started.version
    assert "reconciled" not in await desk.audit_kinds(request_id)
    assert desk.alerts() == []
    assert desk.thread(request_id) == []

    fp.faults.hang = False
    done = await desk.settled(request_id)
    assert done.state is State.SUCCEEDED
    assert fp.count(method="POST", path="/environments") == 1
    assert env_names(desk).count("Patient Env") == 1
    assert "*Succeeded*" in status_of(desk.approval(request_id))
    assert desk.alerts() == [] and len(desk.thread(request_id)) == 1
    kinds = await desk.audit_kinds(request_id)
    assert kinds[-2:] == ["executing", "succeeded"], kinds


async def test_the_heartbeat_stops_with_its_bot_and_the_change_is_then_reconciled(
    sandbox: Sandbox,
) -> None:
    """The lease protects only a live bot: once the bot running a change is gone, nothing
    renews it, and the next bot's sweeper reconciles the change once the lease runs out."""
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    with_lease(desk.replicas[0], SHORT_LEASE)
    request_id = await desk.request("envs create Heartbeat Stopped")
    fp.faults.hang = True
    await desk.click(request_id, user=APPROVER_1)
    started = await desk.wait_state(request_id, State.EXECUTING)
    assert started.executing_since is not None
    await desk.wait_heartbeat(request_id, at_or_after=started.executing_since)

    desk = await restart(sandbox)
    fp.faults.hang = False
    await desk.slack.wait_for(lambda: fp.requests[-1].status != 0, what="the cut-off call ends")
    last_beat = (await desk.get(request_id)).heartbeat_at
    await asyncio.sleep(2 * SHORT_LEASE.total_seconds() / 4)
    assert (await desk.get(request_id)).heartbeat_at == last_beat, "a stopped bot still beats"

    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    await desk.sweeper.sweep()
    failed = await desk.settled(request_id)
    assert failed.state is State.FAILED and failed.error_code == "change.interrupted"
    assert fp.count(method="POST", path="/environments") == 1, "the change ran twice"
    [alert] = desk.alerts()
    assert request_id in everything(alert)


async def test_an_approval_that_lands_after_another_bot_approved_the_request_is_answered(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two last approvals at once: both are recorded, one bot moves the request on and runs it.
    The other approver is told their approval was recorded and the request is already running,
    instead of hearing nothing."""
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("envs create Approved Twice At Once")
    record = desk.store.add_approval

    async def recorded_as_another_bot_approves(request_id: str, user: str, at: datetime) -> bool:
        monkeypatch.setattr(desk.store, "add_approval", record)  # once
        added = await record(request_id, user, at)
        await mark_executing(desk, request_id)  # APPROVER_1's click, on another bot
        return added

    monkeypatch.setattr(desk.store, "add_approval", recorded_as_another_bot_approves)
    seen = len(desk.slack.ephemerals(APPROVER_2))
    await desk.click(request_id, user=APPROVER_2)
    await desk.slack.wait_for(
        lambda: len(desk.slack.ephemerals(APPROVER_2)) > seen, what="an answer to APPROVER_2"
    )
    await desk.quiet()

    [answer] = desk.slack.ephemerals(APPROVER_2)[seen:]
    assert "Your approval was recorded" in everything(answer)
    assert f"{request_id} had already been approved and is running" in everything(answer)
    current = await desk.get(request_id)
    assert current.state is State.EXECUTING and current.decided_by == APPROVER_1
    assert current.approvers == {APPROVER_1, APPROVER_2}
    assert fp.count(method="POST", path="/environments") == 0, "the losing click ran the change"
    kinds = await desk.audit_kinds(request_id)
    assert "refused" not in kinds and "approved" not in kinds


async def test_two_sweeps_at_once_reconcile_a_stale_change_once(sandbox: Sandbox) -> None:
    """Sweepers on two replicas list the same stale request together: only the one whose
    claim lands reads the account and settles it, so the key whose token may be lost is
    disabled once, and the operators and the requester hear about it once."""
    desk = Desk.of(sandbox)
    fp = desk.fingerprint
    request_id = await desk.request("keys create secret Swept Twice")
    await mark_executing(desk, request_id)
    orphan = fp.workspace.create_api_key({"type": "secret", "name": "Swept Twice"})

    desk = await restart(sandbox)
    move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
    stale = desk.store.stale_executing
    listers: list[object] = []
    both_listed = asyncio.Event()

    async def listed_by_both(older_than: datetime) -> list[ChangeRequest]:
        found = await stale(older_than)
        if any(r.id == request_id for r in found):
            listers.append(object())
            if len(listers) >= 2:
                both_listed.set()
            # Neither sweep claims before both have listed it (the background sweeper, should
            # it list it too, only adds a third contender).
            await asyncio.wait_for(both_listed.wait(), timeout=10)
        return found

    setattr(desk.store, "stale_executing", listed_by_both)  # noqa: B010
    try:
        await asyncio.gather(desk.sweeper.sweep(), desk.sweeper.sweep())
    finally:
        setattr(desk.store, "stale_executing", stale)  # noqa: B010
    failed = await desk.settled(request_id)

    assert failed.state is State.FAILED and failed.error_code == "change.interrupted"
    assert orphan.status == "disabled"
    assert fp.count(method="PATCH", path=f"/api-keys/{orphan.id}") == 1, "disabled twice"
    assert (await desk.audit_kinds(request_id)).count("reconciled") == 1
    await desk.quiet()
    assert len(desk.alerts()) == 1
    assert len(desk.thread(request_id)) == 1 and len(desk.dms_about(request_id)) == 1
