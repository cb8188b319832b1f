"""The grammar and the policy of the whole API: filtering rules in both shapes, encryption
keys, subdomains, the fields nobody could set, rotation grace periods — every command typed
reads into one command or a usage error that says what was wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import commands as c
from bot.fingerprint.models import LimitMode, RuleAction, Status
from bot.policy import PolicyError, parse_policy

READS: list[tuple[str, c.Command]] = [
    ("rules", c.ListRules()),
    ("rules --env Production", c.ListRules("Production")),
    (
        "rules add ae_1 allow https://shop.example",
        c.AddOrigin("ae_1", RuleAction.ALLOW, "https://shop.example"),
    ),
    (
        "rules remove Staging deny *.scraper.example",
        c.RemoveOrigin("Staging", RuleAction.DENY, "*.scraper.example"),
    ),
    (
        "rules add ae_1 http.request.ip in cidr('192.0.2.0/24') --action allow --position 2",
        c.AddRule("ae_1", "http.request.ip in cidr('192.0.2.0/24')", RuleAction.ALLOW, 2),
    ),
    (
        'rules add QA sdk.platform.app_package_name == "com.example.qa" --test 17.aB --name QA app',
        c.AddRule(
            "QA", 'sdk.platform.app_package_name == "com.example.qa"', name="QA app", test="17.aB"
        ),
    ),
    ("rules change tr_1 --status disabled", c.ChangeRule("tr_1", status=Status.DISABLED)),
    ("rules change tr_1 http.user_agent.is_bot", c.ChangeRule("tr_1", "http.user_agent.is_bot")),
    ("rules move tr_1 1", c.MoveRule("tr_1", 1)),
    ("rules remove Deny crawlers", c.RemoveRule("Deny crawlers")),
    ("enckeys --status enabled", c.ListEncKeys(status=Status.ENABLED)),
    ("enckeys rotate ae_1 --grace 2h", c.RotateEncKey("ae_1", grace=timedelta(hours=2))),
    ("enckeys revert tok_1", c.RevertEncKey("tok_1")),
    ("enckeys disable Production", c.SetEncKeyStatus("Production", Status.DISABLED)),
    ("subdomains", c.ListSubdomains()),
    ("subdomains create Metrics.Example.com", c.CreateSubdomain("metrics.example.com")),
    ("subdomains verify certv2_1", c.VerifySubdomain("certv2_1")),
    ("subdomains delete metrics.example.com", c.DeleteSubdomain("metrics.example.com")),
    ("envs limit ae_1 restrict 1,000", c.SetEnvLimit("ae_1", LimitMode.RESTRICT, 1000)),
    ("envs limit ae_1 none", c.SetEnvLimit("ae_1", LimitMode.NONE)),
    ("keys rate-limit tok_1 0.5", c.SetKeyRateLimit("tok_1", 0.5)),
    ("keys describe tok_1 For the CMS", c.DescribeKey("tok_1", "For the CMS")),
    ("keys rotate tok_1 --grace 1d12h", c.RotateKey("tok_1", grace=timedelta(days=1, hours=12))),
    ("keys rotate tok_1 --grace 0", c.RotateKey("tok_1", grace=timedelta(0))),
    (
        "webhooks create https://h.example --status disabled",
        c.CreateWebhook("https://h.example", status=Status.DISABLED),
    ),
    ("webhooks update wh_1 --env QA", c.UpdateWebhook("wh_1", environment="QA")),
    ("webhooks verify wh_1", c.VerifyWebhook("wh_1")),
    ("rules add", c.OpenForm(c.AddRule)),
    ("enckeys rotate", c.OpenForm(c.RotateEncKey)),
]


@pytest.mark.parametrize(("text", "expected"), READS, ids=[t for t, _ in READS])
def test_each_new_command_reads_as_typed(text: str, expected: c.Command) -> None:
    assert c.parse(text) == expected


MISTAKES: list[tuple[str, str]] = [
    ("rules add ae_1 allow *", "is not an origin"),
    ("rules add ae_1 allow https://a.example --action allow", "is for expression rules"),
    ("rules add ae_1 x == 1 --action maybe", "not a rule action (block|allow)"),
    ("rules move tr_1 0", "position must be 1 to 1000"),
    ("rules change tr_1", "say what to change"),
    ("rules remove ae_1 both https://a.example", "a filtering rule id belongs here"),
    ("keys rotate tok_1 --grace soon", "not a duration"),
    ("keys rotate tok_1 --grace 31d", "at most 30d"),
    ("keys rate-limit tok_1 fast", "not a number of requests per second"),
    ("envs limit ae_1 notify", "needs the number of requests per month"),
    ("envs limit ae_1 none 5", "takes no number"),
    ("subdomains create localhost", "not a hostname"),
    ("subdomains verify wh_1", "not a hostname"),
    ("webhooks update wh_1", "say what to change"),
    ("enckeys rotate wh_1", "is a webhook id"),
]


@pytest.mark.parametrize(("text", "problem"), MISTAKES, ids=[t for t, _ in MISTAKES])
def test_each_mistake_is_a_usage_error_saying_what_was_wrong(text: str, problem: str) -> None:
    with pytest.raises(c.UsageError) as caught:
        c.parse(text)
    assert problem in caught.value.problem


def test_a_mistake_in_rules_add_shows_both_shapes_of_the_command() -> None:
    with pytest.raises(c.UsageError) as caught:
        c.parse("rules add ae_1 allow *")
    assert caught.value.usage.splitlines() == [c.AddOrigin.usage, c.AddRule.usage]


def test_each_version_only_command_names_its_version_and_has_a_twin_where_one_exists() -> None:
    assert c.needs_other_version(c.AddRule, c.API_2024) == c.API_2025
    assert c.needs_other_version(c.AddOrigin, c.API_2025) == c.API_2024
    assert c.needs_other_version(c.ListRules, c.API_2024) is None
    assert c.for_version(c.AddRule, c.API_2024) is c.AddOrigin
    assert c.for_version(c.RemoveOrigin, c.API_2025) is c.RemoveRule
    assert c.for_version(c.RotateEncKey, c.API_2024) is c.RotateEncKey


def test_every_new_change_has_a_form_whose_fields_are_the_commands() -> None:
    for change in c.FORMS:
        names = {f.name for f in c.FORMS[change]}
        assert names <= set(change.__dataclass_fields__), change


def test_a_form_left_with_its_optional_fields_empty_keeps_the_commands_defaults() -> None:
    made = c.from_form(c.AddRule, {"env": "ae_1", "expression": "http.request.ip == '1.2.3.4'"})
    assert made == c.AddRule("ae_1", "http.request.ip == '1.2.3.4'")
    assert made.action is RuleAction.DENY
    with pytest.raises(c.FormErrors) as caught:
        c.from_form(c.SetEnvLimit, {"env": "ae_1", "mode": "notify"})
    assert "value" in caught.value.problems


def test_the_policy_may_give_rotations_a_default_grace_period() -> None:
    base = "roles: {}\ngrants: {}\napprovals:\n  rotation_grace: "
    assert parse_policy(base + "24h").approvals.rotation_grace == timedelta(hours=24)
    assert parse_policy(base + "0").approvals.rotation_grace is None
    assert parse_policy("roles: {}\ngrants: {}\n").approvals.rotation_grace is None
    with pytest.raises(PolicyError) as caught:
        parse_policy(base + "60d")
    assert "rotation_grace is longer than 30d" in str(caught.value)
    with pytest.raises(PolicyError):
        parse_policy(base + "soon")
