"""Encryption keys (``2025-11-20``), as rules over the `Workspace`.

Each environment has one key, inactive (``disabled``) until someone enables it; the stand-in
creates it with the environment. Keys cannot be created or deleted through the API. Every
list and get returns the three tokens.

Rotation and revert are not documented; the stand-in infers: ``rotate`` makes the next token
current and the current one previous, and draws a new next token; ``revert`` undoes the last
rotation exactly (the token drawn by it is dropped), and is refused with 409 when there is no
rotation to undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.fingerprint.state import (
    STATUSES,
    Checker,
    EncryptionKey,
    Workspace,
    bad_request,
    conflict,
    not_found,
)


def list_keys(
    workspace: Workspace, *, status: str | None, environment: str | None
) -> list[EncryptionKey]:
    if status is not None and status not in STATUSES:
        raise bad_request(f"Query parameter status must be one of: {', '.join(STATUSES)}")
    return [
        key
        for key in workspace.encryption_keys.values()
        if (status is None or key.status == status)
        and (environment is None or key.environment == environment)
    ]


def get_key(workspace: Workspace, key_id: str) -> EncryptionKey:
    key = workspace.encryption_keys.get(key_id)
    if key is None:
        raise not_found(f"Encryption key {key_id} not found")
    return key


def update_key(workspace: Workspace, key_id: str, body: Mapping[str, Any]) -> EncryptionKey:
    """Name, description, and ``status``: enabling a key activates it."""
    key = get_key(workspace, key_id)
    check = Checker(body)
    name = check.text("name", required=False, low=3, high=255, nullable=False)
    description = check.text("description", required=False, low=0, high=256)
    status = check.choice("status", STATUSES, required=False)
    for frozen in ("token", "previous_token", "next_token", "environment"):
        if frozen in body:
            check.fail(frozen, "can't be changed")
    check.done()
    if name is not None:
        key.name = name
    if "description" in body:
        key.description = description
    if status is not None and status != key.status:
        key.status = status
        if status == "enabled":
            key.last_activated_at = workspace.clock()
        else:
            key.last_deactivated_at = workspace.clock()
    return key


def rotate_key(workspace: Workspace, key_id: str) -> EncryptionKey:
    key = get_key(workspace, key_id)
    key.rotations.append(key.previous_token)
    key.previous_token, key.token = key.token, key.next_token
    key.next_token = workspace.new_secret(44)
    key.last_rotated_at = workspace.clock()
    return key


def revert_key(workspace: Workspace, key_id: str) -> EncryptionKey:
    key = get_key(workspace, key_id)
    if not key.rotations or key.previous_token is None:
        raise conflict(f"Encryption key {key_id} has no rotation to revert")
    key.next_token, key.token = key.token, key.previous_token
    key.previous_token = key.rotations.pop()
    return key
