"""What each kind of change does: plan (validate, before → after), execute (exactly the planned
API writes, secrets handed over or the new credential disabled), reconcile (decide after a
crash without running the change again).

Most tests use `FakeApi`, an in-memory account (`tests.changes.fakes`) that records every
write; a few at the end run the real client against the stand-in API over loopback.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot import commands
from bot.changes import actions
from bot.changes.actions import (
    Execution,
    ExecutionFailed,
    Plan,
    PlanError,
    Postponed,
    Reconciliation,
    SecretDelivery,
)
from bot.domain import ChangeRequest, State
from bot.fingerprint.client import ManagementClient
from bot.fingerprint.errors import (
    BudgetUnavailable,
    Conflict,
    FingerprintError,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
)
from bot.fingerprint.models import ApiKey, Environment, KeyType, Status
from bot.render import changes as say
from bot.render import render_change_request
from bot.render.errors import summary_of
from sandbox.fingerprint import FakeFingerprint, StandInServer
from tests.changes.fakes import NOW, FakeApi, Write, seeded


class Courier:
    """Stands in for the DM: records what it was handed, answers ``ok`` (or raises)."""

    def __init__(self, ok: bool = True, raises: bool = False) -> None:
        self.ok, self.raises = ok, raises
        self.delivered: list[SecretDelivery] = []

    async def __call__(self, delivery: SecretDelivery) -> bool:
        self.delivered.append(delivery)
        if self.raises:
            raise RuntimeError("Slack is down")
        return self.ok


def request_for(plan: Plan, *, executing_since: datetime | None = NOW) -> ChangeRequest:
    """The request as the store gives it back: params through JSON, state executing."""
    return ChangeRequest(
        id="CR-TEST01",
        action=plan.action,
        params=json.loads(json.dumps(plan.params)),
        summary=plan.summary,
        requester="U0REQUESTER",
        channel_id="C0OPS",
        state=State.EXECUTING,
        required_approvals=1,
        created_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=23),
        before=plan.before,
        after=plan.after,
        executing_since=executing_since,
    )


async def planned(api: actions.Client, command: commands.Command) -> ChangeRequest:
    return request_for(await actions.plan(api, command))


def assert_no_secret(thing: object, secrets: list[str]) -> None:
    """No secret in the object's repr, str or JSON form (dataclasses and exceptions alike)."""
    if isinstance(thing, BaseException):
        texts = [repr(thing), str(thing)]
        texts += [str(v) for v in vars(thing).values() if not isinstance(v, BaseException)]
    else:
        assert dataclasses.is_dataclass(thing) and not isinstance(thing, type)
        texts = [repr(thing), json.dumps(dataclasses.asdict(thing), default=str)]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# --- plan: refusals -----------------------------------------------------------------------

REFUSALS: list[tuple[str, commands.Command, str]] = [
    (
        "an unknown environment id is refused with its id",
        commands.RenameEnv("ae_nope", "Anything"),
        "No environment `ae_nope`.",
    ),
    (
        "renaming an environment to its current name is refused",
        commands.RenameEnv("ae_prod", "Production"),
        "Environment `ae_prod` is already named *Production*.",
    ),
    (
        "renaming to a name another environment uses (in any case) is refused",
        commands.RenameEnv("ae_prod", "staging"),
        "Environment *Staging* (`ae_stage`) already has that name.",
    ),
    (
        "creating an environment whose name is taken is refused",
        commands.CreateEnv("Production", None),
        "Environment *Production* (`ae_prod`) already has that name.",
    ),
    (
        "deleting an unknown environment is refused with its id",
        commands.DeleteEnv("ae_gone"),
        "No environment `ae_gone`.",
    ),
    (
        "deleting the default environment is refused",
        commands.DeleteEnv("ae_default"),
        "is the default environment",
    ),
    (
        "deleting an environment that still has enabled keys is refused, naming them",
        commands.DeleteEnv("ae_prod"),
        "still has 2 enabled API keys (`tok_pub`, `tok_sec`)",
    ),
    (
        "creating a key in an unknown environment is refused",
        commands.CreateKey(KeyType.SECRET, "Backend 2", "ae_nope"),
        "No environment `ae_nope`.",
    ),
    (
        "renaming an unknown key is refused with its id",
        commands.RenameKey("tok_nope", "Anything"),
        "No API key `tok_nope`.",
    ),
    (
        "renaming a key to its current name is refused",
        commands.RenameKey("tok_sec", "Backend"),
        "Key `tok_sec` is already named *Backend*.",
    ),
    (
        "enabling an enabled key is refused",
        commands.SetKeyStatus("tok_sec", Status.ENABLED),
        "secret key *Backend* (`tok_sec`) is already enabled.",
    ),
    (
        "disabling a disabled key is refused",
        commands.SetKeyStatus("tok_off", Status.DISABLED),
        "proxy key *Old proxy* (`tok_off`) is already disabled.",
    ),
    (
        "deleting an unknown key is refused with its id",
        commands.DeleteKey("tok_nope"),
        "No API key `tok_nope`.",
    ),
    (
        "rotating an unknown key is refused with its id",
        commands.RotateKey("tok_nope"),
        "No API key `tok_nope`.",
    ),
    (
        "rotating a disabled key is refused",
        commands.RotateKey("tok_off"),
        "is disabled, so nothing uses it",
    ),
    (
        "creating a webhook in an unknown environment is refused",
        commands.CreateWebhook("https://example.org/new", None, "ae_nope"),
        "No environment `ae_nope`.",
    ),
    (
        "a webhook URL another webhook already uses is refused",
        commands.CreateWebhook("https://example.com/hook", None, None),
        "Webhook `wh_1` already sends to https://example.com/hook.",
    ),
    (
        "a webhook URL that is not https is refused",
        commands.CreateWebhook("http://example.org/new", None, None),
        "must start with `https://`",
    ),
    (
        "enabling an enabled webhook is refused",
        commands.SetWebhookStatus("wh_1", Status.ENABLED),
        "is already enabled.",
    ),
    (
        "disabling an unknown webhook is refused with its id",
        commands.SetWebhookStatus("wh_nope", Status.DISABLED),
        "No webhook `wh_nope`.",
    ),
    (
        "deleting an unknown webhook is refused with its id",
        commands.DeleteWebhook("wh_nope"),
        "No webhook `wh_nope`.",
    ),
    (
        "a command that changes nothing is not a change request",
        commands.ListEnvs(),
        "does not change the account",
    ),
]


