"""The Slack-native change flow, end to end over signed HTTP: forms instead of typed ids, their
menus and field errors, reasons, withdrawal, duplicates, App Home, reminders and routes.

Each test drives the sandbox as people in Slack would (the fake Slack's driver opens, fills and
submits forms the way Slack's client does) and checks what they see and what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.commands import RenameEnv
from bot.domain import State
from bot.render import ids
from bot.render.forms import form_callback
from sandbox.slack import NotSubmittable, RecordedView
from tests.scenarios.change_helpers import (
    APPROVALS,
    APPROVER_1,
    APPROVER_2,
    FAST_SETTINGS,
    OPS,
    REQUESTER,
    VIEWER,
    WAIT,
    Desk,
    button_ids,
    everything,
    move_clock,
    policy_yaml,
    status_of,
)
from tests.scenarios.conftest import StackFactory

PROD_APPROVALS = "C0APPROVALS"  # the route below posts to the same channel the fake knows


@pytest.fixture
async def desk(make_stack: StackFactory) -> AsyncIterator[Desk]:
    async with make_stack(**FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


def env_id(desk: Desk, name: str) -> str:
    return next(e.id for e in desk.fingerprint.workspace.environments.values() if e.name == name)


async def form_of(desk: Desk, user: str, callback_id: str) -> RecordedView:
    """Wait for ``user``'s open modal to be the form ``callback_id``."""
    await desk.slack.wait_for(
        lambda: (view := desk.slack.modal(user)) is not None and view.callback_id == callback_id,
        WAIT,
        what=f"the form {callback_id} for {user}",
    )
    form = desk.slack.modal(user)
    assert form is not None
    return form


def option_values(response: Any) -> list[str]:
    return [o["value"] for o in response.body["options"]]


# ── forms ───────────────────────────────────────────────────────────────────────────────────


async def test_a_change_typed_without_arguments_opens_its_form_at_once(desk: Desk) -> None:
    driver = desk.replicas[0].driver
    response = await driver.command("envs rename", user=REQUESTER, channel=OPS)
    assert response.status == 200 and response.elapsed < 3.0

    form = await form_of(desk, REQUESTER, form_callback(RenameEnv))
    (opened,) = desk.slack.calls("views.open")
    assert opened.error is None, "the trigger was used within Slack's three seconds"
    labels = everything_in(form.view)
    assert (
        "Environment" in labels and "New name" in labels and "Why is this change needed?" in labels
    )
    assert await desk.store.list_requests() == []


async def test_the_environment_menu_is_filtered_by_what_is_typed(desk: Desk) -> None:
    await desk.replicas[0].driver.command("envs rename", user=REQUESTER, channel=OPS)
    await form_of(desk, REQUESTER, form_callback(RenameEnv))

    found = await desk.replicas[0].driver.suggest(ids.PICK_ENV, "marketing eu 000", user=REQUESTER)

    values = option_values(found)
    names = {e.id: e.name for e in desk.fingerprint.workspace.environments.values()}
    assert values and all(names[v].lower().startswith("marketing eu 000") for v in values)
    assert len(values) == sum(n.lower().startswith("marketing eu 000") for n in names.values())
    by_id = await desk.replicas[0].driver.suggest(ids.PICK_ENV, values[0][3:12], user=REQUESTER)
    assert values[0] in option_values(by_id)


async def test_a_bad_name_is_answered_next_to_its_field_and_nothing_is_stored(desk: Desk) -> None:
    driver = desk.replicas[0].driver
    await driver.command("envs rename", user=REQUESTER, channel=OPS)
    await form_of(desk, REQUESTER, form_callback(RenameEnv))
    staging = env_id(desk, "Staging")
    await driver.suggest(ids.PICK_ENV, "Staging", user=REQUESTER)

    response = await driver.submit_view(
        user=REQUESTER, values={ids.PICK_ENV: staging, "name": "xoxb-not-a-name-but-a-token"}
    )

    assert response.body["response_action"] == "errors"
    form = desk.slack.modal(REQUESTER)
    assert form is not None and "Slack token" in form.errors["name"]
    assert "xoxb" not in form.errors["name"]
    assert await desk.store.list_requests() == []


async def test_slack_itself_refuses_a_form_with_a_required_field_empty(desk: Desk) -> None:
    driver = desk.replicas[0].driver
    await driver.command("envs rename", user=REQUESTER, channel=OPS)
    await form_of(desk, REQUESTER, form_callback(RenameEnv))
    with pytest.raises(NotSubmittable) as refused:
        await driver.submit_view(user=REQUESTER, values={"name": "Stage EU"})
    assert "env" in refused.value.errors


