"""The account watch: changes made in Fingerprint's dashboard, outside fpbot, reported once.

The stand-in's ``outside_change`` plays the dashboard. The watch's interval is a second, so
"within two intervals" is counted in passes: a change is reported by the second pass after
it at the latest. fpbot's own changes, made meanwhile, are never reported; a Revert is a
change request like any other; a restart neither repeats nor misses a change; of two replicas
one watches and one report is posted. Under ``2025-11-20`` the watch also reads filtering
rules, encryption keys and subdomains; switching the API version reports nothing for what
appears with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain import State
from bot.domain.account import Decision, Source
from bot.render.ids import OUTSIDE_ACK, OUTSIDE_KEEP, OUTSIDE_REVERT, REVERT_ROTATION
from bot.watch import AccountWatch
from sandbox.run import Sandbox, sample_policy_path
from tests.scenarios.change_helpers import (
    APPROVER_1,
    AUDITOR,
    FAST_SETTINGS,
    REQUEST_ID,
    REQUESTER,
    VIEWER,
    Desk,
    bot_settings,
    everything,
    move_clock,
    new_fake_slack,
    policy_yaml,
    private_stand_in,
    restart,
    start_replica,
    stop_replica,
)
from tests.scenarios.conftest import API_2025, StackFactory
from tests.scenarios.test_changes_grace import (
    follow_up_approved,
    key_named,
    press,
    replacement_of,
    rotated,
)

INTERVAL = "1s"
WAIT = 20.0
ONLY_2025 = pytest.mark.parametrize("api_version", [API_2025], indirect=True)


def watching(interval: str = INTERVAL, policy: str | None = None) -> str:
    """The sample policy (or ``policy``) with the watch every ``interval``."""
    text = policy if policy is not None else sample_policy_path().read_text()
    text = text.split("\nwatch:")[0]
    return f"{text}\nwatch:\n  interval: {interval}\n"


def watch_of(sandbox: Sandbox) -> AccountWatch:
    assert sandbox.bot is not None and sandbox.bot.services is not None
    watch = sandbox.bot.services.watch
    assert watch is not None
    return watch


def reports(desk: Desk) -> list[str]:
    return [everything(m) for m in desk.alerts() if "outside fpbot" in m.text]


async def passes(watch: AccountWatch, at_least: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while watch.passes < at_least:
        assert loop.time() < deadline, f"the watch made {watch.passes} passes, not {at_least}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def watched(make_stack: StackFactory) -> AsyncIterator[Sandbox]:
    async with make_stack(policy=watching(), **FAST_SETTINGS) as sandbox:
        Desk.of(sandbox)  # the stand-in takes the scenario's pace
        await passes(watch_of(sandbox), 1)  # the baseline
        yield sandbox


def first_env(sandbox: Sandbox, n: int = 0) -> tuple[str, str]:
    envs = [e for e in sandbox.fingerprint.workspace.environments.values() if not e.is_default]
    return envs[n].id, envs[n].name


def disabled_key(sandbox: Sandbox) -> str:
    return next(
        k.id for k in sandbox.fingerprint.workspace.api_keys.values() if k.status == "disabled"
    )


async def test_an_outside_rename_and_key_enable_are_reported_once_but_fpbots_change_never(
    watched: Sandbox,
) -> None:
    desk = Desk.of(watched)
    watch = watch_of(watched)
    own_env, _ = first_env(watched, 1)
    request_id = await desk.request(f"envs rename {own_env} Renamed by fpbot")

    env_id, old_name = first_env(watched)
    key_id = disabled_key(watched)
    watched.fingerprint.outside_change("environments", "update", env_id, name="Prod EU (moved)")
    watched.fingerprint.outside_change("api-keys", "update", key_id, status="enabled")
    changed_at = watch.passes
    await desk.decide(request_id, user=APPROVER_1, approve=True)  # fpbot's own, meanwhile
    assert (await desk.settled(request_id)).state is State.SUCCEEDED

    await desk.slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the outside report")
    found = await desk.store.change_log(source=Source.OUTSIDE)
    assert {c.found_in for c in found} == {found[0].found_in}, "found by one pass: one message"
    assert found[0].found_in is not None and found[0].found_in <= changed_at + 2, (
        "found within two intervals: by the first or second pass after the change"
    )
    await passes(watch, watch.passes + 3)

    (report,) = reports(desk)
    assert f"`{env_id}`" in report and "Prod EU (moved)" in report
    assert f"name: `{old_name}` → `Prod EU (moved)`" in report
    assert f"`{key_id}`" in report and "status: `disabled` → `enabled`" in report
    assert "Renamed by fpbot" not in "\n".join(everything(m) for m in desk.alerts())
    log = await desk.command("changes", user=AUDITOR)
    assert "outside fpbot" in log and "Prod EU (moved)" in log
    assert "Renamed by fpbot" in log and request_id in log
    only = await desk.command(f"changes 5 --env {own_env} --since 1h", user=AUDITOR)
    assert "Renamed by fpbot" in only and "Prod EU (moved)" not in only


async def test_revert_asks_for_a_change_that_once_approved_restores_the_name(
    watched: Sandbox,
) -> None:
    desk = Desk.of(watched)
    watch = watch_of(watched)
    env_id, old_name = first_env(watched)
    watched.fingerprint.outside_change("environments", "update", env_id, name="Hijacked name")
    await desk.slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the outside report")
    (message,) = [m for m in desk.alerts() if "outside fpbot" in m.text]

    await desk.replicas[0].driver.click(message, OUTSIDE_ACK, user=VIEWER)
    await desk.quiet()
    await desk.replicas[0].driver.click(message, OUTSIDE_REVERT, user=REQUESTER)
    await desk.quiet()
    (receipt,) = [m for m in desk.slack.ephemerals(REQUESTER) if REQUEST_ID.search(m.text)]
    found = REQUEST_ID.search(receipt.text)
    assert found is not None
    request_id = found.group(0)
    await desk.slack.wait_for(lambda: desk.approval_or_none(request_id) is not None)
    assert "Undo a change made outside fpbot" in everything(desk.approval(request_id))

    await desk.decide(request_id, user=APPROVER_1, approve=True)
    assert (await desk.settled(request_id)).state is State.SUCCEEDED
    assert watched.fingerprint.workspace.environments[env_id].name == old_name

    edited = next(m for m in desk.alerts() if m.ts == message.ts)
    assert f"Revert requested by <@{REQUESTER}> as `{request_id}`" in everything(edited)
    assert OUTSIDE_REVERT not in str(edited.blocks), "decided: no more buttons"
    await passes(watch, watch.passes + 3)
    assert len(reports(desk)) == 1, "fpbot's revert is not an outside change"


async def test_keep_needs_the_permission_a_revert_would_and_is_recorded_once(
    watched: Sandbox,
) -> None:
    desk = Desk.of(watched)
    key_id = disabled_key(watched)
    watched.fingerprint.outside_change("api-keys", "update", key_id, status="enabled")
    await desk.slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the outside report")
    (message,) = [m for m in desk.alerts() if "outside fpbot" in m.text]

    await desk.replicas[0].driver.click(message, OUTSIDE_KEEP, user=VIEWER)
    await desk.quiet()
    assert "`keys.update`" in everything(desk.slack.ephemerals(VIEWER)[-1])
    await desk.replicas[0].driver.click(message, OUTSIDE_KEEP, user=REQUESTER)
    await desk.quiet()
    (logged,) = await desk.store.change_log(limit=1)
    assert logged.decision is Decision.KEPT and logged.decided_by == REQUESTER
    edited = next(m for m in desk.alerts() if m.ts == message.ts)
    assert f"Kept by <@{REQUESTER}>" in everything(edited)


async def test_a_restart_between_two_passes_neither_repeats_nor_misses_a_change(
    watched: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk.of(watched)
    first, _ = first_env(watched)
    second, _ = first_env(watched, 1)
    third, _ = first_env(watched, 2)
    watched.fingerprint.outside_change("environments", "update", first, name="Before restart")
    await desk.slack.wait_for(lambda: len(reports(desk)) == 1, WAIT, what="the first report")

    # The next pass records its finding, and the process stops before posting it.
    watch = watch_of(watched)

    async def not_yet() -> None:
        return None

    monkeypatch.setattr(watch, "post_reports", not_yet)
    recorded = watch.passes
    watched.fingerprint.outside_change("environments", "update", second, name="Unposted")
    await passes(watch, recorded + 2)
    desk = await restart(watched)
    watched.fingerprint.outside_change("environments", "update", third, name="While restarting")

    await desk.slack.wait_for(lambda: len(reports(desk)) >= 3, WAIT, what="the later reports")
    await passes(watch_of(watched), 3)
    found = reports(desk)
    assert len(found) == 3
    assert sum("Before restart" in r for r in found) == 1
    assert sum("Unposted" in r for r in found) == 1
    assert sum("While restarting" in r for r in found) == 1


@ONLY_2025
async def test_a_rule_and_an_encryption_key_disabled_outside_are_reported_but_fpbots_rules_never(
    watched: Sandbox,
) -> None:
    desk = Desk.of(watched)
    watch = watch_of(watched)
    fp = watched.fingerprint
    rules = {r.name: r for r in fp.workspace.expression_rules.values()}
    qa, crawlers = rules["Allow the QA app"], rules["Deny crawlers"]
    key = next(k for k in fp.workspace.encryption_keys.values() if k.status == "enabled")
    # fpbot's own: a rule added first in Production (renumbering the others) and another off.
    added = await desk.request(
        "rules add Production http.request.ip == '192.0.2.10' --position 1 --name Block the tester"
    )
    changed = await desk.request(f"rules change {crawlers.id} --status disabled")

    fp.outside_change("filtering-rules", "update", qa.id, status="disabled")
    fp.outside_change("encryption-keys", "update", key.id, status="disabled")
    changed_at = watch.passes
    for request_id in (added, changed):
        await desk.decide(request_id, user=APPROVER_1, approve=True)
        assert (await desk.settled(request_id)).state is State.SUCCEEDED

    await desk.slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the outside report")
    await passes(watch, watch.passes + 3)
    (report,) = reports(desk)
    found = await desk.store.change_log(source=Source.OUTSIDE)
    assert sorted(c.change.id for c in found) == sorted([qa.id, key.id]), "each once"
    assert found[0].found_in is not None and found[0].found_in <= changed_at + 2
    assert f"*Filtering rule* `{qa.id}` *Allow the QA app* updated outside fpbot" in report
    assert f"*Encryption key* `{key.id}`" in report
    assert report.count("status: `enabled` → `disabled`") == 2
    alerts = "\n".join(everything(m) for m in desk.alerts())
    for fpbots in ("Block the tester", "Deny crawlers", "Allow the office", "position"):
        assert fpbots not in alerts, f"{fpbots}: fpbot's own, or renumbered by it"
    assert key.token not in alerts and key.next_token not in alerts
    log = await desk.command("changes", user=AUDITOR)
    assert "Block the tester" in log and added in log and changed in log


async def test_a_2024_snapshot_then_a_2025_pass_reports_nothing_and_the_next_compares_rules(
    make_stack: StackFactory,
) -> None:
    """The rules, encryption keys and subdomains a 2025-11-20 pass reads first are not
    "created"; a pass after it compares them."""
    async with make_stack(policy=watching(), **FAST_SETTINGS) as sandbox:
        Desk.of(sandbox)
        await passes(watch_of(sandbox), 1)  # the baseline, under 2024-05-20
        desk = await restart(sandbox, fp_api_version=API_2025)
        watch = watch_of(sandbox)
        await passes(watch, 2)
        assert sandbox.fingerprint.count(path="/encryption-keys*") > 0
        assert reports(desk) == []
        assert await desk.store.change_log(source=Source.OUTSIDE) == []

        rule = next(iter(sandbox.fingerprint.workspace.expression_rules.values()))
        sandbox.fingerprint.outside_change("filtering-rules", "update", rule.id, name="Renamed")
        await desk.slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the outside report")
        (report,) = reports(desk)
        assert f"`{rule.id}`" in report and "→ `Renamed`" in report


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.mark.postgres
async def test_a_grace_that_ends_and_a_rotation_reverted_are_fpbots_own_never_outside(
    watched: Sandbox,
) -> None:
    """The sweeper disables an old key when its grace ends, long after the rotation ran; a
    Revert enables it again and disables the replacement. Neither is an outside change."""
    desk = Desk.of(watched)
    watch = watch_of(watched)
    fp = watched.fingerprint
    first = key_named(fp, "Backend events")
    done = await rotated(desk, f"keys rotate {first.id} --grace 1h")
    await passes(watch, watch.passes + 2)
    assert done.finished_at is not None
    # As if it ran yesterday: a grace ends long after its rotation, whatever the watch's window.
    await desk.store.update_fields(done.id, finished_at=done.finished_at - timedelta(days=1))
    move_clock(desk.workflow, timedelta(hours=2))
    await desk.sweeper.sweep()
    await desk.quiet()
    assert first.status == "disabled", "the grace ended"
    await passes(watch, watch.passes + 2)

    second = key_named(fp, "Website")
    rotation = await rotated(desk, f"keys rotate {second.id} --grace 24h")
    await passes(watch, watch.passes + 2)
    await follow_up_approved(desk, await press(desk, rotation.id, REVERT_ROTATION))
    assert (second.status, replacement_of(fp, second).status) == ("enabled", "disabled")
    await passes(watch, watch.passes + 2)

    assert reports(desk) == []
    assert await desk.store.change_log(source=Source.OUTSIDE) == []


async def test_of_two_replicas_one_watches_and_one_report_is_posted(
    pg_url: str, tmp_path: Path, log_buffer: object
) -> None:
    policy = tmp_path / "fpbot.yml"
    policy.write_text(watching(policy=policy_yaml()))
    slack = new_fake_slack()
    async with private_stand_in() as api:
        await slack.start()
        settings = bot_settings(slack, api, policy_path=policy, database_url=pg_url)
        replicas = [await start_replica(slack, settings) for _ in range(2)]
        try:
            desk = Desk(slack, api.fake, replicas)
            watches = []
            for replica in replicas:
                assert replica.bot.services is not None and replica.bot.services.watch
                watches.append(replica.bot.services.watch)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while sum(w.passes for w in watches) < 2:
                assert loop.time() < deadline
                await asyncio.sleep(0.05)
            env = next(e for e in api.fake.workspace.environments.values() if not e.is_default)
            reads = api.fake.count("GET", "/environments*")
            api.fake.outside_change("environments", "update", env.id, name="Seen once")
            await slack.wait_for(lambda: bool(reports(desk)), WAIT, what="the report")
            done = sum(w.passes for w in watches)
            while sum(w.passes for w in watches) < done + 3:
                assert loop.time() < deadline + WAIT
                await asyncio.sleep(0.05)
            assert len(reports(desk)) == 1
            assert [w.passes > 0 for w in watches].count(True) == 1, "one replica watches"
            passes_made = sum(w.passes for w in watches) - (done - 1)
            assert api.fake.count("GET", "/environments*") - reads <= passes_made + 1
        finally:
            for replica in replicas:
                await stop_replica(replica)
            await slack.stop()


async def test_the_watch_reads_a_fifth_of_the_budget_behind_commands(
    make_stack: StackFactory,
) -> None:
    """With the whole budget at 5 requests a second, the watch's reads go at 1 a second."""
    async with make_stack(policy=watching(), environments=300, fp_rate_limit=5.0) as sandbox:
        watch = watch_of(sandbox)
        await passes(watch, 1)
        fake = sandbox.fingerprint
        started = fake.count()
        await passes(watch, 2)
        reads = fake.requests[-(fake.count() - started) :]
        stamps = sorted(r.at for r in reads)
        assert len(stamps) >= 5  # 3 pages of environments, keys, webhooks
        for earlier, later in zip(stamps, stamps[4:], strict=False):
            assert later - earlier >= 3.9, "at most one background read a second"