@pytest.mark.parametrize(
    ("sentence", "command", "expected"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
async def test_plan_refuses(sentence: str, command: commands.Command, expected: str) -> None:
    api = seeded()
    with pytest.raises(PlanError) as refused:
        await actions.plan(api, command)
    assert expected in refused.value.message
    assert api.writes == []


async def test_an_environment_without_enabled_keys_may_be_deleted() -> None:
    api = seeded()
    plan = await actions.plan(api, commands.DeleteEnv("ae_stage"))  # its only key is disabled
    assert plan.destructive


async def test_renaming_an_environment_only_changes_its_case_is_allowed() -> None:
    plan = await actions.plan(seeded(), commands.RenameEnv("ae_prod", "PRODUCTION"))
    assert plan.after == {"name": "PRODUCTION"}


# --- plan: what the approval message will show -----------------------------------------------

PLANS: list[tuple[str, commands.Command, dict[str, Any]]] = [
    (
        "creating an environment shows its name and description after",
        commands.CreateEnv("QA", "For testers"),
        {
            "action": "envs.create",
            "params": {"name": "QA", "description": "For testers"},
            "summary": "Create environment *QA*",
            "before": None,
            "after": {"name": "QA", "description": "For testers"},
            "destructive": False,
            "environment": None,
            "target": "environment-name:qa",
        },
    ),
    (
        "renaming an environment shows the old and new names",
        commands.RenameEnv("ae_stage", "Staging EU"),
        {
            "action": "envs.update",
            "params": {"env_id": "ae_stage", "name": "Staging EU"},
            "summary": "Rename environment *Staging* (`ae_stage`) to *Staging EU*",
            "before": {"name": "Staging"},
            "after": {"name": "Staging EU"},
            "destructive": False,
            "environment": "ae_stage",
            "target": "environment:ae_stage:name",
        },
    ),
    (
        "deleting an environment is destructive and has no after",
        commands.DeleteEnv("ae_stage"),
        {
            "action": "envs.delete",
            "params": {"env_id": "ae_stage"},
            "summary": "Delete environment *Staging* (`ae_stage`)",
            "before": {"name": "Staging", "description": None},
            "after": None,
            "destructive": True,
            "environment": "ae_stage",
            "target": "environment:ae_stage",
        },
    ),
    (
        "creating a key names its environment",
        commands.CreateKey(KeyType.SECRET, "Backend 2", "ae_prod"),
        {
            "action": "keys.create",
            "params": {"type": "secret", "name": "Backend 2", "environment": "ae_prod"},
            "summary": "Create secret key *Backend 2* in *Production* (`ae_prod`)",
            "before": None,
            "after": {
                "name": "Backend 2",
                "type": "secret",
                "status": "enabled",
                "environment": "Production",
            },
            "destructive": False,
            "environment": "ae_prod",
            "target": "key-name:ae_prod:secret:backend 2",
        },
    ),
    (
        "a public key without an environment goes to the default one",
        commands.CreateKey(KeyType.PUBLIC, "Landing page", None),
        {
            "action": "keys.create",
            "params": {"type": "public", "name": "Landing page", "environment": None},
            "summary": "Create public key *Landing page* in the default environment",
            "before": None,
            "after": {
                "name": "Landing page",
                "type": "public",
                "status": "enabled",
                "environment": "default environment",
            },
            "destructive": False,
            "environment": None,
            "target": "key-name:default:public:landing page",
        },
    ),
    (
        "renaming a key shows the old and new names",
        commands.RenameKey("tok_sec", "Backend EU"),
        {
            "action": "keys.update",
            "params": {"key_id": "tok_sec", "name": "Backend EU"},
            "summary": "Rename secret key *Backend* (`tok_sec`) to *Backend EU*",
            "before": {"name": "Backend"},
            "after": {"name": "Backend EU"},
            "destructive": False,
            "environment": "ae_prod",
            "target": "key:tok_sec:name",
        },
    ),
    (
        "disabling a key is destructive and shows the status change",
        commands.SetKeyStatus("tok_pub", Status.DISABLED),
        {
            "action": "keys.update",
            "params": {"key_id": "tok_pub", "status": "disabled"},
            "summary": "Disable public key *Website* (`tok_pub`)",
            "before": {"name": "Website", "status": "enabled"},
            "after": {"name": "Website", "status": "disabled"},
            "destructive": True,
            "environment": "ae_prod",
            "target": "key:tok_pub:status",
        },
    ),
    (
        "enabling a key is not destructive",
        commands.SetKeyStatus("tok_off", Status.ENABLED),
        {
            "action": "keys.update",
            "params": {"key_id": "tok_off", "status": "enabled"},
            "summary": "Enable proxy key *Old proxy* (`tok_off`)",
            "before": {"name": "Old proxy", "status": "disabled"},
            "after": {"name": "Old proxy", "status": "enabled"},
            "destructive": False,
            "environment": "ae_stage",
            "target": "key:tok_off:status",
        },
    ),
    (
        "deleting a key shows what it was",
        commands.DeleteKey("tok_pub"),
        {
            "action": "keys.delete",
            "params": {"key_id": "tok_pub"},
            "summary": "Delete public key *Website* (`tok_pub`)",
            "before": {
                "name": "Website",
                "type": "public",
                "status": "enabled",
                "environment": "Production",
            },
            "after": None,
            "destructive": True,
            "environment": "ae_prod",
            "target": "key:tok_pub",
        },
    ),
    (
        "rotating a key records its type and environment and ends with it disabled",
        commands.RotateKey("tok_sec"),
        {
            "action": "keys.rotate",
            "params": {
                "key_id": "tok_sec",
                "type": "secret",
                "name": "Backend",
                "environment": "ae_prod",
            },
            "summary": (
                "Rotate secret key *Backend* (`tok_sec`): create a replacement secret key in "
                "the same environment, then disable this one"
            ),
            "before": {
                "name": "Backend",
                "type": "secret",
                "status": "enabled",
                "environment": "Production",
            },
            "after": {
                "name": "Backend",
                "type": "secret",
                "status": "disabled",
                "environment": "Production",
                "replaced by": "new secret key",
            },
            "destructive": True,
            "environment": "ae_prod",
            "target": "key:tok_sec",
        },
    ),
    (
        "creating a webhook names its URL and environment",
        commands.CreateWebhook("https://example.org/new", "Fraud alerts", "ae_stage"),
        {
            "action": "webhooks.create",
            "params": {
                "url": "https://example.org/new",
                "description": "Fraud alerts",
                "environment": "ae_stage",
            },
            "summary": "Create a webhook to https://example.org/new in *Staging* (`ae_stage`)",
            "before": None,
            "after": {
                "url": "https://example.org/new",
                "description": "Fraud alerts",
                "status": "enabled",
                "environment": "Staging",
            },
            "destructive": False,
            "environment": "ae_stage",
            "target": "webhook-url:https://example.org/new",
        },
    ),
    (
        "disabling a webhook is destructive",
        commands.SetWebhookStatus("wh_1", Status.DISABLED),
        {
            "action": "webhooks.update",
            "params": {"webhook_id": "wh_1", "status": "disabled"},
            "summary": "Disable webhook `wh_1` to https://example.com/hook",
            "before": {"url": "https://example.com/hook", "status": "enabled"},
            "after": {"url": "https://example.com/hook", "status": "disabled"},
            "destructive": True,
            "environment": "ae_prod",
            "target": "webhook:wh_1:status",
        },
    ),
    (
        "deleting a webhook shows what it was",
        commands.DeleteWebhook("wh_1"),
        {
            "action": "webhooks.delete",
            "params": {"webhook_id": "wh_1"},
            "summary": "Delete webhook `wh_1` to https://example.com/hook",
            "before": {
                "url": "https://example.com/hook",
                "description": None,
                "status": "enabled",
                "environment": "Production",
            },
            "after": None,
            "destructive": True,
            "environment": "ae_prod",
            "target": "webhook:wh_1",
        },
    ),
]


@pytest.mark.parametrize(("sentence", "command", "expected"), PLANS, ids=[r[0] for r in PLANS])
async def test_plan_records_before_and_after(
    sentence: str, command: commands.Command, expected: dict[str, Any]
) -> None:
    api = seeded()
    plan = await actions.plan(api, command)
    assert dataclasses.asdict(plan) == expected
    assert json.loads(json.dumps(plan.params)) == plan.params  # JSON-safe, as the store needs
    assert api.writes == []


@pytest.mark.parametrize(("sentence", "command", "expected"), PLANS, ids=[p[0] for p in PLANS])
async def test_the_approve_button_asks_for_confirmation_exactly_when_the_plan_is_destructive(
    sentence: str, command: commands.Command, expected: dict[str, Any]
) -> None:
    plan = await actions.plan(seeded(), command)
    pending = dataclasses.replace(request_for(plan), state=State.PENDING)
    message = render_change_request(pending, now=NOW)
    (approve,) = [
        element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "approve_request"
    ]
    assert ("confirm" in approve) is plan.destructive is expected["destructive"]


async def test_user_strings_in_a_summary_escape_only_ampersand_and_angle_brackets() -> None:
    plan = await actions.plan(seeded(), commands.CreateEnv('R&D <EU> "Bob\'s"', None))
    assert plan.summary == 'Create environment *R&amp;D &lt;EU&gt; "Bob\'s"*'
    assert plan.params["name"] == 'R&D <EU> "Bob\'s"'  # the API gets the name as typed


async def test_every_sentence_about_a_change_escapes_a_name_exactly_once() -> None:
    # Summaries, messages and failures are mrkdwn the renderers show as they are: the name is
    # escaped here, once, and a backtick in it cannot end a code span early.
    name = 'R&D <ops> "Bob\'s"'
    once = 'R&amp;D &lt;ops&gt; "Bob\'s"'
    api = seeded()
    request = await planned(api, commands.CreateEnv(name, None))
    assert request.summary == f"Create environment *{once}*"
    execution = await actions.execute(api, request, Courier())
    assert execution.message.startswith(f"Created environment *{once}* (`")
    verdict = await actions.reconcile(api, request)
    assert f"*{once}*" in verdict.message

    api = seeded()
    request = await planned(api, commands.CreateEnv(name, None))
    api.fail("create_environment", Conflict("taken", status=409, code="name<&>taken"))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert failed.value.message == (
        f"Creating environment *{once}* failed: {summary_of(Conflict)} (name&lt;&amp;&gt;taken)."
    )
    for text in (request.summary, execution.message, verdict.message, failed.value.message):
        assert "&amp;amp;" not in text and "&amp;lt;" not in text

    with pytest.raises(actions.PlanError) as refused:
        await actions.plan(seeded(), commands.DeleteKey("tok_a`b"))
    assert str(refused.value) == "No API key `tok_a\u02cbb`."


def test_every_change_permission_has_exactly_one_action() -> None:
    changes = {c.permission for c in commands.COMMANDS if c.makes_change}
    assert set(actions.ACTIONS) == changes
    assert all(action.permission == name for name, action in actions.ACTIONS.items())


# --- execute: exactly the planned writes ------------------------------------------------------

EXECUTIONS: list[tuple[str, commands.Command, list[Write], str]] = [
    (
        "creating an environment posts it once",
        commands.CreateEnv("QA", "For testers"),
        [("create_environment", None, {"name": "QA", "description": "For testers"})],
        "Created environment *QA* (`ae_new1`).",
    ),
    (
        "renaming an environment updates its name only",
        commands.RenameEnv("ae_stage", "Staging EU"),
        [("update_environment", "ae_stage", {"name": "Staging EU"})],
        "Renamed environment `ae_stage` from *Staging* to *Staging EU*.",
    ),
    (
        "deleting an environment deletes it",
        commands.DeleteEnv("ae_stage"),
        [("delete_environment", "ae_stage", {})],
        "Deleted environment *Staging* (`ae_stage`).",
    ),
    (
        "creating a public key creates it and needs no delivery",
        commands.CreateKey(KeyType.PUBLIC, "Landing page", "ae_stage"),
        [
            (
                "create_api_key",
                None,
                {"type": KeyType.PUBLIC, "name": "Landing page", "environment": "ae_stage"},
            )
        ],
        "Created public key *Landing page* (`tok_new1`).",
    ),
    (
        "renaming a key patches its name only",
        commands.RenameKey("tok_sec", "Backend EU"),
        [("update_api_key", "tok_sec", {"name": "Backend EU"})],
        "Renamed key `tok_sec` from *Backend* to *Backend EU*.",
    ),
    (
        "disabling a key patches its status only",
        commands.SetKeyStatus("tok_sec", Status.DISABLED),
        [("update_api_key", "tok_sec", {"status": Status.DISABLED})],
        "Disabled secret key *Backend* (`tok_sec`).",
    ),
    (
        "enabling a key patches its status only",
        commands.SetKeyStatus("tok_off", Status.ENABLED),
        [("update_api_key", "tok_off", {"status": Status.ENABLED})],
        "Enabled proxy key *Old proxy* (`tok_off`).",
    ),
    (
        "deleting a key deletes it",
        commands.DeleteKey("tok_pub"),
        [("delete_api_key", "tok_pub", {})],
        "Deleted key *Website* (`tok_pub`).",
    ),
    (
        "rotating a public key creates the replacement, then disables the old key",
        commands.RotateKey("tok_pub"),
        [
            (
                "create_api_key",
                None,
                {
                    "type": KeyType.PUBLIC,
                    "name": "Website (rotated 2026-11-28)",
                    "environment": "ae_prod",
                },
            ),
            ("update_api_key", "tok_pub", {"status": Status.DISABLED}),
        ],
        "Rotated key `tok_pub`: replacement *Website (rotated 2026-11-28)* (`tok_new1`) "
        "was created; the old key `tok_pub` is disabled.",
    ),
    (
        "disabling a webhook patches its status only",
        commands.SetWebhookStatus("wh_1", Status.DISABLED),
        [("update_webhook", "wh_1", {"status": Status.DISABLED})],
        "Disabled webhook `wh_1` to https://example.com/hook.",
    ),
    (
        "deleting a webhook deletes it",
        commands.DeleteWebhook("wh_1"),
        [("delete_webhook", "wh_1", {})],
        "Deleted webhook `wh_1`.",
    ),
]


@pytest.mark.parametrize(
    ("sentence", "command", "writes", "message"), EXECUTIONS, ids=[r[0] for r in EXECUTIONS]
)
async def test_execute_makes_exactly_the_planned_writes(
    sentence: str, command: commands.Command, writes: list[Write], message: str
) -> None:
    api = seeded()
    request = await planned(api, command)
    courier = Courier()
    execution = await actions.execute(api, request, courier)
    assert api.writes == writes
    assert execution.message == message
    assert courier.delivered == []
    json.dumps(execution.result)


@pytest.mark.parametrize(
    ("key_type", "kind"),
    [(KeyType.SECRET, "secret key token"), (KeyType.PROXY, "proxy key token")],
)
async def test_a_created_secret_or_proxy_key_token_goes_to_the_requester_once(
    key_type: KeyType, kind: str
) -> None:
    api = seeded()
    request = await planned(api, commands.CreateKey(key_type, "Server", "ae_prod"))
    courier = Courier()
    execution = await actions.execute(api, request, courier)
    assert [(d.kind, d.resource_name, d.resource_id) for d in courier.delivered] == [
        (kind, "Server", "tok_new1")
    ]
    assert courier.delivered[0].secret == api.secrets[0]
    assert execution.result == {
        "key_id": "tok_new1",
        "name": "Server",
        "type": str(key_type),
        "environment": "ae_prod",
    }
    assert "sent to you by direct message" in execution.message
    assert api.writes == [
        ("create_api_key", None, {"type": key_type, "name": "Server", "environment": "ae_prod"})
    ]
    assert_no_secret(execution, api.secrets)


async def test_a_public_key_token_is_not_delivered_nor_kept_in_the_result() -> None:
    api = seeded()
    request = await planned(api, commands.CreateKey(KeyType.PUBLIC, "Landing page", None))
    execution = await actions.execute(api, request, Courier())
    assert "TOPSECRET" not in repr(execution) + json.dumps(execution.result)


@pytest.mark.parametrize(
    "courier", [Courier(ok=False), Courier(raises=True)], ids=["false", "raises"]
)
async def test_a_failed_secret_delivery_disables_the_new_key(courier: Courier) -> None:
    api = seeded()
    request = await planned(api, commands.CreateKey(KeyType.SECRET, "Server", None))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, courier)
    assert api.writes[1:] == [("update_api_key", "tok_new1", {"status": Status.DISABLED})]
    assert api.keys["tok_new1"].status is Status.DISABLED
    assert "could not be delivered" in failed.value.message
    assert "an unreachable secret is useless" in failed.value.message
    assert failed.value.state_of_account == "`tok_new1` exists and is disabled."
    assert_no_secret(failed.value, api.secrets)


async def test_a_secret_key_created_without_a_token_is_disabled_too() -> None:
    api = seeded()
    api.omit_secrets = True
    request = await planned(api, commands.CreateKey(KeyType.SECRET, "Server", None))
    courier = Courier()
    with pytest.raises(ExecutionFailed):
        await actions.execute(api, request, courier)
    assert courier.delivered == []
    assert api.keys["tok_new1"].status is Status.DISABLED


async def test_when_disabling_an_undelivered_key_fails_the_live_key_is_reported() -> None:
    api = seeded()
    request = await planned(api, commands.CreateKey(KeyType.SECRET, "Server", None))
    api.fail("update_api_key", ServerError("boom", status=500), target="tok_new1")
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier(ok=False))
    assert failed.value.state_of_account == (
        "`tok_new1` is enabled but nobody has its token — delete it by hand or run "
        "`/fp keys delete tok_new1`."
    )
    assert isinstance(failed.value.cause, ServerError)


