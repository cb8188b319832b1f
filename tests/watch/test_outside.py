"""What the watch keeps of the account, and what undoes a change made outside fpbot."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import commands as cmd
from bot.domain.account import BASE, AccountChange, ChangeKind, FieldChange, Resource
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    RuleAction,
    Status,
    Subdomain,
    SubdomainStatus,
    Webhook,
)
from bot.render.watch import HIDDEN_VALUE
from bot.watch.outside import deciding_permission, undo_commands, undoable
from bot.watch.watcher import snapshot_of


def change(resource: Resource, kind: ChangeKind, *fields: FieldChange) -> AccountChange:
    return AccountChange(resource, "id_1", "Name", None, kind, fields)


def test_a_value_that_looks_like_a_secret_is_never_kept() -> None:
    hook = Webhook(id="wh_1", url="https://user:hunter2@example.com/hook", status=Status.ENABLED)
    snapshot = snapshot_of([Environment(id="ae_1", name="Prod")], [ApiKey(id="tok_1")], [hook])
    kept = snapshot.items[(Resource.WEBHOOK, "wh_1")]
    assert kept.name == HIDDEN_VALUE and kept.fields["url"] == HIDDEN_VALUE
    assert "hunter2" not in str(snapshot.to_json())
    assert snapshot.items[(Resource.ENVIRONMENT, "ae_1")].fields["name"] == "Prod"


def test_a_rename_and_a_status_are_undone_by_the_commands_that_set_them_back() -> None:
    renamed = change(
        Resource.API_KEY,
        ChangeKind.UPDATED,
        FieldChange("name", "Web", "Hijacked"),
        FieldChange("status", "disabled", "enabled"),
        FieldChange("rate_limit", "5", "50"),
    )
    assert undoable(renamed) == {"name", "status"}
    assert undo_commands(renamed, "why") == [
        cmd.RenameKey("id_1", "Web", "why"),
        cmd.SetKeyStatus("id_1", Status.DISABLED, "why"),
    ]
    assert deciding_permission(renamed) == "keys.update"


def test_a_creation_is_undone_by_a_deletion_and_a_deletion_by_nothing() -> None:
    created = change(Resource.WEBHOOK, ChangeKind.CREATED, FieldChange("url", None, "https://x"))
    assert undo_commands(created, "why") == [cmd.DeleteWebhook("id_1", "why")]
    assert deciding_permission(created) == "webhooks.delete"
    deleted = change(Resource.ENVIRONMENT, ChangeKind.DELETED, FieldChange("name", "E", None))
    assert undoable(deleted) == frozenset() and undo_commands(deleted, "why") == []


def test_a_field_that_had_no_value_before_cannot_be_set_back() -> None:
    described = change(
        Resource.ENVIRONMENT, ChangeKind.UPDATED, FieldChange("description", None, "x")
    )
    assert undoable(described) == frozenset() and undo_commands(described, "why") == []


def test_an_encryption_keys_tokens_a_rules_position_and_a_subdomains_status_are_not_kept() -> None:
    key = EncryptionKey(
        id="tok_e1",
        name="Sealed",
        status=Status.ENABLED,
        environment="ae_1",
        token="SEALED_TOKEN_CURRENT",
        previous_token="SEALED_TOKEN_PREVIOUS",
        next_token="SEALED_TOKEN_NEXT",
        last_rotated_at=datetime(2026, 12, 1, 9, 5, tzinfo=UTC),
    )
    rule = FilteringRule(
        id="tr_1",
        name="Block bad IPs",
        environment="ae_1",
        expression="ip == 1.2.3.4",
        action=RuleAction.DENY,
        status=Status.ENABLED,
        position=3,
    )
    subdomain = Subdomain(id="certv2_1", subdomain="m.example.com", status=SubdomainStatus.ACTIVE)
    snapshot = snapshot_of([], [], [], rules=[rule], enckeys=[key], subdomains=[subdomain])
    assert "SEALED_TOKEN" not in str(snapshot.to_json())
    assert dict(snapshot.items[(Resource.ENCRYPTION_KEY, "tok_e1")].fields) == {
        "name": "Sealed",
        "status": "enabled",
        "last_rotated": "2026-12-01 09:05:00 UTC",
    }
    assert dict(snapshot.items[(Resource.FILTERING_RULE, "tr_1")].fields) == {
        "name": "Block bad IPs",
        "expression": "ip == 1.2.3.4",
        "action": "deny",
        "status": "enabled",
        "environment": "ae_1",
    }
    assert dict(snapshot.items[(Resource.SUBDOMAIN, "certv2_1")].fields) == {
        "hostname": "m.example.com"
    }
    assert snapshot.watched == {
        Resource.ENVIRONMENT,
        Resource.API_KEY,
        Resource.WEBHOOK,
        Resource.FILTERING_RULE,
        Resource.ENCRYPTION_KEY,
        Resource.SUBDOMAIN,
    }
    assert snapshot_of([], [], []).watched == BASE


def test_a_rules_fields_are_set_back_by_one_rule_change_but_not_its_environment() -> None:
    changed = change(
        Resource.FILTERING_RULE,
        ChangeKind.UPDATED,
        FieldChange("status", "enabled", "disabled"),
        FieldChange("action", "deny", "allow"),
        FieldChange("expression", "ip == 1.2.3.4", "true"),
        FieldChange("environment", "ae_1", "ae_2"),
    )
    assert undoable(changed) == {"status", "action", "expression"}
    assert undo_commands(changed, "why") == [
        cmd.ChangeRule(
            "id_1",
            expression="ip == 1.2.3.4",
            action=RuleAction.DENY,
            status=Status.ENABLED,
            reason="why",
        )
    ]
    assert deciding_permission(changed) == "rules.update"
    created = change(Resource.FILTERING_RULE, ChangeKind.CREATED, FieldChange("name", None, "x"))
    assert undo_commands(created, "why") == [cmd.RemoveRule("id_1", reason="why")]
    assert deciding_permission(created) == "rules.delete"


def test_an_encryption_keys_status_is_set_back_but_not_its_name_or_rotation() -> None:
    changed = change(
        Resource.ENCRYPTION_KEY,
        ChangeKind.UPDATED,
        FieldChange("status", "enabled", "disabled"),
        FieldChange("name", "Sealed", "Other"),
        FieldChange("last_rotated", None, "2026-12-01 09:05:00 UTC"),
    )
    assert undoable(changed) == {"status"}
    assert undo_commands(changed, "why") == [cmd.SetEncKeyStatus("id_1", Status.ENABLED, "why")]
    assert deciding_permission(changed) == "enckeys.update"
    created = change(Resource.ENCRYPTION_KEY, ChangeKind.CREATED, FieldChange("name", None, "x"))
    assert undoable(created) == frozenset() and undo_commands(created, "why") == []
    assert deciding_permission(created) == "enckeys.update", "fpbot cannot delete one"


def test_a_subdomain_created_outside_is_undone_by_deleting_it() -> None:
    created = change(Resource.SUBDOMAIN, ChangeKind.CREATED, FieldChange("hostname", None, "x"))
    assert undo_commands(created, "why") == [cmd.DeleteSubdomain("id_1", "why")]
    assert deciding_permission(created) == "subdomains.delete"
