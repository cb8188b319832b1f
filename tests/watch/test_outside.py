"""What the watch keeps of the account, and what undoes a change made outside fpbot."""

from __future__ import annotations

from bot import commands as cmd
from bot.domain.account import AccountChange, ChangeKind, FieldChange, Resource
from bot.fingerprint.models import ApiKey, Environment, Status, Webhook
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