async def test_a_created_webhook_signing_key_goes_to_the_requester() -> None:
    api = seeded()
    request = await planned(api, commands.CreateWebhook("https://example.org/new", None, None))
    courier = Courier()
    execution = await actions.execute(api, request, courier)
    assert [(d.kind, d.resource_id) for d in courier.delivered] == [
        ("webhook signing key", "wh_new1")
    ]
    assert execution.result == {"webhook_id": "wh_new1", "url": "https://example.org/new"}
    assert api.writes == [("create_webhook", None, {"url": "https://example.org/new"})]
    assert_no_secret(execution, api.secrets)


async def test_a_failed_signing_key_delivery_disables_the_new_webhook() -> None:
    api = seeded()
    request = await planned(api, commands.CreateWebhook("https://example.org/new", None, None))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier(ok=False))
    assert api.writes[1:] == [("update_webhook", "wh_new1", {"status": Status.DISABLED})]
    assert failed.value.state_of_account == "Webhook `wh_new1` exists and is disabled."
    assert_no_secret(failed.value, api.secrets)


async def test_a_write_fingerprint_refuses_says_nothing_changed() -> None:
    api = seeded()
    request = await planned(api, commands.RenameEnv("ae_stage", "Staging EU"))
    api.fail("update_environment", Conflict("name taken", status=409, code="general.conflict"))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert failed.value.state_of_account == "Nothing changed."
    assert failed.value.error_code == "general.conflict"
    assert "Renaming environment `ae_stage` failed" in failed.value.message


