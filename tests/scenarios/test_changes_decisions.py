"""Who may decide a change request, and what people see when it is denied, expires or is refused.

A click is accepted only from someone holding ``requests.approve``, who is not the requester
(unless the policy allows self-approval), on a pending, unexpired request; any other click gets
an ephemeral refusal, changes nothing and leaves a "refused" line in the audit trail. Expired
requests say "expired", never "denied". Everything runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain import State
from bot.store import new_request_id
from tests.scenarios.change_helpers import (
    APPROVER_1,
    APPROVER_2,
    AUDITOR,
    FAST_SETTINGS,
    REQUESTER,
    STRANGER,
    VIEWER,
    Desk,
    button_ids,
    everything,
    move_clock,
    policy_yaml,
    status_of,
)
from tests.scenarios.conftest import StackFactory

DeskFactory = Callable[..., AbstractAsyncContextManager[Desk]]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fpbot.sqlite3"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def desk(make_stack: StackFactory, database_url: str) -> AsyncIterator[Desk]:
    async with make_stack(database_url=database_url, **FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


def writes(desk: Desk) -> int:
    return sum(desk.fingerprint.count(method=m) for m in ("POST", "PATCH", "DELETE"))


def delete_env_command(desk: Desk) -> str:
    env = next(
        e for e in desk.fingerprint.workspace.environments.values() if e.name.endswith("0006")
    )
    return f"envs delete {env.id}"


# ── deny ────────────────────────────────────────────────────────────────────────────────────


async def test_a_denied_request_changes_nothing_and_says_who_denied_it(desk: Desk) -> None:
    request_id = await desk.request("envs create Never Made")
    posted = desk.approval(request_id)

    await desk.deny(request_id, user=APPROVER_1, reason="Use the staging one")
    denied = await desk.settled(request_id)

    assert denied.state is State.DENIED and denied.decided_by == APPROVER_1
    assert denied.decision_note == "Use the staging one"
    assert writes(desk) == 0
    message = desk.approval(request_id)
    assert message.ts == posted.ts and button_ids(message) == []
    assert f"*Denied* by <@{APPROVER_1}>" in status_of(message)
    assert "Nothing was changed" in status_of(message)
    assert "Use the staging one" in everything(message)
    [reply] = desk.thread(request_id)
    [dm] = desk.dms_about(request_id)
    for told in (reply, dm):
        assert f"was denied by <@{APPROVER_1}>" in told.text
        assert "Use the staging one" in told.text
    assert await desk.audit_kinds(request_id) == ["requested", "denied"]


async def test_a_requester_without_requests_approve_cannot_deny_their_own_request(
    desk: Desk,
) -> None:
    request_id = await desk.request("envs create Changed My Mind")

    refusal = await desk.refused(request_id, user=REQUESTER, approve=False)

    assert "requests.approve" in refusal
    assert (await desk.get(request_id)).state is State.PENDING
    assert button_ids(desk.approval(request_id)) == ["approve_request", "deny_request"]
    assert (await desk.audit_kinds(request_id))[-1] == "refused"
    assert writes(desk) == 0


async def test_an_approving_requester_may_deny_their_own_request_only_when_self_approval_is_allowed(
    make_stack: StackFactory,
) -> None:
    async with make_stack(policy=policy_yaml(requester_approves=True), **FAST_SETTINGS) as sb:
        desk = Desk.of(sb)
        request_id = await desk.request("envs create Not Mine To Stop")

        refusal = await desk.refused(request_id, user=REQUESTER, approve=False)

        assert "is yours, so someone else has to approve or deny it" in refusal
        assert (await desk.get(request_id)).state is State.PENDING

    policy = policy_yaml(requester_approves=True, allow_self_approval=True)
    async with make_stack(policy=policy, **FAST_SETTINGS) as sb:
        desk = Desk.of(sb)
        request_id = await desk.request("envs create Changed My Mind")

        await desk.deny(request_id, user=REQUESTER)
        withdrawn = await desk.settled(request_id)

        assert withdrawn.state is State.DENIED and withdrawn.decided_by == REQUESTER
        assert writes(desk) == 0


async def test_a_click_on_a_decided_request_is_refused_with_what_happened(desk: Desk) -> None:
    request_id = await desk.request("envs create Decided Once")
    await desk.deny(request_id, user=APPROVER_1)
    await desk.settled(request_id)
    edits = desk.approval(request_id).edited

    refusal = await desk.refused(request_id, user=APPROVER_2)

    assert "has already been denied" in refusal
    assert (await desk.get(request_id)).state is State.DENIED
    assert desk.approval(request_id).edited == edits
    assert writes(desk) == 0


# ── expiry ──────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
async def short_lived(make_stack: StackFactory, database_url: str) -> AsyncIterator[Desk]:
    """The sample policy with requests that expire after one minute."""
    async with make_stack(
        policy=policy_yaml(expires_after="1m"), database_url=database_url, **FAST_SETTINGS
    ) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


async def test_the_sweeper_marks_an_undecided_request_expired_never_denied(
    short_lived: Desk,
) -> None:
    desk = short_lived
    late_id = await desk.request("envs create Waited Too Long")
    posted = desk.approval(late_id)

    move_clock(desk.workflow, timedelta(minutes=2))
    await desk.sweeper.sweep()
    expired = await desk.settled(late_id)

    assert expired.state is State.EXPIRED
    message = desk.approval(late_id)
    assert message.ts == posted.ts and button_ids(message) == []
    assert "*Expired*" in status_of(message)
    [reply] = desk.thread(late_id)
    [dm] = desk.dms_about(late_id)
    for seen in (everything(message), reply.text, dm.text):
        assert "expired" in seen.lower()
        assert "denied" not in seen.lower()
    assert writes(desk) == 0
    assert await desk.audit_kinds(late_id) == ["requested", "expired"]

    refusal = await desk.refused(late_id, user=APPROVER_2)
    assert "expired" in refusal
    assert (await desk.get(late_id)).state is State.EXPIRED
    assert writes(desk) == 0
    assert (await desk.audit_kinds(late_id))[-1] == "refused"


async def test_a_click_after_expiry_is_refused_even_before_the_sweeper_runs(
    short_lived: Desk,
) -> None:
    desk = short_lived
    request_id = await desk.request("envs create Clicked Too Late")
    move_clock(desk.workflow, timedelta(minutes=2))

    refusal = await desk.refused(request_id, user=APPROVER_1)
    expired = await desk.settled(request_id)

    assert "expired" in refusal and "was not denied" in refusal
    assert expired.state is State.EXPIRED
    assert "*Expired*" in status_of(desk.approval(request_id))
    assert writes(desk) == 0
    assert await desk.audit_kinds(request_id) == ["requested", "refused", "expired"]


# ── who may click ───────────────────────────────────────────────────────────────────────────


async def test_a_click_carrying_an_unknown_request_id_is_refused(desk: Desk) -> None:
    request_id = await desk.request("envs create Tampered With")

    refusal = await desk.refused(request_id, user=APPROVER_1, value="CR-ZZZZZZ")

    assert "no change request with that id" in refusal
    assert (await desk.get(request_id)).state is State.PENDING
    assert writes(desk) == 0
    [event] = [e for e in await desk.store.audit(50) if e.kind == "refused"]
    assert event.actor == APPROVER_1 and event.request_id is None


@pytest.mark.parametrize(
    ("clicker", "approve"),
    [(VIEWER, True), (AUDITOR, False), (STRANGER, True), (STRANGER, False)],
    ids=["viewer approves", "auditor denies", "stranger approves", "stranger denies"],
)
async def test_a_click_from_someone_who_cannot_approve_changes_nothing(
    desk: Desk, clicker: str, approve: bool
) -> None:
    request_id = await desk.request("envs create Not Yours To Approve")
    before = desk.approval(request_id)
    edits, blocks = before.edited, before.blocks

    refusal = await desk.refused(request_id, user=clicker, approve=approve)

    assert "requests.approve" in refusal
    assert (await desk.get(request_id)).state is State.PENDING
    after = desk.approval(request_id)
    assert after.edited == edits and after.blocks == blocks
    assert writes(desk) == 0
    [event] = [e for e in await desk.store.audit(50, request_id=request_id) if e.kind == "refused"]
    assert event.actor == clicker


async def test_a_requester_cannot_approve_their_own_request(make_stack: StackFactory) -> None:
    async with make_stack(policy=policy_yaml(requester_approves=True), **FAST_SETTINGS) as sb:
        desk = Desk.of(sb)
        request_id = await desk.request("envs create Approve It Myself")

        refusal = await desk.refused(request_id, user=REQUESTER)

        assert "is yours, so someone else has to approve it" in refusal
        assert (await desk.get(request_id)).state is State.PENDING
        assert button_ids(desk.approval(request_id)) == ["approve_request", "deny_request"]
        assert writes(desk) == 0
        assert (await desk.audit_kinds(request_id))[-1] == "refused"

        await desk.click(request_id, user=APPROVER_2)
        assert (await desk.settled(request_id)).state is State.SUCCEEDED
        assert writes(desk) == 1


async def test_self_approval_works_when_the_policy_allows_it(make_stack: StackFactory) -> None:
    policy = policy_yaml(requester_approves=True, allow_self_approval=True)
    async with make_stack(policy=policy, **FAST_SETTINGS) as sb:
        desk = Desk.of(sb)
        request_id = await desk.request("envs create Approved By Me")

        await desk.click(request_id, user=REQUESTER)
        done = await desk.settled(request_id)

        assert done.state is State.SUCCEEDED and done.approvers == {REQUESTER}
        assert desk.fingerprint.count(method="POST", path="/environments") == 1


async def test_deleting_an_environment_needs_two_different_approvers(desk: Desk) -> None:
    request_id = await desk.request(delete_env_command(desk))
    assert "2 more needed" in everything(desk.approval(request_id))

    await desk.click(request_id, user=APPROVER_1)
    await desk.slack.wait_for(
        lambda: "(1 of 2)" in everything(desk.approval(request_id)),
        what="one approval of two",
    )
    refusal = await desk.refused(request_id, user=APPROVER_1)

    assert "You already approved" in refusal
    pending = await desk.get(request_id)
    assert pending.state is State.PENDING and pending.approvers == {APPROVER_1}
    assert "1 more needed" in status_of(desk.approval(request_id))
    assert button_ids(desk.approval(request_id)) == ["approve_request", "deny_request"]
    assert writes(desk) == 0

    await desk.click(request_id, user=APPROVER_2)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED and done.approvers == {APPROVER_1, APPROVER_2}
    assert desk.fingerprint.count(method="DELETE", path="/environments/*") == 1
    assert writes(desk) == 1
    assert (await desk.audit_kinds(request_id)).count("approval") == 2


# ── listing requests and the audit trail ───────────────────────────────────────────────────


async def test_requests_lists_what_is_pending_for_the_requester_and_the_approvers(
    desk: Desk,
) -> None:
    waiting = await desk.request("envs create Still Waiting")
    also_waiting = await desk.request(delete_env_command(desk))
    finished = await desk.request("envs create Already Done")
    await desk.click(finished, user=APPROVER_1)
    await desk.settled(finished)

    for user in (REQUESTER, APPROVER_1, APPROVER_2):
        listing = await desk.command("requests", user=user)
        assert "Pending change requests (2)" in listing, user
        assert waiting in listing and also_waiting in listing
        assert finished not in listing
        assert "0 of 2 approvals" in listing

    assert "No pending change requests" in await desk.command("requests", user=VIEWER)


async def test_the_audit_trail_tells_each_requests_story_on_one_line(desk: Desk) -> None:
    request_id = await desk.request("envs create Audited Env")
    await desk.refused(request_id, user=VIEWER)
    await desk.click(request_id, user=APPROVER_1)
    await desk.settled(request_id)
    other = await desk.request("envs create Another Audited Env")

    trail = await desk.command("audit 50", user=AUDITOR)

    kinds = ["requested", "refused", "approval", "approved", "executing", "succeeded"]
    assert await desk.audit_kinds(request_id) == kinds
    (line,) = [line for line in trail.splitlines() if request_id in line]
    assert f"asked by <@{REQUESTER}>" in line and f"approved by <@{APPROVER_1}>" in line
    assert "*succeeded*" in line and f"1 click refused (<@{VIEWER}>)" in line
    (pending,) = [line for line in trail.splitlines() if other in line]
    assert "*pending*" in pending

    short = await desk.command("audit 1", user=AUDITOR)
    assert "Audit trail (last 1)" in short and other in short and request_id not in short
    one = await desk.command(f"audit --request {request_id.lower()}", user=AUDITOR)
    assert request_id in one and other not in one
    theirs = await desk.command(f"audit --user <@{APPROVER_1}|ada> --since 1h", user=AUDITOR)
    assert request_id in theirs and other not in theirs and "involving" in theirs

    denied = await desk.command("audit", user=REQUESTER)
    assert "audit.read" in denied and "*succeeded*" not in denied


async def test_a_delayed_edit_never_leaves_a_finished_request_showing_buttons(desk: Desk) -> None:
    """Slack rate-limits the first approval's edit; the second approval finishes the request
    while the first edit waits out ``Retry-After``. The message must end showing the outcome."""
    request_id = await desk.request(delete_env_command(desk))
    desk.slack.faults.rate_limit_next = 1
    await desk.click(request_id, user=APPROVER_1)
    await desk.slack.wait_for(
        lambda: any(c.error == "ratelimited" for c in desk.slack.calls("chat.update")),
        what="the first approval's edit rate-limited",
    )
    await desk.click(request_id, user=APPROVER_2)
    done = await desk.settled(request_id)
    await desk.quiet()

    assert done.state is State.SUCCEEDED
    message = desk.approval(request_id)
    assert button_ids(message) == [], "a finished request still offers Approve and Deny"
    assert "*Succeeded*" in status_of(message)


async def test_requests_finds_a_requesters_own_request_behind_many_newer_ones(desk: Desk) -> None:
    mine = await desk.request("envs create Mine Among Many")
    first = await desk.get(mine)
    for n in range(55):  # a busy colleague's requests, stored as the bot stores them
        await desk.store.create(
            replace(
                first,
                id=new_request_id(),
                requester="U0COLLEAGUE",
                summary=f"Create environment *Busy {n}*",
                params={"name": f"Busy {n}"},
                target=f"{first.target}-busy-{n}",
                created_at=first.created_at + timedelta(seconds=n + 1),
                approval_channel=None,
                approval_ts=None,
            )
        )

    own = await desk.command("requests", user=REQUESTER)
    everyone = await desk.command("requests", user=APPROVER_1)

    assert "Pending change requests (1)" in own and mine in own
    assert "Pending change requests (56)" in everyone and mine in everyone
