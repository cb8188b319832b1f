"""The policy file and the one decision function: who may do what, and where."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from bot import commands as c
from bot.policy import (
    PERMISSIONS,
    Action,
    Actor,
    Decision,
    Policy,
    PolicyError,
    Reason,
    decide,
    load_policy,
    parse_policy,
    permissions_of,
    required_approvals,
    roles_of,
)
from bot.render.replies import denial

SAMPLE = Path(__file__).resolve().parents[2] / "sandbox" / "fpbot.yml"

POLICY = parse_policy(
    dedent(
        """\
        roles:
          viewer:   [envs.list, keys.list, webhooks.list]
          operator: [envs.*, keys.*, webhooks.*]
          approver: [requests.approve]
          auditor:  [audit.read]
          admin:    ["*"]
          nothing:  []
        grants:
          U0ALICE: [viewer, operator]
          U0VIEW:  [viewer]
          W0ENTERPRISE: [auditor]
          S0LEADS: [approver]
          U0ROOT:  [admin]
          U0EMPTY: [nothing]
        channels:
          commands: [C0OPS, G0PRIVATE]
          approvals: C0APPROVALS
          notifications: C0ALERTS
        approvals:
          required: 1
          required_for: {envs.delete: 2, keys.*: 3, keys.rotate: 1}
          allow_self_approval: false
          expires_after: 24h
        """
    )
)
OPEN = parse_policy("roles: {viewer: [envs.list]}\ngrants: {U0VIEW: [viewer]}\n")

ALICE = Actor("U0ALICE")
VIEWER = Actor("U0VIEW")
STRANGER = Actor("U0NOBODY")
LEAD = Actor("U0LEAD", frozenset({"S0LEADS"}))

DECISIONS: list[tuple[str, Policy, Actor, Action | str | None, str | None, Decision]] = [
    (
        "an unknown user is denied everything",
        POLICY,
        STRANGER,
        c.ListEnvs(),
        "C0OPS",
        Decision(False, Reason.UNKNOWN_USER, "envs.list"),
    ),
    (
        "an unknown user is denied the requests listing too",
        POLICY,
        STRANGER,
        c.ListRequests(),
        "C0OPS",
        Decision(False, Reason.UNKNOWN_USER, None),
    ),
    (
        "an unknown user may still ask for help, to learn how to get access",
        POLICY,
        STRANGER,
        c.Help(),
        "C0OPS",
        Decision(True, Reason.NOT_NEEDED, None),
    ),
    (
        "a role without permissions denies like no role, but the user is known",
        POLICY,
        Actor("U0EMPTY"),
        c.ListEnvs(),
        "C0OPS",
        Decision(False, Reason.MISSING_PERMISSION, "envs.list"),
    ),
    (
        "a granted permission allows",
        POLICY,
        VIEWER,
        c.ListKeys(),
        "C0OPS",
        Decision(True, Reason.GRANTED, "keys.list"),
    ),
    (
        "a permission not granted is refused",
        POLICY,
        VIEWER,
        c.DeleteEnv("ae_1"),
        "C0OPS",
        Decision(False, Reason.MISSING_PERMISSION, "envs.delete"),
    ),
    (
        "a wildcard grants every envs permission",
        POLICY,
        ALICE,
        c.DeleteEnv("ae_1"),
        "C0OPS",
        Decision(True, Reason.GRANTED, "envs.delete"),
    ),
    (
        "an area wildcard grants nothing outside its area",
        POLICY,
        ALICE,
        c.Audit(),
        "C0OPS",
        Decision(False, Reason.MISSING_PERMISSION, "audit.read"),
    ),
    (
        "the star grants everything",
        POLICY,
        Actor("U0ROOT"),
        "requests.approve",
        None,
        Decision(True, Reason.GRANTED, "requests.approve"),
    ),
    (
        "a user-group grant applies to its members",
        POLICY,
        LEAD,
        "requests.approve",
        None,
        Decision(True, Reason.GRANTED, "requests.approve"),
    ),
    (
        "a user-group grant does not apply to non-members",
        POLICY,
        VIEWER,
        "requests.approve",
        None,
        Decision(False, Reason.MISSING_PERMISSION, "requests.approve"),
    ),
    (
        "a W… enterprise user id is granted like a U… one",
        POLICY,
        Actor("W0ENTERPRISE"),
        c.Audit(5),
        "C0OPS",
        Decision(True, Reason.GRANTED, "audit.read"),
    ),
    (
        "help and whoami work outside the command channels",
        POLICY,
        VIEWER,
        c.WhoAmI(),
        "C0RANDOM",
        Decision(True, Reason.NOT_NEEDED, None),
    ),
    (
        "help works outside the command channels",
        POLICY,
        VIEWER,
        c.Help("keys"),
        "D0DM",
        Decision(True, Reason.NOT_NEEDED, None),
    ),
    (
        "a listing outside the command channels is refused",
        POLICY,
        VIEWER,
        c.ListEnvs(),
        "C0RANDOM",
        Decision(False, Reason.CHANNEL_NOT_ALLOWED, "envs.list", frozenset({"C0OPS", "G0PRIVATE"})),
    ),
    (
        "the requests listing works in any channel, where approvers are",
        POLICY,
        VIEWER,
        c.ListRequests(),
        "C0RANDOM",
        Decision(True, Reason.NOT_NEEDED, None),
    ),
    (
        "a private channel on the allowlist is allowed",
        POLICY,
        VIEWER,
        c.ListEnvs(),
        "G0PRIVATE",
        Decision(True, Reason.GRANTED, "envs.list"),
    ),
    (
        "the requests listing needs no permission in a command channel",
        POLICY,
        VIEWER,
        c.ListRequests(),
        "C0OPS",
        Decision(True, Reason.NOT_NEEDED, None),
    ),
    (
        "without a channels section every channel is allowed",
        OPEN,
        VIEWER,
        c.ListEnvs(),
        "C0ANYWHERE",
        Decision(True, Reason.GRANTED, "envs.list"),
    ),
    (
        "a command class (help's dry run) is judged like an instance",
        POLICY,
        VIEWER,
        c.CreateKey,
        "C0OPS",
        Decision(False, Reason.MISSING_PERMISSION, "keys.create"),
    ),
    (
        "a bare permission string is channel-guarded by default",
        POLICY,
        VIEWER,
        "envs.list",
        "C0RANDOM",
        Decision(False, Reason.CHANNEL_NOT_ALLOWED, "envs.list", frozenset({"C0OPS", "G0PRIVATE"})),
    ),
    (
        "without a channel (a button click) the allowlist does not apply",
        POLICY,
        VIEWER,
        "envs.list",
        None,
        Decision(True, Reason.GRANTED, "envs.list"),
    ),
]


@pytest.mark.parametrize(
    ("policy", "actor", "action", "channel", "expected"),
    [row[1:] for row in DECISIONS],
    ids=[row[0] for row in DECISIONS],
)
def test_decide(
    policy: Policy,
    actor: Actor,
    action: Action | str | None,
    channel: str | None,
    expected: Decision,
) -> None:
    assert decide(policy, actor, action, channel) == expected


def test_a_bare_permission_may_be_declared_unguarded() -> None:
    decision = decide(POLICY, VIEWER, "envs.list", "C0RANDOM", command_is_channel_guarded=False)
    assert decision.allowed


def test_the_command_class_wins_over_the_callers_flag() -> None:
    decision = decide(POLICY, VIEWER, c.ListEnvs(), "C0RANDOM", command_is_channel_guarded=False)
    assert decision.reason is Reason.CHANNEL_NOT_ALLOWED


def test_an_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"envs\.destroy"):
        decide(POLICY, ALICE, "envs.destroy")


def test_refusals_explain_themselves() -> None:
    missing = decide(POLICY, VIEWER, c.DeleteEnv("ae_1"), "C0OPS")
    assert "`envs.delete`" in denial(missing)
    channel = decide(POLICY, VIEWER, c.ListEnvs(), "C0RANDOM")
    assert "<#C0OPS>" in denial(channel) and "<#G0PRIVATE>" in denial(channel)
    assert "no fpbot roles" in denial(decide(POLICY, STRANGER, c.ListEnvs()))
    for reason in Reason:
        assert denial(Decision(False, reason, None))


def test_roles_and_permissions_combine_direct_and_group_grants() -> None:
    alice_lead = Actor("U0ALICE", frozenset({"S0LEADS", "S0UNKNOWN"}))
    assert roles_of(POLICY, alice_lead) == {"viewer", "operator", "approver"}
    areas = ("envs.", "keys.", "webhooks.", "requests.")
    assert permissions_of(POLICY, alice_lead) == {p for p in PERMISSIONS if p.startswith(areas)}
    assert permissions_of(POLICY, Actor("U0ROOT")) == PERMISSIONS
    assert permissions_of(POLICY, STRANGER) == frozenset()


APPROVALS = [
    ("an exact rule wins", "envs.delete", 2),
    ("an exact rule wins over an area wildcard", "keys.rotate", 1),
    ("an area wildcard applies to its area", "keys.delete", 3),
    ("otherwise the default applies", "envs.create", 1),
]


@pytest.mark.parametrize(
    ("permission", "expected"), [r[1:] for r in APPROVALS], ids=[r[0] for r in APPROVALS]
)
def test_required_approvals(permission: str, expected: int) -> None:
    assert required_approvals(POLICY, permission) == expected


def test_a_star_rule_applies_to_every_change() -> None:
    policy = parse_policy(
        "roles: {}\ngrants: {}\napprovals: {required: 1, required_for: {'*': 2}}\n"
    )
    assert required_approvals(policy, "webhooks.create") == 2


def test_the_sandbox_policy_loads_with_its_personas() -> None:
    policy = load_policy(SAMPLE)
    approver = Actor("U0APPROVER1", frozenset({"S0APPROVERS"}))
    assert roles_of(policy, approver) == {"approver", "viewer"}
    assert roles_of(policy, Actor("U0OPERATOR")) == {"viewer", "operator"}
    assert roles_of(policy, Actor("U0AUDITOR")) == {"auditor", "viewer"}
    assert roles_of(policy, Actor("U0VIEWER")) == {"viewer"}
    assert policy.group_ids == {"S0APPROVERS"}
    assert policy.channels.commands == {"C0OPS"}
    assert (policy.channels.approvals, policy.channels.notifications) == (
        "C0APPROVALS",
        "C0ALERTS",
    )
    assert policy.approvals.required == 1
    assert dict(policy.approvals.required_for) == {"envs.delete": 2, "keys.delete": 2}
    assert policy.approvals.allow_self_approval is False
    assert policy.approvals.expires_after == timedelta(hours=24)


DURATIONS = [
    ("30m", timedelta(minutes=30)),
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("1h30m", timedelta(hours=1, minutes=30)),
]


@pytest.mark.parametrize(("text", "expected"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_expires_after_forms(text: str, expected: timedelta) -> None:
    policy = parse_policy(f"roles: {{}}\ngrants: {{}}\napprovals:\n  expires_after: {text}\n")
    assert policy.approvals.expires_after == expected


def test_omitted_sections_take_safe_defaults() -> None:
    assert OPEN.channels.commands == frozenset()
    assert OPEN.approvals.required == 1
    assert OPEN.approvals.allow_self_approval is False
    assert OPEN.approvals.expires_after == timedelta(hours=24)


# ---------------------------------------------------------------------------------------------
# Malformed policies: each names its line and its problem

GOOD = """\
roles:
  viewer: [envs.list]