@pytest.mark.parametrize(
    "error",
    [Timeout("no answer"), ServerError("boom", status=500), TransportError("reset")],
    ids=["timeout", "500", "reset"],
)
async def test_an_unanswered_write_is_tried_once_and_said_to_be_uncertain(
    error: FingerprintError,
) -> None:
    api = seeded()
    request = await planned(api, commands.DeleteKey("tok_pub"))
    api.fail("delete_api_key", error)
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert api.writes == [("delete_api_key", "tok_pub", {})]  # never retried by fpbot
    assert "may or may not have been applied" in failed.value.state_of_account


async def test_an_unknown_action_fails_without_touching_the_account() -> None:
    api = seeded()
    request = dataclasses.replace(
        await planned(api, commands.DeleteKey("tok_pub")), action="keys.explode"
    )
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert failed.value.state_of_account == "Nothing changed."
    assert api.writes == []


# --- execute: key rotation and its three failure points --------------------------------------


async def test_rotating_a_secret_key_delivers_the_replacement_before_disabling_the_old() -> None:
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_sec"))
    order: list[str] = []

    async def courier(delivery: SecretDelivery) -> bool:
        order.append(f"delivered {delivery.resource_id}, old key {api.keys['tok_sec'].status}")
        return True

    execution = await actions.execute(api, request, courier)
    assert order == ["delivered tok_new1, old key enabled"]
    assert api.writes == [
        (
            "create_api_key",
            None,
            {
                "type": KeyType.SECRET,
                "name": "Backend (rotated 2026-11-28)",
                "environment": "ae_prod",
            },
        ),
        ("update_api_key", "tok_sec", {"status": Status.DISABLED}),
    ]
    assert execution.message == (
        "Rotated key `tok_sec`: replacement *Backend (rotated 2026-11-28)* (`tok_new1`) was "
        "created and its token sent to you by direct message; the old key `tok_sec` is disabled."
    )
    assert execution.result == {
        "key_id": "tok_sec",
        "replacement_id": "tok_new1",
        "replacement_name": "Backend (rotated 2026-11-28)",
    }
    assert_no_secret(execution, api.secrets)


