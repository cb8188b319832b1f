"""The forms (Slack modals) that ask for a change without anyone typing an id.

One form per change (`bot.commands.FORMS` says which fields), a picker that leads to them, and
the small form a Deny opens to ask why. Environments, keys and webhooks are picked from menus
the bot fills as the person types (``external_select``); what is submitted is checked by the
same rules as the typed command, and what is wrong is shown next to the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot import commands as cmd
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    KeyType,
    LimitMode,
    Status,
    Subdomain,
    Webhook,
)
from bot.render import ids
from bot.render.blocks import (
    Block,
    actions,
    context,
    external_select,
    input_block,
    modal,
    option,
    section,
    static_select,
    text_input,
)

#: The form of each change: its title (24 characters at most) and what it asks for.
TITLES: Mapping[type[cmd.ChangeCommand], str] = {
    cmd.CreateEnv: "Create environment",
    cmd.RenameEnv: "Rename environment",
    cmd.DeleteEnv: "Delete environment",
    cmd.CreateKey: "Create API key",
    cmd.RenameKey: "Rename API key",
    cmd.SetKeyStatus: "Enable or disable key",
    cmd.DeleteKey: "Delete API key",
    cmd.RotateKey: "Rotate API key",
    cmd.CreateWebhook: "Create webhook",
    cmd.SetWebhookStatus: "Enable or disable hook",
    cmd.DeleteWebhook: "Delete webhook",
    cmd.SetEnvLimit: "Environment usage limit",
    cmd.SetKeyRateLimit: "API key rate limit",
    cmd.DescribeKey: "Describe API key",
    cmd.UpdateWebhook: "Change webhook",
    cmd.VerifyWebhook: "Verify webhook",
    cmd.AddOrigin: "Add an origin",
    cmd.RemoveOrigin: "Remove an origin",
    cmd.AddRule: "Add filtering rule",
    cmd.ChangeRule: "Change filtering rule",
    cmd.MoveRule: "Move filtering rule",
    cmd.RemoveRule: "Delete filtering rule",
    cmd.RotateEncKey: "Rotate encryption key",
    cmd.RevertEncKey: "Revert encryption key",
    cmd.SetEncKeyStatus: "Encryption key on/off",
    cmd.CreateSubdomain: "Create subdomain",
    cmd.VerifySubdomain: "Verify subdomain",
    cmd.DeleteSubdomain: "Delete subdomain",
}

#: The picker's wording of each change, as a choice in its menu.
CHOICES: Mapping[type[cmd.ChangeCommand], str] = {
    cmd.CreateEnv: "Create an environment",
    cmd.RenameEnv: "Rename an environment",
    cmd.DeleteEnv: "Delete an environment",
    cmd.CreateKey: "Create an API key",
    cmd.RenameKey: "Rename an API key",
    cmd.SetKeyStatus: "Enable or disable an API key",
    cmd.RotateKey: "Rotate an API key",
    cmd.DeleteKey: "Delete an API key",
    cmd.CreateWebhook: "Create a webhook",
    cmd.SetWebhookStatus: "Enable or disable a webhook",
    cmd.DeleteWebhook: "Delete a webhook",
    cmd.SetEnvLimit: "Set an environment's usage limit",
    cmd.SetKeyRateLimit: "Change an API key's rate limit",
    cmd.DescribeKey: "Change an API key's description",
    cmd.UpdateWebhook: "Change a webhook's URL, description or environment",
    cmd.VerifyWebhook: "Verify a webhook",
    cmd.AddOrigin: "Add an origin to an allow or deny list",
    cmd.RemoveOrigin: "Remove an origin from an allow or deny list",
    cmd.AddRule: "Add a filtering rule",
    cmd.ChangeRule: "Change a filtering rule",
    cmd.MoveRule: "Move a filtering rule",
    cmd.RemoveRule: "Delete a filtering rule",
    cmd.RotateEncKey: "Rotate an encryption key",
    cmd.RevertEncKey: "Revert an encryption key's rotation",
    cmd.SetEncKeyStatus: "Activate or deactivate an encryption key",
    cmd.CreateSubdomain: "Create a custom subdomain",
    cmd.VerifySubdomain: "Verify a custom subdomain",
    cmd.DeleteSubdomain: "Delete a custom subdomain",
}

_LABELS: Mapping[str, str] = {
    "name": "Name",
    "description": "Description",
    "url": "Webhook URL (https)",
    "env": "Environment",
    "environment": "Environment",
    "key": "API key",
    "webhook": "Webhook",
    "type": "Key type",
    "status": "Status",
    "reason": "Why is this change needed?",
    "mode": "Limit mode",
    "value": "Requests per month",
    "rate_limit": "Requests per second",
    "grace": "Grace period (e.g. 24h; 0 for none)",
    "kind": "List",
    "origin": "Origin (e.g. https://shop.example)",
    "expression": "Expression",
    "action": "Action",
    "position": "Position (1 = evaluated first)",
    "test": "Test against request id (optional)",
    "rule": "Filtering rule",
    "subdomain": "Subdomain",
    "hostname": "Hostname (e.g. metrics.example.com)",
}
_NEW_NAME = "New name"
_PICK_ACTIONS: Mapping[cmd.FieldKind, str] = {
    cmd.FieldKind.ENV: ids.PICK_ENV,
    cmd.FieldKind.KEY: ids.PICK_KEY,
    cmd.FieldKind.WEBHOOK: ids.PICK_WEBHOOK,
    cmd.FieldKind.RULE: ids.PICK_RULE,
    cmd.FieldKind.ENCKEY: ids.PICK_ENCKEY,
    cmd.FieldKind.SUBDOMAIN: ids.PICK_SUBDOMAIN,
}
_PLACEHOLDERS: Mapping[cmd.FieldKind, str] = {
    cmd.FieldKind.ENV: "Type part of a name or id",
    cmd.FieldKind.KEY: "Type part of a key's name or id",
    cmd.FieldKind.WEBHOOK: "Type part of a URL or id",
    cmd.FieldKind.RULE: "Type part of a rule's name, expression or id",
    cmd.FieldKind.ENCKEY: "Type part of a key's name or environment",
    cmd.FieldKind.SUBDOMAIN: "Type part of a hostname",
}
#: The choices of the fixed menus: (value, label).
_STATIC: Mapping[cmd.FieldKind, tuple[tuple[str, str], ...]] = {
    cmd.FieldKind.KEY_TYPE: tuple((t.value, t.value) for t in KeyType),
    cmd.FieldKind.STATUS: tuple((s.value, s.value) for s in Status),
    cmd.FieldKind.ORIGIN_LIST: (("allow", "allow list"), ("deny", "deny list")),
    cmd.FieldKind.RULE_ACTION: (("deny", "block"), ("allow", "allow")),
    cmd.FieldKind.LIMIT_MODE: tuple((m.value, m.value) for m in LimitMode),
}
_HINTS: Mapping[str, str] = {
    "environment": "Leave empty for the default environment (public keys) or workspace-wide.",
    "value": "Needed unless the mode is none.",
    "grace": "How long the old key stays enabled; empty: the policy's default.",
    "test": "An identification request of the last 3 months: the card shows what the rules "
    "would do to it.",
    "position": "Empty: evaluated after the others.",
}


def form_callback(change: type[cmd.ChangeCommand]) -> str:
    return f"{ids.FORM_PREFIX}{change.__name__}"


def change_of(callback_id: str) -> type[cmd.ChangeCommand] | None:
    """The change a form's ``callback_id`` stands for, if any."""
    name = callback_id.removeprefix(ids.FORM_PREFIX)
    return next((c for c in cmd.FORMS if c.__name__ == name), None)