grants:
  U0ALICE: [viewer]
channels:
  commands: [C0OPS]
  approvals: C0APPROVALS
approvals:
  required: 1
  expires_after: 24h
"""

MALFORMED = [
    (
        "an unknown permission",
        GOOD.replace("[envs.list]", "[envs.list, envs.destroy]"),
        2,
        "unknown permission envs.destroy",
    ),
    (
        "a wildcard over an unknown area",
        GOOD.replace("[envs.list]", "[billing.*]"),
        2,
        "unknown permission billing.*",
    ),
    (
        "a grant to an unknown role",
        GOOD.replace("U0ALICE: [viewer]", "U0ALICE: [viewer, wizard]"),
        4,
        "role wizard, which is not defined",
    ),
    (
        "a malformed user id",
        GOOD.replace("U0ALICE", "alice"),
        4,
        "“alice” is not a Slack id",
    ),
    (
        "a channel id among the grants",
        GOOD.replace("U0ALICE", "C0ALICE"),
        4,
        "not a user or a user group",
    ),
    (
        "a user id as a command channel",
        GOOD.replace("[C0OPS]", "[C0OPS, U0ALICE]"),
        6,
        "“U0ALICE” is not a channel",
    ),
    (
        "a malformed approvals channel",
        GOOD.replace("approvals: C0APPROVALS", "approvals: '#approvals'"),
        7,
        "not a Slack id",
    ),
    ("an unknown top-level key", GOOD + "owners: [U0BOB]\n", 11, "unknown top-level key owners"),
    (
        "an unknown key in approvals",
        GOOD.replace("  required: 1", "  required: 1\n  quorum: 2"),
        10,
        "unknown key quorum in approvals",
    ),
    (
        "an unknown key in channels",
        GOOD.replace("  approvals: C0APPROVALS", "  alerts: C0X"),
        7,
        "unknown key alerts in channels",
    ),
    (
        "a bad duration",
        GOOD.replace("24h", "1 day"),
        10,
        "should be a duration like 30s, 5m, 24h or 7d",
    ),
    ("a duration without a unit", GOOD.replace("24h", "24"), 10, "duration"),
    ("a zero duration", GOOD.replace("24h", "0m"), 10, "longer than zero"),
    ("an absurd duration", GOOD.replace("24h", "9999999999d"), 10, "longer than 365d"),
    ("required below one", GOOD.replace("required: 1", "required: 0"), 9, "at least 1"),
    ("required not a number", GOOD.replace("required: 1", "required: two"), 9, "whole number"),
    (
        "required_for on a listing",
        GOOD.replace("  required: 1", "  required: 1\n  required_for: {envs.list: 2}"),
        10,
        "envs.list makes no change",
    ),
    (
        "required_for below one",
        GOOD.replace("  required: 1", "  required: 1\n  required_for:\n    keys.delete: 0"),
        11,
        "at least 1",
    ),
    (
        "allow_self_approval not a boolean",
        GOOD + "  allow_self_approval: sometimes\n",
        11,
        "true or false",
    ),
    ("a YAML syntax error", GOOD.replace("[C0OPS]", "[C0OPS"), 7, "not valid YAML"),
    ("a tab in the indentation", GOOD.replace("  required: 1", "\trequired: 1"), 9, "YAML"),
    (
        "a key given twice",
        GOOD.replace("  required: 1", "  required: 1\n  required: 2"),
        10,
        "twice",
    ),
    (
        "a role given as a word rather than a list",
        GOOD.replace("[envs.list]", "envs.list"),
        2,
        "should be a list",
    ),
    ("a file that is a list", "- roles\n- grants\n", 1, "should be a mapping"),
    ("a file without grants", "roles: {}\n", 1, "no grants section"),
    ("an empty file", "", 1, "empty"),
]


@pytest.mark.parametrize(
    ("text", "line", "problem"), [r[1:] for r in MALFORMED], ids=[r[0] for r in MALFORMED]
)
def test_a_malformed_policy_names_its_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "deploy/fpbot.yml")
    error = caught.value
    assert (error.line, problem in error.problem) == (line, True), str(error)
    assert str(error).startswith(f"deploy/fpbot.yml, line {line}: ")
    assert "\n" not in str(error)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: file not found"


def test_a_directory_is_not_a_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="is a directory"):
        load_policy(tmp_path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fpbot.yml"
    path.write_bytes(b"roles: {\xff}\n")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(path)


def test_the_file_name_appears_in_errors_from_load_policy(tmp_path: Path) -> None:
    path = tmp_path / "fpbot.yml"
    path.write_text(GOOD.replace("U0ALICE", "bob"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}, line 4: ")