async def test_rotation_whose_replacement_cannot_be_created_changes_nothing() -> None:
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_sec"))
    api.fail("create_api_key", Conflict("plan limit", status=409, code="general.conflict"))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert failed.value.message.startswith("Creating the replacement of `tok_sec` failed")
    assert failed.value.state_of_account == "Nothing changed: the old key `tok_sec` is untouched."
    assert [w[0] for w in api.writes] == ["create_api_key"]


async def test_rotation_whose_token_cannot_be_delivered_disables_the_replacement_only() -> None:
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_sec"))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier(ok=False))
    assert api.writes[1:] == [("update_api_key", "tok_new1", {"status": Status.DISABLED})]
    assert api.keys["tok_sec"].status is Status.ENABLED
    assert "The token of the replacement `tok_new1` could not be delivered" in (
        failed.value.message
    )
    assert failed.value.state_of_account == (
        "`tok_new1` exists and is disabled. The old key `tok_sec` is untouched."
    )
    assert_no_secret(failed.value, api.secrets)


async def test_rotation_whose_old_key_cannot_be_disabled_says_both_keys_are_active() -> None:
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_sec"))
    api.fail("update_api_key", Conflict("nope", status=409), target="tok_sec")
    courier = Courier()
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, courier)
    assert len(courier.delivered) == 1
    assert failed.value.message.startswith(
        "Replacement `tok_new1` was created and delivered, but disabling the old key "
        "`tok_sec` failed"
    )
    assert failed.value.state_of_account == (
        "Both keys are active — disable `tok_sec` by hand or run `/fp keys disable tok_sec`."
    )
    assert_no_secret(failed.value, api.secrets)


def test_a_replacement_name_is_trimmed_to_255_characters() -> None:
    name = actions.rotation_name("x" * 255, date(2026, 11, 28))
    assert len(name) == 255
    assert name.endswith("x (rotated 2026-11-28)")


# --- reconcile: after a crash, both outcomes for every action --------------------------------


async def applied(api: FakeApi, command: commands.Command) -> ChangeRequest:
    """Plan and run the change, as if fpbot died right after it (before recording it)."""
    request = await planned(api, command)
    await actions.execute(api, request, Courier())
    api.writes.clear()
    return request


