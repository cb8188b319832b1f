"""The pure diff of the account watch: what changed between two looks, and what fpbot did.

Each row states the rule it guards; the requests are built as the change actions store them
(their ``params``, ``before``, ``after`` and ``result``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain import ChangeRequest, State
from bot.domain.account import (
    BASE,
    AccountChange,
    ChangeKind,
    FieldChange,
    Item,
    Resource,
    Snapshot,
    diff,
    outside,
    own_changes,
    own_writes,
    text_of,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

ENV = Resource.ENVIRONMENT
KEY = Resource.API_KEY
HOOK = Resource.WEBHOOK
RULE = Resource.FILTERING_RULE
ENCKEY = Resource.ENCRYPTION_KEY
SUB = Resource.SUBDOMAIN
#: What a pass under 2025-11-20 covers.
FULL = BASE | {RULE, ENCKEY, SUB}


def env(env_id: str = "ae_1", name: str = "Production", **fields: str | None) -> Item:
    values = {"name": name, "description": None, "limit_mode": None, "limit_value": None}
    return Item(ENV, env_id, name, env_id, {**values, **fields})


def key(key_id: str = "tok_1", name: str = "Web", status: str = "disabled", **f: Any) -> Item:
    values = {"name": name, "description": None, "status": status, "rate_limit": None}
    return Item(KEY, key_id, name, "ae_1", {**values, "environment": "ae_1", **f})


def hook(hook_id: str = "wh_1", status: str = "enabled") -> Item:
    url = "https://example.com/hook"
    fields = {"url": url, "description": None, "status": status, "environment": None}
    return Item(HOOK, hook_id, url, None, fields)


def rule(
    rule_id: str = "tr_1", name: str = "Block bad IPs", status: str = "enabled", **f: Any
) -> Item:
    values = {"name": name, "expression": "ip == 1.2.3.4", "action": "deny", "status": status}
    return Item(RULE, rule_id, name, "ae_1", {**values, "environment": "ae_1", **f})


def enckey(key_id: str = "tok_e1", status: str = "enabled", **f: Any) -> Item:
    values = {"name": "Sealed", "status": status, "last_rotated": None}
    return Item(ENCKEY, key_id, "Sealed", "ae_1", {**values, **f})


def sub(sub_id: str = "certv2_1", hostname: str = "metrics.example.com") -> Item:
    return Item(SUB, sub_id, hostname, None, {"hostname": hostname})


def full(*items: Item) -> Snapshot:
    return Snapshot.of(items, FULL)


def request(action: str, params: dict[str, Any], **extra: Any) -> ChangeRequest:
    return ChangeRequest(
        id="CR-000001",
        action=action,
        params=params,
        summary="s",
        requester="U0OPERATOR",
        channel_id="C0OPS",
        state=extra.pop("state", State.SUCCEEDED),
        required_approvals=1,
        created_at=T0,
        expires_at=T0 + timedelta(days=1),
        **extra,
    )


# ── diff ────────────────────────────────────────────────────────────────────────────────


def test_nothing_changed_is_no_change() -> None:
    snapshot = Snapshot.of([env(), key(), hook()])
    assert diff(snapshot, Snapshot.of([hook(), key(), env()])) == []


def test_a_rename_is_one_update_with_the_field_before_and_after() -> None:
    (change,) = diff(Snapshot.of([env()]), Snapshot.of([env(name="Prod EU")]))
    assert change == AccountChange(
        ENV,
        "ae_1",
        "Prod EU",
        "ae_1",
        ChangeKind.UPDATED,
        (FieldChange("name", "Production", "Prod EU"),),
    )


def test_several_fields_of_one_resource_are_one_change_and_others_their_own() -> None:
    before = Snapshot.of([key(), key("tok_2", "Other")])
    after = Snapshot.of([key(status="enabled", rate_limit="5"), key("tok_2", "Other 2")])
    first, second = diff(before, after)
    assert (first.id, [f.field for f in first.fields]) == ("tok_1", ["status", "rate_limit"])
    assert (second.id, second.fields) == ("tok_2", (FieldChange("name", "Other", "Other 2"),))


def test_a_creation_and_a_deletion_show_every_field_that_has_a_value() -> None:
    created, deleted = diff(Snapshot.of([hook()]), Snapshot.of([key()]))
    assert created.kind is ChangeKind.CREATED and created.resource is KEY
    assert FieldChange("status", None, "disabled") in created.fields
    assert all(f.before is None and f.after is not None for f in created.fields)
    assert deleted.kind is ChangeKind.DELETED and deleted.resource is HOOK
    assert FieldChange("url", "https://example.com/hook", None) in deleted.fields


def test_a_snapshot_survives_the_store_as_json() -> None:
    snapshot = Snapshot.of([env(description="EU"), key(rate_limit="2.5"), hook()])
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
    assert Snapshot.from_json(None) == Snapshot()


def test_a_snapshot_keeps_what_it_covers_and_an_old_one_covers_what_the_watch_first_read() -> None:
    snapshot = full(rule(), enckey(), sub(), env())
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
    old = {"items": [{"resource": "environment", "id": "ae_1", "name": "P", "fields": {}}]}
    assert Snapshot.from_json(old).watched == BASE == {ENV, KEY, HOOK}


def test_a_resource_this_fpbot_does_not_know_is_left_out_of_a_stored_snapshot() -> None:
    stored = {
        "watched": ["environment", "origin_list"],
        "items": [{"resource": "origin_list", "id": "ae_1", "name": "", "fields": {}}],
    }
    assert Snapshot.from_json(stored) == Snapshot({}, frozenset({ENV}))


@pytest.mark.parametrize(
    ("story", "before", "after", "reported"),
    [
        (
            "switching to 2025-11-20: the rules, keys and subdomains that appear are not created",
            Snapshot.of([env()]),
            full(env(), rule(), enckey(), sub()),
            [],
        ),
        (
            "switching back to 2024-05-20: they do not vanish either",
            full(env(), rule(), enckey(), sub()),
            Snapshot.of([env()]),
            [],
        ),
        (
            "what both cover is still compared across the switch",
            Snapshot.of([env()]),
            full(env(name="Prod EU"), rule()),
            [(ENV, "ae_1", ChangeKind.UPDATED)],
        ),
        (
            "the pass after the switch compares them as any other",
            full(rule(), enckey(), sub()),
            full(
                rule(status="disabled"), enckey(status="disabled"), sub("certv2_2", "x.example.com")
            ),
            [
                (RULE, "tr_1", ChangeKind.UPDATED),
                (ENCKEY, "tok_e1", ChangeKind.UPDATED),
                (SUB, "certv2_1", ChangeKind.DELETED),
                (SUB, "certv2_2", ChangeKind.CREATED),
            ],
        ),
    ],
)
def test_only_the_resources_both_snapshots_cover_are_compared(
    story: str,
    before: Snapshot,
    after: Snapshot,
    reported: list[tuple[Resource, str, ChangeKind]],
) -> None:
    found = diff(before, after)
    assert sorted((c.resource, c.id, c.kind) for c in found) == sorted(reported), story


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, None), (5.0, "5"), (2.5, "2.5"), (True, "true"), (10, "10"), ("x", "x")],
)
def test_values_are_compared_as_text_without_a_needless_point_zero(
    value: object, text: str | None
) -> None:
    assert text_of(value) == text


# ── attribution ─────────────────────────────────────────────────────────────────────────

RENAME = request("envs.update", {"env_id": "ae_1", "name": "Prod EU"})
ENABLE = request("keys.update", {"key_id": "tok_1", "status": "enabled"})


@pytest.mark.parametrize(
    ("story", "before", "after", "requests", "reported"),
    [
        (
            "fpbot's own rename is not an outside change",
            [env()],
            [env(name="Prod EU")],
            [RENAME],
            [],
        ),
        (
            "a rename nobody asked fpbot for is an outside change",
            [env()],
            [env(name="Prod EU")],
            [],
            [("ae_1", ChangeKind.UPDATED, [("name", "Production", "Prod EU")])],
        ),
        (
            "a change still executing explains what it writes (the read raced its write)",
            [env()],
            [env(name="Prod EU")],
            [request("envs.update", {"env_id": "ae_1", "name": "Prod EU"}, state=State.EXECUTING)],
            [],
        ),
        (
            "fpbot renamed it, then someone renamed it again: outside, from fpbot's name",
            [env()],
            [env(name="Prod US")],
            [RENAME],
            [("ae_1", ChangeKind.UPDATED, [("name", "Prod EU", "Prod US")])],
        ),
        (
            "fpbot's rename does not explain a description changed at the same time",
            [env()],
            [env(name="Prod EU", description="moved")],
            [RENAME],
            [("ae_1", ChangeKind.UPDATED, [("description", None, "moved")])],
        ),
        (
            "fpbot enabling one key does not explain another key enabled outside",
            [key(), key("tok_2")],
            [key(status="enabled"), key("tok_2", status="enabled")],
            [ENABLE],
            [("tok_2", ChangeKind.UPDATED, [("status", "disabled", "enabled")])],
        ),
        (
            "a key fpbot created is fpbot's, by the id its result names",
            [],
            [key("tok_9", "New")],
            [request("keys.create", {"type": "public", "name": "New"}, result={"key_id": "tok_9"})],
            [],
        ),
        (
            "a create still running is recognised by the name it gives",
            [],
            [key("tok_9", "New")],
            [request("keys.create", {"type": "public", "name": "New"}, state=State.EXECUTING)],
            [],
        ),
        (
            "a key created outside is reported, whatever fpbot created meanwhile",
            [],
            [key("tok_8", "Theirs"), key("tok_9", "New")],
            [request("keys.create", {"type": "public", "name": "New"}, result={"key_id": "tok_9"})],
            [("tok_8", ChangeKind.CREATED, None)],
        ),
        (
            "a rotation explains the old key disabled and its replacement",
            [key(status="enabled")],
            [key(status="disabled"), key("tok_2", "Web (rotated 2026-12-01)", "enabled")],
            [
                request(
                    "keys.rotate",
                    {"key_id": "tok_1", "type": "public", "name": "Web", "environment": "ae_1"},
                    state=State.EXECUTING,
                )
            ],
            [],
        ),
        (
            "the Revert of a rotation explains the old key enabled and the replacement disabled",
            [key(status="disabled"), key("tok_2", "Web (rotated 2026-12-01)", "enabled")],
            [key(status="enabled"), key("tok_2", "Web (rotated 2026-12-01)", "disabled")],
            [
                request(
                    "keys.rotate",
                    {"op": "revert", "key_id": "tok_1", "replacement_id": "tok_2"},
                )
            ],
            [],
        ),
        (
            "fpbot's deletion is not reported; a deletion outside is",
            [hook("wh_1"), hook("wh_2")],
            [],
            [request("webhooks.delete", {"webhook_id": "wh_1"})],
            [("wh_2", ChangeKind.DELETED, None)],
        ),
        (
            "a webhook disabled by fpbot is fpbot's",
            [hook()],
            [hook(status="disabled")],
            [request("webhooks.update", {"webhook_id": "wh_1", "status": "disabled"})],
            [],
        ),
        (
            "a filtering rule disabled by fpbot is fpbot's",
            [rule()],
            [rule(status="disabled")],
            [request("rules.update", {"op": "change", "rule_id": "tr_1", "status": "disabled"})],
            [],
        ),
        (
            "a rule change stored before the variants had an op is a change all the same",
            [rule()],
            [rule(name="Renamed", action="allow")],
            [request("rules.update", {"rule_id": "tr_1", "name": "Renamed", "action": "allow"})],
            [],
        ),
        (
            "a filtering rule disabled outside is reported, whatever fpbot did to another",
            [rule(), rule("tr_2", "Other")],
            [rule(status="disabled"), rule("tr_2", "Other", status="disabled")],
            [request("rules.update", {"op": "change", "rule_id": "tr_1", "status": "disabled"})],
            [("tr_2", ChangeKind.UPDATED, [("status", "enabled", "disabled")])],
        ),
        (
            "a rule fpbot added is fpbot's, by the id its result names",
            [],
            [rule("tr_9", "New rule")],
            [
                request(
                    "rules.create",
                    {"env_id": "ae_1", "name": "New rule", "expression": "x", "action": "deny"},
                    result={"rule_id": "tr_9", "name": "New rule"},
                )
            ],
            [],
        ),
        (
            "a rule being added is recognised by its name; one added outside is not",
            [],
            [rule("tr_8", "Theirs"), rule("tr_9", "New rule")],
            [
                request(
                    "rules.create",
                    {"env_id": "ae_1", "name": "New rule", "expression": "x", "action": "deny"},
                    state=State.EXECUTING,
                )
            ],
            [("tr_8", ChangeKind.CREATED, None)],
        ),
        (
            "a rule fpbot removed is fpbot's",
            [rule()],
            [],
            [request("rules.delete", {"op": "remove", "rule_id": "tr_1", "name": "Block"})],
            [],
        ),
        (
            "an origin fpbot added (2024-05-20) explains no expression rule",
            [],
            [rule("tr_9", "example.com")],
            [
                request(
                    "rules.create",
                    {"op": "origin_add", "env_id": "ae_1", "list": "deny", "origin": "example.com"},
                )
            ],
            [("tr_9", ChangeKind.CREATED, None)],
        ),
        (
            "an encryption key disabled by fpbot is fpbot's, not the name its request carries",
            [enckey()],
            [enckey(status="disabled", name="Renamed")],
            [
                request(
                    "enckeys.update", {"key_id": "tok_e1", "name": "Renamed", "status": "disabled"}
                )
            ],
            [("tok_e1", ChangeKind.UPDATED, [("name", "Sealed", "Renamed")])],
        ),
        (
            "an encryption key fpbot rotated is fpbot's, whenever the rotation happened",
            [enckey()],
            [enckey(last_rotated="2026-12-01 09:05:00 UTC")],
            [request("enckeys.rotate", {"op": "rotate", "key_id": "tok_e1", "name": "Sealed"})],
            [],
        ),
        (
            "a revert by fpbot is fpbot's, should it move the last rotation",
            [enckey(last_rotated="2026-12-01 09:05:00 UTC")],
            [enckey(last_rotated="2026-12-01 09:00:00 UTC")],
            [request("enckeys.rotate", {"op": "revert", "key_id": "tok_e1", "name": "Sealed"})],
            [],
        ),
        (
            "an encryption key rotated outside is reported with when",
            [enckey()],
            [enckey(last_rotated="2026-12-01 09:05:00 UTC")],
            [request("enckeys.update", {"key_id": "tok_e1", "name": "Sealed", "status": "x"})],
            [("tok_e1", ChangeKind.UPDATED, [("last_rotated", None, "2026-12-01 09:05:00 UTC")])],
        ),
        (
            "a subdomain being created by fpbot is recognised by its hostname",
            [],
            [sub()],
            [
                request(
                    "subdomains.create", {"hostname": "metrics.example.com"}, state=State.EXECUTING
                )
            ],
            [],
        ),
        (
            "a subdomain fpbot deleted is fpbot's; one deleted outside is reported",
            [sub(), sub("certv2_2", "other.example.com")],
            [],
            [request("subdomains.delete", {"subdomain_id": "certv2_1"})],
            [("certv2_2", ChangeKind.DELETED, None)],
        ),
        (
            "a change to another resource explains nothing of an environment's",
            [env()],
            [env(name="Prod EU")],
            [request("rules.create", {"env_id": "ae_1", "name": "Prod EU"})],
            [("ae_1", ChangeKind.UPDATED, [("name", "Production", "Prod EU")])],
        ),
    ],
)
def test_only_what_fpbot_did_not_write_is_an_outside_change(
    story: str,
    before: list[Item],
    after: list[Item],
    requests: list[ChangeRequest],
    reported: list[tuple[str, ChangeKind, list[tuple[str, str | None, str | None]] | None]],
) -> None:
    changes = diff(Snapshot.of(before, FULL), Snapshot.of(after, FULL))
    writes = [w for r in requests for w in own_writes(r)]
    found = outside(changes, writes)
    assert [(c.id, c.kind) for c in found] == [(i, k) for i, k, _ in reported], story
    for change, (_, _, fields) in zip(found, reported, strict=True):
        if fields is not None:
            assert [(f.field, f.before, f.after) for f in change.fields] == fields, story


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("rules.create", {"op": "origin_add", "env_id": "ae_1", "list": "allow", "origin": "a"}),
        ("rules.delete", {"op": "origin_remove", "env_id": "ae_1", "list": "deny", "origin": "a"}),
        ("rules.update", {"op": "move", "rule_id": "tr_1", "position": 0}),
        ("subdomains.update", {"subdomain_id": "certv2_1", "hostname": "metrics.example.com"}),
    ],
)
def test_what_writes_nothing_the_watch_compares_explains_nothing(
    action: str, params: dict[str, Any]
) -> None:
    """Origin lists (2024-05-20), a rule's place in the order, a subdomain's verification."""
    assert own_writes(request(action, params)) == []


# ── the change log ──────────────────────────────────────────────────────────────────────


def test_a_succeeded_rename_is_logged_with_its_before_and_after() -> None:
    renamed = request(
        "envs.update",
        {"env_id": "ae_1", "name": "Prod EU"},
        before={"name": "Production"},
        after={"name": "Prod EU"},
        environment="ae_1",
    )
    assert own_changes(renamed) == [
        AccountChange(
            ENV,
            "ae_1",
            "Prod EU",
            "ae_1",
            ChangeKind.UPDATED,
            (FieldChange("name", "Production", "Prod EU"),),
        )
    ]


def test_a_rotation_is_logged_as_the_old_key_disabled_and_its_replacement_created() -> None:
    rotated = request(
        "keys.rotate",
        {"key_id": "tok_1", "type": "secret", "name": "Web", "environment": "ae_1"},
        before={"name": "Web", "status": "enabled"},
        after={"name": "Web", "status": "disabled", "replaced by": "a new secret key"},
        result={"key_id": "tok_1", "replacement_id": "tok_2", "replacement_name": "Web (r)"},
        environment="ae_1",
    )
    old, new = own_changes(rotated)
    assert (old.id, old.kind, old.fields) == (
        "tok_1",
        ChangeKind.UPDATED,
        (FieldChange("status", "enabled", "disabled"),),
    )
    assert (new.id, new.kind, new.name) == ("tok_2", ChangeKind.CREATED, "Web (r)")


def test_a_created_webhook_is_logged_under_the_id_the_api_gave() -> None:
    created = request(
        "webhooks.create",
        {"url": "https://example.com/h"},
        after={"url": "https://example.com/h", "status": "enabled"},
        result={"webhook_id": "wh_9", "url": "https://example.com/h"},
    )
    (change,) = own_changes(created)
    assert (change.id, change.kind, change.name) == (
        "wh_9",
        ChangeKind.CREATED,
        "https://example.com/h",
    )


def test_a_rule_change_is_logged_with_what_it_wrote_not_its_environments_rules() -> None:
    changed = request(
        "rules.update",
        {"op": "change", "rule_id": "tr_1", "status": "disabled"},
        before={"rules": ["1. block `x` — Block bad IPs"]},
        after={"rules": ["1. block `x` — Block bad IPs (disabled)"]},
        result={"rule_id": "tr_1", "name": "Block bad IPs"},
        environment="ae_1",
    )
    assert own_changes(changed) == [
        AccountChange(
            RULE,
            "tr_1",
            "Block bad IPs",
            "ae_1",
            ChangeKind.UPDATED,
            (FieldChange("status", None, "disabled"),),
        )
    ]


def test_an_added_rule_and_a_created_subdomain_are_logged_field_by_field() -> None:
    added = request(
        "rules.create",
        {"op": "add", "env_id": "ae_1", "name": "New", "expression": "x", "action": "deny"},
        before={"rules": []},
        after={"rules": ["1. block `x` — New"]},
        result={"rule_id": "tr_9", "name": "New"},
        environment="ae_1",
    )
    (rule_added,) = own_changes(added)
    assert (rule_added.id, rule_added.name, rule_added.kind) == ("tr_9", "New", ChangeKind.CREATED)
    assert [f.field for f in rule_added.fields] == ["name", "expression", "action", "environment"]
    created = request(
        "subdomains.create",
        {"hostname": "m.example.com"},
        after={"subdomain": "m.example.com", "status": "pending"},
        result={"subdomain_id": "certv2_9", "status": "pending"},
    )
    (subdomain,) = own_changes(created)
    assert (subdomain.id, subdomain.name) == ("certv2_9", "m.example.com")
    assert subdomain.fields == (FieldChange("hostname", None, "m.example.com"),)
