"""Filtering rules from `/fp` to the account, under the API version that has each shape.

``2024-05-20`` keeps origin allow/deny lists; ``2025-11-20`` ordered expression rules. Each
scenario types the command, reads the card (rules before → after, the rule-test preview),
approves and checks what the stand-in received and now holds. A command of the other version
gets a usage error that names the version it needs, and nothing reaches the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.changes.lease import EXECUTION_LEASE
from bot.domain import State
from sandbox.fingerprint import FakeFingerprint
from sandbox.fingerprint.filtering import create_rule
from sandbox.fingerprint.state import ExpressionRule
from tests.scenarios.change_helpers import (
    APPROVER_1,
    FAST_SETTINGS,
    OPS,
    REQUESTER,
    Desk,
    everything,
    move_clock,
    restart,
)
from tests.scenarios.conftest import API_2024, API_2025, BOTH_VERSIONS, StackFactory


@pytest.fixture
async def desk(make_stack: StackFactory) -> AsyncIterator[Desk]:
    async with make_stack(**FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


def env_id(fp: FakeFingerprint, name: str) -> str:
    return next(e.id for e in fp.workspace.environments.values() if e.name == name)


def rule_named(fp: FakeFingerprint, name: str) -> ExpressionRule:
    return next(r for r in fp.workspace.expression_rules.values() if r.name == name)


def order(fp: FakeFingerprint, env: str) -> list[str]:
    rules = fp.workspace.expression_rules
    return [rules[i].name for i in fp.workspace.rule_order.get(env, [])]


async def approved(desk: Desk, request_id: str) -> State:
    await desk.click(request_id, user=APPROVER_1)
    return (await desk.settled(request_id)).state


# ── the listing, under both versions ────────────────────────────────────────────────────────


@BOTH_VERSIONS
async def test_the_rules_listing_shows_what_the_version_keeps(desk: Desk, api_version: str) -> None:
    answer = await desk.command("rules")
    if api_version == API_2024:
        assert "Origin lists" in answer
        assert "evil.example" in answer and "Production" in answer
        assert "staging.example.com" in answer and "allows only" in answer
        assert desk.fingerprint.count(method="GET", path="/filtering-rules") >= 2
    else:
        assert "Evaluated in order" in answer
        assert "Allow the office" in answer and "Deny crawlers" in answer
        assert answer.index("Allow the office") < answer.index("Deny crawlers")
        assert "3 of 15 rules" in answer
        assert desk.fingerprint.count(method="GET", path="/filtering-rules") == 1


@BOTH_VERSIONS
async def test_the_listing_of_one_environment_reads_only_it(desk: Desk, api_version: str) -> None:
    fp = desk.fingerprint
    answer = await desk.command("rules --env QA")
    if api_version == API_2024:
        assert "No environment has origin rules" in answer
        assert fp.count(method="GET", path="/filtering-rules") == 1
    else:
        assert "Allow the QA app" in answer and "Deny crawlers" not in answer


# ── 2024-05-20: origin lists ────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
async def test_an_origin_added_to_a_deny_list_shows_both_lists_and_is_patched_in(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    prod = env_id(fp, "Production")
    request_id = await desk.request("rules add Production deny https://bad.example")
    card = everything(desk.approval(request_id))
    assert "deny list" in card and "https://bad.example" in card
    assert "https://evil.example" in card  # before → after shows the list as it is
    assert await approved(desk, request_id) is State.SUCCEEDED

    assert fp.count(method="PATCH", path="/filtering-rules") == 1
    assert "https://bad.example" in fp.workspace.origin_rules[prod].deny
    assert "https://evil.example" in fp.workspace.origin_rules[prod].deny


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
async def test_an_origin_removed_from_an_allow_list_leaves_the_others(desk: Desk) -> None:
    fp = desk.fingerprint
    staging = env_id(fp, "Staging")
    fp.workspace.origin_rules[staging].allow.append("https://beta.example.com")
    request_id = await desk.request("rules remove Staging allow https://staging.example.com")
    assert await approved(desk, request_id) is State.SUCCEEDED
    assert fp.workspace.origin_rules[staging].allow == ["https://beta.example.com"]


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
async def test_origin_changes_the_lists_would_refuse_are_refused_before_a_request(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    already = await desk.command("rules add Production deny https://evil.example")
    assert "already on the deny list" in already
    other_kind = await desk.command("rules add Production allow https://good.example")
    assert "has a deny list" in other_kind
    absent = await desk.command("rules remove Staging deny https://nowhere.example")
    assert "not on the deny list" in absent
    assert fp.count(method="PATCH", path="/filtering-rules") == 0
    assert await desk.store.list_requests() == []


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
async def test_an_expression_rule_under_2024_is_refused_naming_the_version_it_needs(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    answer = await desk.command("rules add Production http.request.ip == '192.0.2.1'")
    assert "2025-11-20" in answer and "2024-05-20" in answer
    assert await desk.store.list_requests() == []
    assert fp.count(path="/filtering-rules*") == 0


# ── 2025-11-20: expression rules ────────────────────────────────────────────────────────────


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_a_new_rule_with_a_test_shows_the_rules_before_and_after_and_what_it_does(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    prod = env_id(fp, "Production")
    request_id = await desk.request(
        "rules add Production http.request.ip == '192.0.2.10' --action block --position 1 "
        "--name Block the tester --test 1708102555328.Xb2kQp"
    )
    card = everything(desk.approval(request_id))
    assert "Rules now" in card and "Rules after the change" in card
    after = card[card.index("Rules after the change") :]
    assert after.index("Block the tester") < after.index("Allow the office")
    assert "Rule test" in card and "1708102555328.Xb2kQp" in card
    # The office's network is allowed today; the new first rule blocks this request.
    assert "Now: allowed (by the rule" in card or "Now: allowed by the rule" in card
    assert "After the change: blocked (Forbidden) by the rule" in card
    assert fp.count(method="POST", path="/filtering-rules") == 0
    assert fp.count(method="POST", path="/filtering-rules/test") >= 2

    assert await approved(desk, request_id) is State.SUCCEEDED
    assert fp.count(method="POST", path="/filtering-rules") == 1
    assert order(fp, prod)[0] == "Block the tester"
    assert rule_named(fp, "Block the tester").action == "deny"


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_a_rule_is_changed_moved_and_removed_each_by_approval(desk: Desk) -> None:
    fp = desk.fingerprint
    prod = env_id(fp, "Production")
    crawlers = rule_named(fp, "Deny crawlers")

    changed = await desk.request(f"rules change {crawlers.id} --status disabled")
    assert "disabled" in everything(desk.approval(changed))
    assert await approved(desk, changed) is State.SUCCEEDED
    assert crawlers.status == "disabled"

    moved = await desk.request(f"rules move {crawlers.id} 1")
    assert await approved(desk, moved) is State.SUCCEEDED
    assert order(fp, prod) == ["Deny crawlers", "Allow the office"]

    removed = await desk.request("rules remove Deny crawlers")
    card = everything(desk.approval(removed))
    assert "cannot be undone" in card
    assert await approved(desk, removed) is State.SUCCEEDED
    assert order(fp, prod) == ["Allow the office"]
    assert fp.count(method="DELETE", path=f"/filtering-rules/{crawlers.id}") == 1


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_the_plan_limit_of_fifteen_rules_is_checked_before_a_request(desk: Desk) -> None:
    fp = desk.fingerprint
    qa = env_id(fp, "QA")
    for n in range(12):
        await desk.request(f"rules add QA http.request.ip == '198.51.100.{n}' --name Rule {n}")
    for request in await desk.store.list_requests(states=[State.PENDING]):
        await desk.click(request.id, user=APPROVER_1)
        await desk.settled(request.id)
    assert len(fp.workspace.expression_rules) == 15
    before = fp.count(method="POST", path="/filtering-rules")
    answer = await desk.command("rules add QA http.request.ip == '198.51.100.99'")
    assert "15 filtering rules" in answer and "plan allows" in answer
    assert fp.count(method="POST", path="/filtering-rules") == before
    assert len(fp.workspace.rule_order[qa]) == 13


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_an_expression_fingerprint_cannot_read_is_refused_before_a_request(
    desk: Desk,
) -> None:
    answer = await desk.command("rules add QA http.request.ip ==")
    assert "does not accept the expression" in answer
    assert await desk.store.list_requests() == []


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_an_origin_list_command_under_2025_is_refused_naming_the_version_it_needs(
    desk: Desk,
) -> None:
    answer = await desk.command("rules add Production deny https://bad.example")
    assert "2024-05-20" in answer and "2025-11-20" in answer
    assert await desk.store.list_requests() == []


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_the_rule_form_submits_the_same_request_as_the_command(desk: Desk) -> None:
    fp = desk.fingerprint
    driver = desk.replicas[0].driver
    response = await driver.command("rules add", user=REQUESTER, channel=OPS)
    assert response.status == 200
    await desk.slack.wait_for(
        lambda: desk.slack.modal(REQUESTER) is not None, 10.0, what="the rule form"
    )
    form = desk.slack.modal(REQUESTER)
    assert form is not None and "AddRule" in str(form.callback_id)
    response = await driver.submit_view(
        user=REQUESTER,
        values={
            "pick_env": {"text": {"type": "plain_text", "text": "QA"}, "value": env_id(fp, "QA")},
            "expression": "http.request.ip == '203.0.113.7'",
            "action": "deny",
            "position": "1",
            "test": "1708102555329.aNdr01",
        },
    )
    assert response.status == 200
    await desk.quiet()
    [request] = await desk.store.list_requests(states=[State.PENDING])
    assert request.action == "rules.create" and request.params["env_id"] == env_id(fp, "QA")
    card = everything(desk.approval(request.id))
    assert "Now: allowed by the rule" in card  # the QA app's own rule
    assert "After the change: blocked (Forbidden)" in card


@pytest.mark.parametrize("api_version", [API_2025], indirect=True)
async def test_a_rule_added_just_before_a_restart_is_reconciled_not_added_twice(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        fp = desk.fingerprint
        qa = env_id(fp, "QA")
        expression = "http.request.ip == '203.0.113.9'"
        request_id = await desk.request(f"rules add QA {expression} --name Landed")
        now = datetime.now(UTC)
        await desk.store.add_approval(request_id, APPROVER_1, now)
        await desk.store.transition(
            request_id, State.PENDING, State.APPROVED, decided_by=APPROVER_1, decided_at=now
        )
        await desk.store.transition(
            request_id, State.APPROVED, State.EXECUTING, executing_since=now
        )
        create_rule(
            fp.workspace,
            {"name": "Landed", "environment": qa, "expression": expression, "action": "deny"},
        )

        desk = await restart(sandbox)
        move_clock(desk.workflow, EXECUTION_LEASE + timedelta(seconds=1))
        await desk.sweeper.sweep()
        done = await desk.settled(request_id)
        assert done.state is State.SUCCEEDED
        assert fp.count(method="POST", path="/filtering-rules") == 0
        assert order(fp, qa).count("Landed") == 1


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
async def test_origin_lists_fingerprint_cannot_show_back_are_explained_not_alerted(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    fp.faults.origin_rules_unreadable = True
    answer = await desk.command("rules --env Production")
    assert "cannot show origin lists back" in answer
    assert desk.alerts() == []
    # A change is still possible: it is planned without the lists as they are.
    request_id = await desk.request("rules add Production deny https://bad.example")
    assert "not readable back" in everything(desk.approval(request_id))
    assert await approved(desk, request_id) is State.SUCCEEDED
    assert "https://bad.example" in fp.workspace.origin_rules[env_id(fp, "Production")].deny