RECONCILE_CASES: list[tuple[str, commands.Command, str]] = [
    ("an environment created", commands.CreateEnv("QA", None), "Created environment *QA*"),
    (
        "an environment renamed",
        commands.RenameEnv("ae_stage", "Staging EU"),
        "Renamed environment `ae_stage` to *Staging EU*.",
    ),
    ("an environment deleted", commands.DeleteEnv("ae_stage"), "Deleted environment *Staging*"),
    (
        "a public key created",
        commands.CreateKey(KeyType.PUBLIC, "Landing page", "ae_stage"),
        "Created public key *Landing page* (`tok_new1`).",
    ),
    ("a key renamed", commands.RenameKey("tok_sec", "Backend EU"), "Renamed key `tok_sec`"),
    (
        "a key disabled",
        commands.SetKeyStatus("tok_sec", Status.DISABLED),
        "Key *Backend* (`tok_sec`) is disabled.",
    ),
    ("a key deleted", commands.DeleteKey("tok_pub"), "Deleted key *Website* (`tok_pub`)."),
    (
        "a key rotated",
        commands.RotateKey("tok_sec"),
        "replacement *Backend (rotated 2026-11-28)* (`tok_new1`) is in place",
    ),
    (
        "a webhook disabled",
        commands.SetWebhookStatus("wh_1", Status.DISABLED),
        "Webhook `wh_1` is disabled.",
    ),
    ("a webhook deleted", commands.DeleteWebhook("wh_1"), "Deleted webhook `wh_1`."),
]


@pytest.mark.parametrize(
    ("sentence", "command", "message"), RECONCILE_CASES, ids=[r[0] for r in RECONCILE_CASES]
)
async def test_reconcile_finds_a_change_that_reached_fingerprint(
    sentence: str, command: commands.Command, message: str
) -> None:
    api = seeded()
    request = await applied(api, command)
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.SUCCEEDED
    assert message in outcome.message
    assert api.writes == []


@pytest.mark.parametrize(
    ("sentence", "command"),
    [(s, c) for s, c, _ in RECONCILE_CASES]
    + [
        ("a secret key created", commands.CreateKey(KeyType.SECRET, "Server", None)),
        ("a webhook created", commands.CreateWebhook("https://example.org/new", None, None)),
    ],
    ids=[s for s, _, _ in RECONCILE_CASES] + ["a secret key created", "a webhook created"],
)
async def test_reconcile_without_a_trace_says_nothing_changed(
    sentence: str, command: commands.Command
) -> None:
    api = seeded()
    request = await planned(api, command)
    outcome = await actions.reconcile(api, request)
    assert outcome == Reconciliation(State.FAILED, say.NEVER_REACHED, untouched=True)
    assert api.writes == []


@pytest.mark.parametrize(
    "key_type", [KeyType.SECRET, KeyType.PROXY], ids=["secret key", "proxy key"]
)
async def test_reconcile_disables_a_created_key_whose_token_may_be_lost(key_type: KeyType) -> None:
    api = seeded()
    request = await applied(api, commands.CreateKey(key_type, "Server", "ae_prod"))
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.FAILED
    assert outcome.message == (
        f"The {key_type} key *Server* (`tok_new1`) was created, but fpbot stopped before it "
        "could be sure its token reached you; it has been disabled — request a new one."
    )
    assert api.writes == [("update_api_key", "tok_new1", {"status": Status.DISABLED})]
    assert_no_secret(outcome, api.secrets)


async def test_reconcile_disables_a_created_webhook_whose_signing_key_may_be_lost() -> None:
    api = seeded()
    request = await applied(api, commands.CreateWebhook("https://example.org/new", None, None))
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.FAILED
    assert "it has been disabled — request a new one" in outcome.message
    assert api.writes == [("update_webhook", "wh_new1", {"status": Status.DISABLED})]


async def test_reconcile_ignores_a_same_named_key_made_before_the_request_ran() -> None:
    api = seeded()
    request = await planned(api, commands.CreateKey(KeyType.SECRET, "Backend", "ae_prod"))
    outcome = await actions.reconcile(api, request)  # tok_sec "Backend" is 30 days old
    assert outcome.state is State.FAILED
    assert api.writes == []


async def test_reconcile_of_a_rename_whose_environment_is_gone_fails() -> None:
    api = seeded()
    request = await planned(api, commands.RenameEnv("ae_stage", "Staging EU"))
    del api.envs["ae_stage"]
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.FAILED
    assert "no longer exists" in outcome.message


async def test_reconcile_of_a_rotation_stopped_after_creating_the_replacement() -> None:
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_sec"))
    api.fail("update_api_key", ServerError("crash stand-in", status=500), target="tok_sec")
    with pytest.raises(ExecutionFailed):
        await actions.execute(api, request, Courier())
    api.writes.clear()
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.FAILED
    assert "it has been disabled and the old key `tok_sec` is still active" in outcome.message
    assert api.writes == [("update_api_key", "tok_new1", {"status": Status.DISABLED})]
    assert api.keys["tok_sec"].status is Status.ENABLED


async def test_reconcile_of_a_public_rotation_stopped_halfway_leaves_both_keys_and_says_so() -> (
    None
):
    api = seeded()
    request = await planned(api, commands.RotateKey("tok_pub"))
    api.fail("update_api_key", ServerError("crash stand-in", status=500), target="tok_pub")
    with pytest.raises(ExecutionFailed):
        await actions.execute(api, request, Courier())
    api.writes.clear()
    outcome = await actions.reconcile(api, request)
    assert outcome.state is State.FAILED
    assert "both keys are active — disable `tok_pub` by hand" in outcome.message
    assert api.writes == []


async def test_reconcile_uses_the_request_time_when_execution_start_was_not_recorded() -> None:
    api = seeded()
    plan = await actions.plan(api, commands.CreateEnv("QA", None))
    request = request_for(plan, executing_since=None)
    await actions.execute(api, request, Courier())
    assert (await actions.reconcile(api, request)).state is State.SUCCEEDED


async def test_reconcile_raises_when_fingerprint_cannot_be_reached() -> None:
    api = seeded()
    request = await planned(api, commands.RenameEnv("ae_stage", "Staging EU"))
    api.fail("list_environments", TransportError("connection refused"))
    with pytest.raises(TransportError):
        await actions.reconcile(api, request)


# --- no secret anywhere -----------------------------------------------------------------------


