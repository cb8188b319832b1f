"""What people read about the whole API: the new listings (Fingerprint's own samples among
their input), the card's rules before → after and rule-test preview, and a rotation's grace
period on its card."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain import ChangeRequest, GraceState, State
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    OriginRules,
    RuleAction,
    Status,
    Subdomain,
    Webhook,
)
from bot.render import (
    render_api_keys,
    render_change_request,
    render_environments,
    render_webhooks,
)
from bot.render.approvals import consequence
from bot.render.enckeys import render_encryption_keys
from bot.render.ids import END_GRACE, REVERT_ROTATION
from bot.render.rules import render_filtering_rules, render_origin_rules
from bot.render.subdomains import instructions, render_subdomains
from tests.fingerprint.fp_helpers import sample
from tests.render.render_checks import assert_within_limits, buttons, visible_text
from tests.render.test_render_listings import menus_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_fingerprints_own_2025_samples_render_without_their_tokens() -> None:
    [env] = [Environment.model_validate(e) for e in sample("environments-list-2025.json")["data"]]
    [key] = [ApiKey.model_validate(k) for k in sample("api-keys-list-2025.json")["data"]]
    envs = render_environments([env])
    keys = render_api_keys([key], {})
    subdomains = render_subdomains(
        [
            Subdomain.model_validate(s)
            for s in sample("list-page1-of-2-subdomains-2025.json")["data"]
        ]
    )
    assert_within_limits([*envs, *keys, *subdomains])
    assert "Production" in visible_text(envs) and "limit" not in visible_text(envs)
    assert "My Key" in visible_text(keys) and "pub_xxx" not in visible_text(keys)
    assert "metrics.example.com" in visible_text(subdomains)
    assert "pending" in visible_text(subdomains)


def test_expression_rules_are_listed_per_environment_in_evaluation_order() -> None:
    rules = [
        FilteringRule(id="tr_2", name="Second", environment="ae_1", expression="b", position=1),
        FilteringRule(
            id="tr_1",
            name="First",
            environment="ae_1",
            expression="a",
            action=RuleAction.DENY,
            position=0,
            status=Status.DISABLED,
        ),
        FilteringRule(id="tr_3", name="Other", environment="ae_2", expression="c", position=0),
    ]
    text = visible_text(render_filtering_rules(rules, {"ae_1": "Prod", "ae_2": "QA"}))
    assert text.index("First") < text.index("Second") < text.index("QA")
    assert "1. block `a` — First (disabled)" in text
    assert "3 of 15 rules" in text


def test_origin_lists_say_which_kind_of_list_each_environment_has() -> None:
    lists = [
        OriginRules(environment="ae_1", allow=["*"], deny=["https://evil.example"]),
        OriginRules(environment="ae_2", allow=["https://shop.example"], deny=["*"]),
        OriginRules(environment="ae_3"),
    ]
    text = visible_text(render_origin_rules(lists, {"ae_1": "Prod", "ae_2": "Shop", "ae_3": "QA"}))
    assert "Prod* (`ae_1`) denies `https://evil.example`" in text
    assert "Shop* (`ae_2`) allows only `https://shop.example`" in text
    assert "QA" not in text


def test_encryption_keys_are_listed_without_any_token() -> None:
    key = EncryptionKey(
        id="tok_enc",
        name="Prod key",
        environment="ae_1",
        status=Status.ENABLED,
        token="SECRET-current",
        next_token="SECRET-next",
        last_rotated_at=NOW,
    )
    text = visible_text(render_encryption_keys([key], {"ae_1": "Prod"}))
    assert "Prod key" in text and "rotated" in text and "SECRET" not in text


# ── the ⋯ menu on each row ─────────────────────────────────────────────────────────────────

ALL_CHANGES = frozenset(
    {"AddOrigin", "RemoveOrigin", "ChangeRule", "MoveRule", "RemoveRule"}
    | {"RotateEncKey", "RevertEncKey", "SetEncKeyStatus", "VerifySubdomain", "DeleteSubdomain"}
    | {"UpdateWebhook", "VerifyWebhook", "SetWebhookStatus", "DeleteWebhook"}
)


def test_each_expression_rule_row_offers_change_move_remove_and_headers_nothing() -> None:
    rules = [
        FilteringRule(id="tr_1", name="A", environment="ae_1", expression="a", position=0),
        FilteringRule(id="tr_2", name="B", environment="ae_2", expression="b", position=0),
    ]
    messages = render_filtering_rules(rules, {"ae_1": "Prod", "ae_2": "QA"}, menus=ALL_CHANGES)
    assert_within_limits(messages)
    assert menus_of(messages) == [
        [("Change", f"ChangeRule:{r}"), ("Move", f"MoveRule:{r}"), ("Remove", f"RemoveRule:{r}")]
        for r in ("tr_1", "tr_2")
    ]
    only_remove = render_filtering_rules(rules, {}, menus=frozenset({"RemoveRule"}))
    assert [m for menu in menus_of(only_remove) for m in menu] == [
        ("Remove", "RemoveRule:tr_1"),
        ("Remove", "RemoveRule:tr_2"),
    ]
    assert menus_of(render_filtering_rules(rules, {})) == []


def test_each_environments_origin_lists_offer_adding_and_removing_an_origin() -> None:
    lists = [OriginRules(environment="ae_1", allow=["*"], deny=["https://evil.example"])]
    (menu,) = menus_of(render_origin_rules(lists, {"ae_1": "Prod"}, menus=ALL_CHANGES))
    assert menu == [("Add an origin", "AddOrigin:ae_1"), ("Remove an origin", "RemoveOrigin:ae_1")]


def test_an_encryption_keys_row_offers_rotate_revert_and_the_other_status() -> None:
    keys = [
        EncryptionKey(id="tok_on", environment="ae_1", status=Status.ENABLED),
        EncryptionKey(id="tok_off", environment="ae_2", status=Status.DISABLED),
    ]
    on, off = menus_of(render_encryption_keys(keys, {"ae_1": "A", "ae_2": "B"}, menus=ALL_CHANGES))
    assert on == [
        ("Rotate", "RotateEncKey:tok_on"),
        ("Revert", "RevertEncKey:tok_on"),
        ("Disable", "SetEncKeyStatus:tok_on:disabled"),
    ]
    assert off[-1] == ("Enable", "SetEncKeyStatus:tok_off:enabled")


def test_a_subdomain_not_yet_active_offers_verify_an_active_one_only_delete() -> None:
    subdomains = [
        Subdomain.model_validate({"id": "c_1", "subdomain": "a.example.com", "status": "pending"}),
        Subdomain.model_validate({"id": "c_2", "subdomain": "b.example.com", "status": "active"}),
    ]
    pending, active = menus_of(render_subdomains(subdomains, menus=ALL_CHANGES))
    assert pending == [("Verify", "VerifySubdomain:c_1"), ("Delete", "DeleteSubdomain:c_1")]
    assert active == [("Delete", "DeleteSubdomain:c_2")]


def test_an_unverified_webhooks_row_offers_verify_and_every_row_change() -> None:
    hooks = [
        Webhook(id="wh_new", url="https://a.example", status=Status.ENABLED, verified=False),
        Webhook(id="wh_ok", url="https://b.example", status=Status.ENABLED, verified=True),
    ]
    new, ok = menus_of(render_webhooks(hooks, {}, menus=ALL_CHANGES))
    assert [label for label, _ in new] == ["Change", "Disable", "Verify", "Delete"]
    assert [label for label, _ in ok] == ["Change", "Disable", "Delete"]


def test_dns_instructions_say_what_to_create_and_what_to_do_next() -> None:
    subdomain = Subdomain.model_validate(
        {
            "id": "certv2_1",
            "subdomain": "metrics.example.com",
            "status": "pending",
            "dns_records": {
                "verification": {
                    "type": "CNAME",
                    "host": "_acme-challenge.metrics.example.com",
                    "value": "validation.fpjs.io",
                    "status": "validated",
                },
                "routing": [
                    {
                        "type": "A",
                        "host": "metrics.example.com",
                        "value": "1.2.3.4",
                        "status": "pending_validation",
                    }
                ],
            },
        }
    )
    text = instructions(subdomain)
    assert "`CNAME` `_acme-challenge.metrics.example.com` → `validation.fpjs.io`" in text
    assert "pending_validation" in text and "/fp subdomains verify certv2_1" in text


def _request(**changes: object) -> ChangeRequest:
    base = ChangeRequest(
        id="CR-RULES1",
        action="rules.create",
        params={
            "op": "add",
            "env_id": "ae_1",
            "test": {"request_id": "req_1", "now": "allowed: no rule matches", "after": "blocked"},
        },
        summary="Add rule *Block* (block) to environment *Prod*",
        requester="U0ALICE",
        channel_id="C0OPS",
        state=State.PENDING,
        required_approvals=1,
        created_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=23),
        before={"rules": ["1. allow `a` — Office"]},
        after={"rules": ["1. block `b` — Block", "2. allow `a` — Office"]},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_rule_change_card_shows_the_rules_before_and_after_and_the_test() -> None:
    message = render_change_request(_request(), now=NOW)
    assert_within_limits([message])
    text = visible_text([message])
    assert "*Rules now*\n1. allow `a` — Office" in text
    assert "*Rules after the change*\n1. block `b` — Block\n2. allow `a` — Office" in text
    assert "Rule test* of request `req_1`" in text
    assert "Now: allowed: no rule matches" in text and "After the change: blocked" in text


def _rotation(state: GraceState) -> ChangeRequest:
    return _request(
        id="CR-ROTAT1",
        action="keys.rotate",
        params={"key_id": "tok_old", "grace_seconds": 3600},
        summary="Rotate key",
        before=None,
        after=None,
        state=State.SUCCEEDED,
        result={"key_id": "tok_old", "replacement_id": "tok_new"},
        grace_ends_at=NOW + timedelta(hours=1),
        grace_state=state,
    )


def test_an_open_grace_offers_its_two_buttons_with_the_rotations_id() -> None:
    message = render_change_request(_rotation(GraceState.OPEN), now=NOW)
    found = {b["action_id"]: b["value"] for b in buttons(message)}
    assert found == {END_GRACE: "CR-ROTAT1", REVERT_ROTATION: "CR-ROTAT1"}
    assert "stays enabled until" in visible_text([message])


def test_a_closed_grace_says_how_it_ended_and_offers_nothing() -> None:
    for state, words in [
        (GraceState.ENDED, "Grace period ended"),
        (GraceState.FINISHED, "ended early"),
        (GraceState.REVERTED, "reverted"),
    ]:
        message = render_change_request(_rotation(state), now=NOW)
        assert buttons(message) == []
        assert words in visible_text([message])


def test_the_approve_confirmation_of_a_rotation_says_when_what_stops() -> None:
    assert "at once" not in (consequence("keys.rotate", {}) or "")
    assert "grace period ends" in (consequence("keys.rotate", {"grace_seconds": 60}) or "")
    assert "replacement key will be disabled" in (
        consequence("keys.rotate", {"op": "revert"}) or ""
    )
