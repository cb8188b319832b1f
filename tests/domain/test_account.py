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
            "changes fpbot does not make (rules, encryption keys) explain nothing",
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
    changes = diff(Snapshot.of(before), Snapshot.of(after))
    writes = [w for r in requests for w in own_writes(r)]
    found = outside(changes, writes)
    assert [(c.id, c.kind) for c in found] == [(i, k) for i, k, _ in reported], story
    for change, (_, _, fields) in zip(found, reported, strict=True):
        if fields is not None:
            assert [(f.field, f.before, f.after) for f in change.fields] == fields, story


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