async def test_no_secret_reaches_a_plan_an_execution_a_failure_or_a_reconciliation() -> None:
    """Every object the three steps return, in every path that handles a secret."""
    api = seeded()
    seen: list[object] = []
    delivered: list[commands.Command] = [
        commands.CreateKey(KeyType.SECRET, "Server", None),
        commands.CreateKey(KeyType.PROXY, "Edge", "ae_stage"),
        commands.CreateWebhook("https://example.org/new", None, None),
        commands.RotateKey("tok_sec"),
    ]
    undelivered: list[commands.Command] = [
        commands.CreateKey(KeyType.SECRET, "Server 2", None),
        commands.CreateWebhook("https://example.org/other", None, None),
    ]
    for command in delivered:
        plan = await actions.plan(api, command)
        seen.append(plan)
        request = request_for(plan)
        seen.append(await actions.execute(api, request, Courier()))
        seen.append(await actions.reconcile(api, request))
    for command in undelivered:
        request = await planned(api, command)
        with pytest.raises(ExecutionFailed) as failed:
            await actions.execute(api, request, Courier(ok=False))
        seen.append(failed.value)
    assert len(api.secrets) == 6
    for thing in seen:
        assert isinstance(thing, Plan | Execution | Reconciliation | ExecutionFailed)
        assert_no_secret(thing, api.secrets)


def test_a_secret_delivery_does_not_show_its_secret_in_its_repr() -> None:
    delivery = SecretDelivery("secret key token", "Server", "tok_1", "TOPSECRET-abc")
    assert "TOPSECRET" not in repr(delivery)


# --- loopback: the real client against the stand-in API ----------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[tuple[StandInServer, ManagementClient]]:
    fake = FakeFingerprint(environments=32, rate_limit=1000, burst=1000)
    async with StandInServer(fake) as api:
        client = ManagementClient(
            api_key=api.key, base_url=api.url, rate_limit=1000, cache_ttl=0, retry_budget=1
        )
        try:
            yield api, client
        finally:
            await client.aclose()


async def _key_named(client: ManagementClient, name: str) -> ApiKey:
    return next(k for k in await client.list_api_keys() if k.name == name)


def _started_now(request: ChangeRequest) -> ChangeRequest:
    """The stand-in stamps resources with the real clock, so execution starts now."""
    return dataclasses.replace(request, executing_since=datetime.now(UTC))