def metadata(channel_id: str, **extra: str) -> str:
    """What a form carries back on submission: where it was opened (for the answer)."""
    return json.dumps({"channel": channel_id, **extra}, separators=(",", ":"))


def read_metadata(raw: str | None) -> dict[str, str]:
    try:
        found = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _field(
    change: type[cmd.ChangeCommand],
    field: cmd.Field,
    initial: Mapping[str, Any],
    *,
    reason_required: bool,
) -> Block:
    label = _LABELS.get(field.name, field.name.capitalize())
    if field.name == "name" and change in (cmd.RenameEnv, cmd.RenameKey):
        label = _NEW_NAME
    optional = field.optional and not (field.kind is cmd.FieldKind.REASON and reason_required)
    chosen = initial.get(field.name)
    if field.kind in _PICK_ACTIONS:
        element = external_select(
            _PICK_ACTIONS[field.kind],
            placeholder=_PLACEHOLDERS[field.kind],
            initial=chosen if isinstance(chosen, dict) else None,
        )
        return input_block(
            field.name, label, element, optional=optional, hint=_HINTS.get(field.name)
        )
    if field.kind in _STATIC:
        choices = [option(label_, value) for value, label_ in _STATIC[field.kind]]
        element = static_select(
            field.name,
            choices,
            placeholder=" or ".join(label_ for _, label_ in _STATIC[field.kind]),
            initial=_one(choices, chosen),
        )
        return input_block(
            field.name, label, element, optional=optional, hint=_HINTS.get(field.name)
        )
    match field.kind:
        case cmd.FieldKind.LONG_TEXT | cmd.FieldKind.REASON | cmd.FieldKind.EXPRESSION:
            limit = {cmd.FieldKind.REASON: cmd.REASON_MAX, cmd.FieldKind.EXPRESSION: 3000}.get(
                field.kind
            )
            element = text_input(field.name, multiline=True, max_length=limit)
        case _:
            element = text_input(
                field.name,
                max_length=cmd.URL_MAX if field.kind is cmd.FieldKind.URL else cmd.NAME_MAX,
                initial=chosen if isinstance(chosen, str) else None,
            )
    return input_block(field.name, label, element, optional=optional, hint=_HINTS.get(field.name))


