"""Changes made outside the API, as if someone had used Fingerprint's dashboard.

``POST /_sandbox/outside-change`` (no auth, no rate limit, not recorded as an API request)
takes ``{"resource": …, "op": …, "id": …, "fields": {…}}`` and answers
``{"data": <the resource after the change, as 2025-11-20 shows it, or null>}``; a refusal comes
in the API's error envelope. The account watch's tests and the console's "change in
dashboard" button use it. Examples::

    {"resource": "environments", "op": "update", "id": "ae_…", "fields": {"name": "Prod EU"}}
    {"resource": "api-keys", "op": "update", "id": "tok_…", "fields": {"status": "enabled"}}
    {"resource": "webhooks", "op": "set", "id": "wh_…", "fields": {"verified": false}}
    {"resource": "encryption-keys", "op": "rotate", "id": "tok_…"}
    {"resource": "origin-rules", "op": "update", "id": "ae_…",
     "fields": {"allow": ["example.com"], "deny": ["*"]}}

``create``, ``update`` and ``delete`` apply the API's own rules (validation, plan limits, what
may be deleted), as the dashboard does; ``set`` writes scalar fields directly, bypassing them
(a subdomain that ``timed_out``, a webhook no longer ``verified``).

``{"example": …}`` picks the resource itself, for the console's "Change in dashboard" buttons:
``rename-environment`` (the first environment that is not the default: renamed, or its name
restored), ``toggle-key`` (the first API key: enabled ↔ disabled) and ``toggle-webhook``; the
answer also carries ``"said"``, one sentence of what was done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sandbox.fingerprint import encryption, filtering, subdomains
from sandbox.fingerprint.state import Workspace, bad_request, normalize_keys, not_found

Change = Callable[[Workspace, str, dict[str, Any]], Any]

_COLLECTIONS: dict[str, Callable[[Workspace], dict[str, Any]]] = {
    "environments": lambda ws: ws.environments,
    "api-keys": lambda ws: ws.api_keys,
    "webhooks": lambda ws: ws.webhooks,
    "filtering-rules": lambda ws: ws.expression_rules,
    "encryption-keys": lambda ws: ws.encryption_keys,
    "subdomains": lambda ws: ws.subdomains,
}
#: Fields ``set`` never writes: identity, order, and the links other records follow.
_FIXED = frozenset({"id", "seq", "created_at", "environment", "is_default"})


def _json(record: Any) -> Any:
    return None if record is None else record.to_json()


_CHANGES: dict[tuple[str, str], Change] = {
    ("environments", "create"): lambda ws, _, f: ws.create_environment(f).to_json(),
    ("environments", "update"): lambda ws, i, f: ws.update_environment(i, f).to_json(),
    ("environments", "delete"): lambda ws, i, _: ws.delete_environment(i),
    ("api-keys", "create"): lambda ws, _, f: ws.create_api_key(f).to_json(),
    ("api-keys", "update"): lambda ws, i, f: ws.update_api_key(i, f).to_json(),
    ("api-keys", "delete"): lambda ws, i, _: ws.delete_api_key(i),
    ("webhooks", "create"): lambda ws, _, f: ws.create_webhook(f).to_json(),
    ("webhooks", "update"): lambda ws, i, f: ws.update_webhook(i, f).to_json(),
    ("webhooks", "delete"): lambda ws, i, _: ws.delete_webhook(i),
    ("filtering-rules", "create"): lambda ws, _, f: filtering.create_rule(ws, f).to_json(),
    ("filtering-rules", "update"): lambda ws, i, f: filtering.update_rule(ws, i, f).to_json(),
    ("filtering-rules", "delete"): lambda ws, i, _: filtering.delete_rule(ws, i),
    ("origin-rules", "update"): lambda ws, i, f: filtering.replace_origin_lists(
        ws, {**f, "environment": i}
    ).to_json(),
    ("encryption-keys", "update"): lambda ws, i, f: encryption.update_key(ws, i, f).to_json(),
    ("encryption-keys", "rotate"): lambda ws, i, _: encryption.rotate_key(ws, i).to_json(),
    ("encryption-keys", "revert"): lambda ws, i, _: encryption.revert_key(ws, i).to_json(),
    ("subdomains", "create"): lambda ws, _, f: subdomains.create_subdomain(ws, f).to_json(),
    ("subdomains", "delete"): lambda ws, i, _: subdomains.delete_subdomain(ws, i),
}


def _settable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | datetime)


def _set(workspace: Workspace, resource: str, record_id: str, fields: dict[str, Any]) -> Any:
    record = _COLLECTIONS[resource](workspace).get(record_id)
    if record is None:
        raise not_found(f"{resource} {record_id} not found")
    current = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    for name, value in fields.items():
        if name in _FIXED or name not in current or not _settable(current[name]):
            raise bad_request(f"{resource} have no field {name!r} that can be set")
        if name.endswith("_at") and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise bad_request(f"{name} must be an ISO-8601 timestamp") from None
        setattr(record, name, value)
    if "updated_at" in current and "updated_at" not in fields:
        record.updated_at = workspace.clock()
    return record.to_json()


#: What the console's example changes add to a name, and take away again.
RENAMED = " (renamed in the dashboard)"


def _example(workspace: Workspace, example: str) -> tuple[Any, str]:
    """One of the console's example changes: its JSON, and what was done in words."""
    if example == "rename-environment":
        env = next((e for e in workspace.environments.values() if not e.is_default), None)
        if env is None:
            raise not_found("no environment to rename")
        name = env.name[: -len(RENAMED)] if env.name.endswith(RENAMED) else env.name + RENAMED
        old = env.name
        done = workspace.update_environment(env.id, {"name": name}).to_json()
        return done, f"Renamed environment {env.id} from “{old}” to “{name}”."
    if example in ("toggle-key", "toggle-webhook"):
        records: Mapping[str, Any] = (
            workspace.api_keys if example == "toggle-key" else workspace.webhooks
        )
        record = next(iter(records.values()), None)
        if record is None:
            raise not_found(f"no {'API key' if example == 'toggle-key' else 'webhook'} to toggle")
        status = "disabled" if record.status == "enabled" else "enabled"
        if example == "toggle-key":
            done = workspace.update_api_key(record.id, {"status": status}).to_json()
            return done, f"API key {record.id} is now {status}."
        done = workspace.update_webhook(record.id, {"status": status}).to_json()
        return done, f"Webhook {record.id} is now {status}."
    raise bad_request(
        f"no example {example!r}; known: rename-environment, toggle-key, toggle-webhook"
    )


def example_change(workspace: Workspace, example: str) -> dict[str, Any]:
    """``{"data": …, "said": …}`` for one of the console's example changes."""
    done, said = _example(workspace, example)
    return {"data": done, "said": said}


def outside_change(workspace: Workspace, body: Mapping[str, Any]) -> Any:
    """Apply one change described by ``body`` (see the module docstring); its JSON or None."""
    resource, op = str(body.get("resource")), str(body.get("op"))
    record_id = body.get("id")
    fields = body.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise bad_request("fields must be an object")
    if op != "create" and not isinstance(record_id, str):
        raise bad_request("id is required")
    if op == "set" and resource in _COLLECTIONS:
        return _set(workspace, resource, str(record_id), normalize_keys(fields))
    change = _CHANGES.get((resource, op))
    if change is None:
        known = sorted({f"{r} {o}" for r, o in _CHANGES} | {f"{r} set" for r in _COLLECTIONS})
        raise bad_request(f"no outside change {op!r} of {resource!r}; known: {', '.join(known)}")
    return change(workspace, str(record_id), normalize_keys(fields))