async def test_loopback_an_environment_rename_is_one_post_and_reconciles_as_done(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    api, client = standin
    staging = next(e for e in await client.list_environments() if e.name == "Staging")
    request = request_for(await actions.plan(client, commands.RenameEnv(staging.id, "Staging EU")))
    api.fake.clear_requests()
    await actions.execute(client, request, Courier())
    assert api.fake.count(method="POST") == 1
    assert api.fake.count(method="POST", path=f"/environments/{staging.id}") == 1
    assert (await actions.reconcile(client, request)).state is State.SUCCEEDED


async def test_loopback_a_create_that_gets_a_500_is_sent_once_an_update_is_retried(
    standin: tuple[StandInServer, ManagementClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the module docstring promises: fpbot repeats no write; the client retries only
    the idempotent updates after a 5xx, never a create or a delete."""
    api, client = standin
    envs = await client.list_environments()
    staging = next(e for e in envs if e.name == "Staging")
    create = request_for(await actions.plan(client, commands.CreateEnv("QA 500", None)))
    rename = request_for(await actions.plan(client, commands.RenameEnv(staging.id, "Staging 5")))

    async def listing_read_before_the_fault() -> list[Environment]:
        return envs

    # The name check reads the listing first; only the writes are to meet the 500s here.
    monkeypatch.setattr(client, "list_environments", listing_read_before_the_fault)
    api.fake.faults.error_rate, api.fake.faults.error_status = 1.0, 500
    api.fake.clear_requests()
    with pytest.raises(ExecutionFailed) as created:
        await actions.execute(client, create, Courier())
    assert api.fake.count(method="POST", path="/environments") == 1
    assert "may or may not have been applied" in created.value.state_of_account
    with pytest.raises(ExecutionFailed):
        await actions.execute(client, rename, Courier())
    assert api.fake.count(method="POST", path=f"/environments/{staging.id}") > 1


async def test_loopback_a_create_whose_name_check_fails_sends_nothing_and_says_so(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    api, client = standin
    create = request_for(await actions.plan(client, commands.CreateEnv("QA 500", None)))
    api.fake.faults.error_rate, api.fake.faults.error_status = 1.0, 500
    api.fake.clear_requests()
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(client, create, Courier())
    assert api.fake.count(method="POST") == 0
    assert failed.value.state_of_account == say.NOTHING_CHANGED
    assert not failed.value.uncertain


async def test_loopback_rotating_a_secret_key_delivers_the_token_and_disables_the_old_key(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    api, client = standin
    old = await _key_named(client, "Backend events")
    plan = await actions.plan(client, commands.RotateKey(old.id))
    request = _started_now(request_for(plan))
    courier = Courier()
    api.fake.clear_requests()
    execution = await actions.execute(client, request, courier)
    assert api.fake.count(method="POST", path="/api-keys") == 1
    assert api.fake.count(method="PATCH", path=f"/api-keys/{old.id}") == 1
    assert api.fake.count(method="DELETE") == 0
    (delivery,) = courier.delivered
    assert delivery.kind == "secret key token" and delivery.secret
    new = await client.get_api_key(execution.result["replacement_id"])
    assert (new.type, new.environment, new.status) == (KeyType.SECRET, old.environment, "enabled")
    assert (await client.get_api_key(old.id)).status is Status.DISABLED
    assert_no_secret(execution, [delivery.secret])
    assert (await actions.reconcile(client, request)).state is State.SUCCEEDED


async def test_loopback_an_undelivered_secret_key_ends_up_disabled(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    _api, client = standin
    request = _started_now(
        await planned(client, commands.CreateKey(KeyType.SECRET, "Nightly export", None))
    )
    courier = Courier(ok=False)
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(client, request, courier)
    assert (await _key_named(client, "Nightly export")).status is Status.DISABLED
    assert_no_secret(failed.value, [courier.delivered[0].secret])


async def test_loopback_deleting_the_default_environment_is_refused_by_fingerprint_unchanged(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    """The API has no "default" flag, so only Fingerprint can say; fpbot reports its answer."""
    _api, client = standin
    production = next(e for e in await client.list_environments() if e.name == "Production")
    for key in await client.list_api_keys(environment=production.id, status=Status.ENABLED):
        await client.update_api_key(key.id, status=Status.DISABLED)
    request = await planned(client, commands.DeleteEnv(production.id))
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(client, request, Courier())
    assert isinstance(failed.value.cause, Conflict)
    assert failed.value.state_of_account == "Nothing changed."
    assert any(e.id == production.id for e in await client.list_environments())


async def test_loopback_reconcile_disables_a_secret_key_created_before_a_crash(
    standin: tuple[StandInServer, ManagementClient],
) -> None:
    _api, client = standin
    request = _started_now(
        await planned(client, commands.CreateKey(KeyType.PROXY, "Edge proxy", None))
    )
    await client.create_api_key(type=KeyType.PROXY, name="Edge proxy")  # then fpbot died
    outcome = await actions.reconcile(client, request)
    assert outcome.state is State.FAILED
    assert (await _key_named(client, "Edge proxy")).status is Status.DISABLED


# ── names for ids, collisions, held-back writes, lost answers ───────────────────────────────


@pytest.mark.parametrize(
    ("command", "param", "expected"),
    [
        (commands.RenameEnv("Staging", "Stage EU"), "env_id", "ae_stage"),
        (commands.DeleteEnv("staging"), "env_id", "ae_stage"),
        (commands.RotateKey("Backend"), "key_id", "tok_sec"),
        (commands.SetKeyStatus("website", Status.DISABLED), "key_id", "tok_pub"),
        (commands.CreateKey(KeyType.PUBLIC, "Shop", "Production"), "environment", "ae_prod"),
        (commands.CreateWebhook("https://e.org/x", None, "Staging"), "environment", "ae_stage"),
    ],
    ids=["env by name", "env by name in any case", "key by name", "key in any case",
         "a key's environment by name", "a webhook's environment by name"],
)  # fmt: skip
async def test_a_name_stands_for_the_id_it_names(
    command: commands.Command, param: str, expected: str
) -> None:
    plan = await actions.plan(seeded(), command)
    assert plan.params[param] == expected


async def test_a_name_two_keys_share_is_refused_listing_both_ids() -> None:
    api = seeded()
    api.keys["tok_twin"] = api.keys["tok_pub"].model_copy(update={"id": "tok_twin"})
    with pytest.raises(PlanError) as refused:
        await actions.plan(api, commands.DeleteKey("Website"))
    assert "names 2 keys" in refused.value.message
    assert "`tok_pub`" in refused.value.message and "`tok_twin`" in refused.value.message
    assert api.writes == []


async def test_an_exact_name_wins_over_one_that_differs_only_in_case() -> None:
    api = seeded()
    api.keys["tok_lower"] = api.keys["tok_pub"].model_copy(
        update={"id": "tok_lower", "name": "website"}
    )
    plan = await actions.plan(api, commands.DeleteKey("website"))
    assert plan.params["key_id"] == "tok_lower"


async def test_a_name_nothing_has_is_refused_saying_so() -> None:
    with pytest.raises(PlanError) as refused:
        await actions.plan(seeded(), commands.DeleteEnv("Nowhere"))
    assert refused.value.message == "No environment is named “Nowhere”."


async def test_a_name_taken_between_request_and_approval_stops_the_create_unwritten() -> None:
    api = seeded()
    request = request_for(await actions.plan(api, commands.CreateEnv("QA")))
    api.envs["ae_qa"] = Environment(id="ae_qa", name="qa", created_at=NOW)
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, Courier())
    assert "took that name" in failed.value.message
    assert failed.value.state_of_account == say.NOTHING_CHANGED
    assert api.writes == []


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("slow down", status=429, code="general.too-many-requests"),
        BudgetUnavailable("redis is down"),
    ],
    ids=["a 429 after the client's retries", "the shared rate budget unreachable"],
)
async def test_a_write_held_back_before_reaching_fingerprint_is_postponed_not_failed(
    error: FingerprintError,
) -> None:
    api = seeded()
    request = request_for(await actions.plan(api, commands.RenameEnv("ae_stage", "Stage EU")))
    api.fail("update_environment", error)
    with pytest.raises(Postponed):
        await actions.execute(api, request, Courier())
    assert api.envs["ae_stage"].name == "Staging"


async def test_a_secret_key_whose_create_answer_was_lost_is_found_and_disabled() -> None:
    api = seeded()
    request = request_for(await actions.plan(api, commands.CreateKey(KeyType.SECRET, "Billing")))
    create = api.create_api_key

    async def created_but_unanswered(**fields: Any) -> ApiKey:
        await create(**fields)
        raise Timeout("no answer", status=None, code="transport.timeout")

    api.create_api_key = created_but_unanswered  # type: ignore[method-assign]
    courier = Courier()
    with pytest.raises(ExecutionFailed) as failed:
        await actions.execute(api, request, courier)
    (made,) = [k for k in api.keys.values() if k.name == "Billing"]
    assert made.status is Status.DISABLED
    assert courier.delivered == []
    assert "did create" in failed.value.message
    assert failed.value.state_of_account == say.key_exists_disabled(made.id, "")


async def test_a_public_key_whose_create_answer_was_lost_is_simply_there() -> None:
    api = seeded()
    request = request_for(await actions.plan(api, commands.CreateKey(KeyType.PUBLIC, "Shop")))
    create = api.create_api_key

    async def created_but_unanswered(**fields: Any) -> ApiKey:
        await create(**fields)
        raise Timeout("no answer", status=None, code="transport.timeout")

    api.create_api_key = created_but_unanswered  # type: ignore[method-assign]
    execution = await actions.execute(api, request, Courier())
    (made,) = [k for k in api.keys.values() if k.name == "Shop"]
    assert made.status is Status.ENABLED
    assert execution.result["key_id"] == made.id