async def test_a_submitted_form_makes_the_very_request_the_typed_command_makes(
    desk: Desk,
) -> None:
    driver = desk.replicas[0].driver
    staging = env_id(desk, "Staging")
    await driver.command("envs rename", user=REQUESTER, channel=OPS)
    await form_of(desk, REQUESTER, form_callback(RenameEnv))
    await driver.suggest(ids.PICK_ENV, "Staging", user=REQUESTER)
    response = await driver.submit_view(
        user=REQUESTER,
        values={ids.PICK_ENV: staging, "name": "Staging EU", "reason": "EU customers moved"},
    )
    assert response.status == 200 and response.body == ""
    assert desk.slack.modal(REQUESTER) is None, "the form closed"
    await desk.slack.wait_for(
        lambda: any("created" in everything(m) for m in desk.slack.ephemerals(REQUESTER)),
        WAIT,
        what="the receipt",
    )
    (from_form,) = await desk.store.list_requests()
    await desk.command(f"requests cancel {from_form.id}")

    typed_id = await desk.request('envs rename Staging "Staging EU" --reason EU customers moved')
    typed = await desk.get(typed_id)
    same = ("action", "params", "summary", "before", "after", "reason", "environment", "target")
    assert {k: getattr(typed, k) for k in same} == {k: getattr(from_form, k) for k in same}


async def test_the_picker_leads_to_the_form_of_the_change_chosen(desk: Desk) -> None:
    driver = desk.replicas[0].driver
    await driver.shortcut(ids.SHORTCUT, user=REQUESTER)
    picker = await form_of(desk, REQUESTER, ids.PICKER)
    await driver.choose(picker, ids.PICK_CHANGE, "RenameEnv", user=REQUESTER)
    await form_of(desk, REQUESTER, form_callback(RenameEnv))


async def test_a_row_menu_opens_the_form_with_the_row_already_picked(desk: Desk) -> None:
    driver = desk.replicas[0].driver
    staging = env_id(desk, "Staging")
    await driver.command("envs", user=REQUESTER, channel=OPS)
    await desk.slack.wait_for(
        lambda: any(staging in str(m.blocks) for m in desk.slack.channel_messages(OPS)),
        WAIT,
        what="the listing",
    )
    listing = next(m for m in desk.slack.channel_messages(OPS) if staging in str(m.blocks))
    await driver.choose(listing, ids.ROW_MENU, f"RenameEnv:{staging}", user=REQUESTER)

    form = await form_of(desk, REQUESTER, form_callback(RenameEnv))
    assert staging in str(form.view), "the environment is picked already"


async def test_a_viewer_gets_no_row_menus_and_no_change_forms(desk: Desk) -> None:
    await desk.replicas[0].driver.command("envs", user=VIEWER, channel=OPS)
    await desk.slack.wait_for(
        lambda: any("Environments (" in m.text for m in desk.slack.channel_messages(OPS)),
        WAIT,
        what="the listing",
    )
    listing = next(m for m in desk.slack.channel_messages(OPS) if "Environments (" in m.text)
    assert "overflow" not in str(listing.blocks)
    refusal = await desk.command("envs rename", user=VIEWER)
    assert "envs.update" in refusal
    assert desk.slack.modal(VIEWER) is None


# ── reasons ─────────────────────────────────────────────────────────────────────────────────