def _one(choices: Sequence[dict[str, Any]], chosen: object) -> dict[str, Any] | None:
    return next((c for c in choices if c["value"] == chosen), None)


def render_form(
    change: type[cmd.ChangeCommand],
    *,
    channel_id: str,
    reason_required: bool,
    initial: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The form of one change. ``initial`` fills fields in (a picked option, a name)."""
    blocks: list[Block] = [
        _field(change, field, initial or {}, reason_required=reason_required)
        for field in (*cmd.FORMS[change], cmd.REASON_FIELD)
    ]
    blocks.append(
        context("Submitting asks for approval: nothing changes until enough approvers agree.")
    )
    return modal(
        TITLES[change],
        blocks,
        callback_id=form_callback(change),
        submit="Ask for approval",
        private_metadata=metadata(channel_id),
    )


def render_picker(changes: Sequence[type[cmd.ChangeCommand]], *, channel_id: str) -> dict[str, Any]:
    """The first form of ``/fp new`` and the shortcut: which change, among those the person
    may ask for."""
    if not changes:
        blocks: list[Block] = [
            section(
                "You may not ask for any change yet: an fpbot admin grants that in the "
                "policy (`/fp whoami` shows who)."
            )
        ]
        return modal("Fingerprint change", blocks, callback_id=ids.PICKER, close="Close")
    choices = [option(CHOICES[c], c.__name__) for c in changes]
    blocks = [
        section("What would you like to change?"),
        actions(
            static_select(ids.PICK_CHANGE, choices, placeholder="Choose a change"),
            block_id=ids.PICK_CHANGE,
        ),
    ]
    return modal(
        "Fingerprint change",
        blocks,
        callback_id=ids.PICKER,
        close="Cancel",
        private_metadata=metadata(channel_id),
    )


def render_deny_form(request_id: str, summary: str, *, reason_required: bool) -> dict[str, Any]:
    """The small form a Deny opens: why (required only if the policy says so)."""
    blocks: list[Block] = [
        section(f"Deny *{request_id}*: {summary}"),
        input_block(
            "reason",
            "Why deny it? The requester will read this.",
            text_input("reason", multiline=True, max_length=cmd.REASON_MAX),
            optional=not reason_required,
        ),
    ]
    return modal(
        "Deny change request",
        blocks,
        callback_id=ids.DENY_FORM,
        submit="Deny",
        private_metadata=metadata("", request=request_id),
    )


# ── menu options ────────────────────────────────────────────────────────────────────────────


def environment_option(env: Environment) -> dict[str, Any]:
    return option(env.name, env.id, env.id)


def key_option(key: ApiKey, env_names: Mapping[str, str]) -> dict[str, Any]:
    kind = f"{key.type} key" if key.type else "key"
    where = env_names.get(key.environment or "", "workspace-wide")
    status = " · disabled" if key.status is Status.DISABLED else ""
    return option(key.name or key.id, key.id, f"{kind} · {where}{status}")


def webhook_option(hook: Webhook) -> dict[str, Any]:
    return option(hook.url, hook.id, hook.description or hook.id)


def rule_option(rule: FilteringRule, env_names: Mapping[str, str]) -> dict[str, Any]:
    where = env_names.get(rule.environment or "", rule.environment or "workspace")
    position = f"#{rule.position + 1} · " if rule.position is not None else ""
    return option(rule.name or rule.id, rule.id, f"{position}{where} · {rule.expression}"[:75])


def enckey_option(key: EncryptionKey, env_names: Mapping[str, str]) -> dict[str, Any]:
    where = env_names.get(key.environment or "", key.environment or "")
    status = " · disabled" if key.status is Status.DISABLED else ""
    return option(key.name or key.id, key.id, f"{where}{status}"[:75] or key.id)


def subdomain_option(subdomain: Subdomain) -> dict[str, Any]:
    return option(subdomain.subdomain or subdomain.id, subdomain.id, str(subdomain.status or ""))
