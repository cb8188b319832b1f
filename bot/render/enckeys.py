"""Encryption keys (Sealed Results) as people read them: the listing, and what fpbot says
about a change to one. Tokens are never read here: the one message that carries a token is
`bot.render.replies.render_secret_delivery`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.fingerprint.models import EncryptionKey, Status
from bot.render.blocks import Message, bold, code, date
from bot.render.listings import (
    Menus,
    empty_listing,
    flip_entry,
    join_parts,
    row_menu,
    status_part,
    with_menus,
)
from bot.render.updates import rotation_grace

CHECK = "`/fp enckeys`"
WHEN_APPROVED = "when approved"
PREVIOUS_TOKEN = "the previous one"


def key_label(name: str, key_id: str) -> str:
    return f"encryption key {bold(name or key_id)} ({code(key_id)})"


def _line(key: EncryptionKey, env_names: Mapping[str, str]) -> str:
    env = env_names.get(key.environment or "")
    where = bold(env, 300) if env else (code(key.environment) if key.environment else None)
    rotated = f"rotated {date(key.last_rotated_at, time=False)}" if key.last_rotated_at else None
    return "• " + join_parts(
        [bold(key.name or key.id, 500), code(key.id), status_part(key.status), where, rotated]
    )


def _menu(key: EncryptionKey, allowed: Menus) -> dict[str, Any] | None:
    return row_menu(
        [
            ("Rotate", "RotateEncKey", f"RotateEncKey:{key.id}"),
            ("Revert", "RevertEncKey", f"RevertEncKey:{key.id}"),
            flip_entry("SetEncKeyStatus", key.id, key.status),
        ],
        allowed,
    )


def render_encryption_keys(
    keys: Sequence[EncryptionKey], env_names: Mapping[str, str], *, menus: Menus = frozenset()
) -> list[Message]:
    """Every encryption key, by environment name; "enabled" means Sealed Results are on.

    Args:
        menus: the changes (command class names) the rows' ⋯ menus may offer.
    """
    if not keys:
        return empty_listing("No encryption keys match.")
    ordered = sorted(keys, key=lambda k: (env_names.get(k.environment or "", "").casefold(), k.id))
    return with_menus(
        f"Encryption keys ({len(keys)})",
        [_line(k, env_names) for k in ordered],
        [_menu(k, menus) for k in ordered],
    )


def no_key(key_id: str) -> str:
    return f"No encryption key {code(key_id)}."


def no_key_of(env_id: str) -> str:
    return f"Environment {code(env_id)} has no encryption key."


def gone(key_id: str) -> str:
    return f"Encryption key {code(key_id)} no longer exists."


def already(label: str, status: Status) -> str:
    return f"The {label} is already {status}."


def set_status(label: str, status: Status) -> str:
    verb = "Activate" if status is Status.ENABLED else "Deactivate"
    return f"{verb} the {label}"


def changing_failed(key_id: str) -> str:
    return f"Changing encryption key {code(key_id)} failed"


def _token(sent: bool) -> str:
    if sent:
        return " Its current token was sent to you by direct message."
    return " Its token could not be sent to you: the dashboard shows it."


def status_set(key_id: str, status: Status, *, token_sent: bool) -> str:
    if status is Status.DISABLED:
        return f"Encryption key {code(key_id)} is deactivated."
    return f"Encryption key {code(key_id)} is active." + _token(token_sent)


def rotate(label: str, grace: timedelta) -> str:
    extra = f", with a grace period of {rotation_grace(grace)} to revert" if grace else ""
    return f"Rotate the {label}: its next token becomes current{extra}"


def rotating_failed(key_id: str) -> str:
    return f"Rotating encryption key {code(key_id)} failed"


def rotated(key_id: str, *, token_sent: bool, grace_until: datetime | None) -> str:
    grace = f" It can be reverted until {date(grace_until)}." if grace_until else ""
    return f"Rotated encryption key {code(key_id)}." + _token(token_sent) + grace


def never_rotated(label: str) -> str:
    return f"The {label} was never rotated: there is nothing to revert."


def revert(label: str) -> str:
    return f"Revert the {label}: its previous token becomes current again"


def reverting_failed(key_id: str) -> str:
    return f"Reverting encryption key {code(key_id)} failed"


def reverted(key_id: str, *, token_sent: bool) -> str:
    return f"Reverted encryption key {code(key_id)} to its previous token." + _token(token_sent)


def cannot_tell(key_id: str) -> str:
    return (
        f"fpbot stopped while reverting encryption key {code(key_id)}, and a revert leaves no "
        "trace it can read: check the dashboard before asking again."
    )