async def test_when_reasons_are_required_the_typed_command_and_the_form_both_ask(
    make_stack: StackFactory,
) -> None:
    policy = policy_yaml() + "  reason_required: true\n"
    async with make_stack(policy=policy, **FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        refusal = await desk.command("envs create QA Reasons")
        assert "--reason" in refusal
        assert await desk.store.list_requests() == []

        driver = desk.replicas[0].driver
        await driver.command("envs create", user=REQUESTER, channel=OPS)
        await form_of(desk, REQUESTER, "fp_form:CreateEnv")
        with pytest.raises(NotSubmittable) as refused:
            await driver.submit_view(user=REQUESTER, values={"name": "QA Reasons"})
        assert "reason" in refused.value.errors

        request_id = await desk.request("envs create QA Reasons --reason for the QA team")
        assert "for the QA team" in everything(desk.approval(request_id))


# ── withdrawal and duplicates ───────────────────────────────────────────────────────────────


async def test_the_requester_withdraws_from_the_receipt_and_nothing_runs(desk: Desk) -> None:
    request_id = await desk.request("envs create Taken Back")
    receipt = next(m for m in desk.slack.ephemerals(REQUESTER) if request_id in m.text)
    assert ids.CANCEL in button_ids(receipt)

    await desk.replicas[0].driver.click(receipt, ids.CANCEL, user=REQUESTER)
    await desk.slack.wait_for(
        lambda: "*Withdrawn* by" in status_of(desk.approval(request_id)),
        WAIT,
        what="the card saying withdrawn",
    )

    assert (await desk.get(request_id)).state is State.WITHDRAWN
    assert button_ids(desk.approval(request_id)) == []
    refusal = await desk.refused(request_id, user=APPROVER_1)
    assert "withdrawn" in refusal.lower()
    assert desk.fingerprint.count(method="POST", path="/environments") == 0


async def test_nobody_but_the_requester_may_withdraw(desk: Desk) -> None:
    request_id = await desk.request("envs create Not Yours")
    answer = await desk.command(f"requests cancel {request_id}", user=APPROVER_1)
    assert f"Only <@{REQUESTER}> can withdraw" in answer
    assert (await desk.get(request_id)).state is State.PENDING


async def test_the_same_change_asked_twice_points_to_the_pending_card(desk: Desk) -> None:
    first = await desk.request("envs rename Staging Stage EU")
    answer = await desk.command("envs rename Staging Another Name")
    assert first in answer and "/archives/C0APPROVALS/p" in answer
    assert len(await desk.store.list_requests()) == 1


# ── App Home ────────────────────────────────────────────────────────────────────────────────


async def home_of(desk: Desk, user: str, needle: str) -> RecordedView:
    await desk.replicas[0].driver.open_home(user=user)
    await desk.slack.wait_for(
        lambda: (view := desk.slack.home(user)) is not None and needle in str(view.view),
        WAIT,
        what=f"{user}'s Home tab showing {needle!r}",
    )
    home = desk.slack.home(user)
    assert home is not None
    return home


async def test_app_home_shows_an_approver_what_waits_and_approving_there_works(
    desk: Desk,
) -> None:
    request_id = await desk.request("envs create From The Home Tab")
    home = await home_of(desk, APPROVER_1, request_id)
    assert "Waiting for you (1)" in str(home.view)
    assert "API keys" in str(home.view) and "/10" in str(home.view)

    await desk.replicas[0].driver.click(home, ids.APPROVE, user=APPROVER_1, value=request_id)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED and done.approvers == {APPROVER_1}
    await desk.slack.wait_for(
        lambda: "Waiting for you (0)" in str(desk.slack.home(APPROVER_1).view),  # type: ignore[union-attr]
        WAIT,
        what="the Home tab refreshed after the decision",
    )


async def test_app_home_shows_a_requester_their_requests_with_withdraw(desk: Desk) -> None:
    request_id = await desk.request("envs create Mine To Withdraw")
    home = await home_of(desk, REQUESTER, request_id)
    assert "Your requests (1)" in str(home.view)
    assert "Waiting for you" not in str(home.view), "the requester approves nothing"

    await desk.replicas[0].driver.click(home, ids.CANCEL, user=REQUESTER, value=request_id)
    await desk.slack.wait_for(
        lambda: "*Withdrawn* by" in status_of(desk.approval(request_id)),
        WAIT,
        what="the withdrawal",
    )


# ── reminders and routes ────────────────────────────────────────────────────────────────────


async def test_reminders_mention_the_approvers_at_most_three_times_and_stop_at_a_decision(
    make_stack: StackFactory,
) -> None:
    policy = policy_yaml() + "  remind_after: 1h\n"
    async with make_stack(policy=policy, **FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        request_id = await desk.request("envs create Remind Me")
        for hours in range(1, 6):
            move_clock(desk.workflow, timedelta(hours=hours + 0.1))
            await desk.sweeper.sweep()
        reminders = [m for m in desk.thread(request_id) if "still needs" in m.text]
        assert len(reminders) == 3
        for reminder in reminders:
            assert f"<@{APPROVER_1}>" in reminder.text and f"<@{APPROVER_2}>" in reminder.text
            assert f"<@{REQUESTER}>" not in reminder.text
            for ping in ("<!channel>", "<!here>", "<!everyone>", "<!subteam"):
                assert ping not in reminder.text

        second_id = await desk.request("envs create Decided Before")
        move_clock(desk.workflow, timedelta(0))
        await desk.click(second_id, user=APPROVER_1)
        await desk.settled(second_id)
        move_clock(desk.workflow, timedelta(hours=2))
        await desk.sweeper.sweep()
        assert not [m for m in desk.thread(second_id) if "still needs" in m.text]


async def test_a_route_sends_production_changes_to_its_approvers_in_its_channel(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**FAST_SETTINGS) as probe:
        production = next(
            e.id
            for e in probe.fingerprint.workspace.environments.values()
            if e.name == "Production"
        )
    policy = policy_yaml().replace(
        "approvals:\n",
        "approvals:\n  routes:\n"
        f"    - environments: [{production}]\n"
        "      approvers: [U0APPROVER2]\n"
        "      required: 1\n"
        "      channel: C0ALERTS\n",
    )
    async with make_stack(policy=policy, **FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        answer = await desk.command(f"envs rename {production} Production EU")
        request = (await desk.store.list_requests())[0]
        assert request.id in answer and request.approval_channel == "C0ALERTS"
        card = next(m for m in desk.slack.channel_messages("C0ALERTS") if request.id in m.text)
        assert "Production" in everything(card)
        assert desk.approval_or_none(request.id) is None, "not in the general approvals channel"

        await desk.replicas[0].driver.click(card, ids.APPROVE, user=APPROVER_1)
        await desk.quiet()
        refusal = everything(desk.slack.ephemerals(APPROVER_1)[-1])
        assert "<@U0APPROVER2>" in refusal
        assert (await desk.get(request.id)).approvals == ()

        await desk.replicas[0].driver.click(card, ids.APPROVE, user=APPROVER_2)
        await desk.quiet()
        await desk.slack.wait_for(
            lambda: desk.fingerprint.workspace.environments[production].name == "Production EU",
            WAIT,
            what="the routed change to run",
        )


def everything_in(view: dict[str, Any]) -> str:
    return str(view)


_ = APPROVALS, PROD_APPROVALS
