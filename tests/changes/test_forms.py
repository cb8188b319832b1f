"""Forms against the in-memory fakes: who gets which form, what their menus offer, what a
submission is checked against, and the Deny that asks why."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import commands as cmd
from bot.forms import Forms
from bot.policy import Actor, actor_of
from bot.ports import Origin
from bot.render import ids
from bot.render.forms import form_callback
from tests.changes.fakes import FakeApi
from tests.changes.world import ALICE, REQUESTER, VIEWER, World


def forms_of(world: World) -> Forms:
    return Forms(
        policy=world.policy,
        groups=world.groups,
        client=world.api,
        store=world.store,
        slack=world.slack,
        changes=world.workflow,
    )


def origin(user: str, *, trigger: str | None = "T.1") -> Origin:
    return Origin(user, "C0OPS", None, f"fpb-{user.lower()}", trigger_id=trigger)


async def actor(world: World, user: str) -> Actor:
    return await actor_of(world.policy, world.groups, user)


async def test_a_change_typed_bare_opens_its_form_with_the_trigger() -> None:
    world = World()
    forms = forms_of(world)
    await forms.open(cmd.OpenForm(cmd.RenameEnv), await actor(world, REQUESTER), origin(REQUESTER))
    ((trigger, view),) = world.slack.forms
    assert trigger == "T.1" and view["callback_id"] == form_callback(cmd.RenameEnv)


async def test_someone_who_may_not_ask_gets_the_refusal_not_a_form() -> None:
    world = World()
    forms = forms_of(world)
    await forms.open(cmd.OpenForm(cmd.DeleteEnv), await actor(world, VIEWER), origin(VIEWER))
    assert world.slack.forms == []
    (refusal,) = world.slack.answered(VIEWER)
    assert "`envs.delete`" in refusal


async def test_the_picker_offers_only_the_changes_the_person_may_ask_for() -> None:
    world = World()
    forms = forms_of(world)
    await forms.open(cmd.NewRequest(), await actor(world, REQUESTER), origin(REQUESTER))
    ((_, picker),) = world.slack.forms
    offered = [o["value"] for o in picker["blocks"][1]["elements"][0]["options"]]
    # Every change of the areas the operator holds (envs, keys, webhooks), in the API version
    # the account speaks; rules, encryption keys and subdomains are not the operator's here.
    expected = [
        c.__name__
        for c in cmd.FORMS
        if str(c.permission).split(".")[0] in {"envs", "keys", "webhooks"}
        and cmd.needs_other_version(c, world.api.api_version) is None
        and c is not cmd.RevertKeyRotation
    ]
    assert "RenameEnv" in offered and "RotateKey" in offered
    assert sorted(offered) == sorted(expected)


async def test_menus_find_by_name_or_id_in_any_case() -> None:
    world = World()
    forms = forms_of(world)
    by_name = await forms.options(ids.PICK_ENV, "STAG")
    assert [o["value"] for o in by_name] == ["ae_stage"]
    by_id = await forms.options(ids.PICK_KEY, "tok_s")
    assert [o["value"] for o in by_id] == ["tok_sec"]
    assert await forms.options("no_such_menu", "x") == []


async def test_a_menu_offers_at_most_a_hundred_options() -> None:
    world = World()
    for i in range(150):
        env = world.api.envs["ae_stage"].model_copy(update={"id": f"ae_{i:03d}", "name": f"QA {i}"})
        world.api.envs[env.id] = env
    assert len(await forms_of(world).options(ids.PICK_ENV, "qa")) == 100


async def test_a_menu_whose_account_is_too_slow_answers_empty_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()

    async def stuck(self: FakeApi) -> list[Any]:
        await asyncio.sleep(60)
        return []

    monkeypatch.setattr(FakeApi, "list_environments", stuck)
    monkeypatch.setattr("bot.forms.OPTIONS_WITHIN", 0.05)
    assert await forms_of(world).options(ids.PICK_ENV, "any") == []


async def test_a_submission_naming_something_gone_is_answered_by_field() -> None:
    world = World()
    command, problems = await forms_of(world).check(
        form_callback(cmd.RenameEnv), {"env": "ae_gone", "name": "Stage EU"}
    )
    assert command is None and set(problems) == {"env"}


async def test_a_valid_submission_is_the_typed_command() -> None:
    world = World()
    command, problems = await forms_of(world).check(
        form_callback(cmd.RenameEnv), {"env": "ae_stage", "name": "Stage EU", "reason": "EU"}
    )
    assert problems == {} and command == cmd.parse("envs rename ae_stage Stage EU --reason EU")


async def test_submitting_makes_the_request_and_answers_with_the_receipt() -> None:
    world = World()
    await forms_of(world).submit(cmd.RenameEnv("ae_stage", "Stage EU"), origin(REQUESTER))
    (request,) = world.store.requests.values()
    (receipt,) = world.slack.answered(REQUESTER)
    assert request.id in receipt and "created" in receipt


async def test_a_deny_opens_the_form_asking_why_and_its_submission_denies() -> None:
    world = World()
    request = await world.ask(cmd.CreateEnv("QA"))
    forms = forms_of(world)
    await forms.open_deny(request.id, origin(ALICE))
    ((_, view),) = world.slack.forms
    assert view["callback_id"] == ids.DENY_FORM and request.id in str(view)
    assert forms.check_deny("x" * 501) == {
        "reason": "The reason is 501 characters long; at most 500."
    }
    await forms.deny(request.id, "  not now  ", origin(ALICE))
    denied = world.store.requests[request.id]
    assert denied.state.value == "denied" and denied.decision_note == "not now"


async def test_a_deny_someone_may_not_make_is_refused_without_a_form() -> None:
    world = World()
    request = await world.ask(cmd.CreateEnv("QA"))
    await forms_of(world).open_deny(request.id, origin(VIEWER))
    assert world.slack.forms == []
    (refusal,) = world.slack.answered(VIEWER)
    assert "requests.approve" in refusal


async def test_a_row_menu_opens_the_form_with_its_row_picked() -> None:
    world = World()
    await forms_of(world).row_menu("SetKeyStatus:tok_pub:disabled", origin(REQUESTER))
    ((_, view),) = world.slack.forms
    assert view["callback_id"] == form_callback(cmd.SetKeyStatus)
    assert "tok_pub" in str(view) and "'disabled'" in str(view)


async def test_a_form_that_fails_inside_fpbot_answers_with_a_correlation_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(world.groups, "groups_of", broken)
    await forms_of(world).shortcut(origin(REQUESTER))
    (answer,) = world.slack.answered(REQUESTER)
    assert "fpb-u0requester" in answer
