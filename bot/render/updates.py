"""What fpbot says about the changes to fields of existing resources: environment limits, an API
key's rate limit and description, a webhook's URL, description, environment and verification, and
rotations with a grace period (and their Revert).

Like `bot.render.changes`, whose conventions these follow, the sentences are stored with the
request and shown as they are: outside names and ids are escaped here, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.models import LimitMode
from bot.render.blocks import bold, code, date, inline
from bot.render.changes import CHECK_ENVS, CHECK_KEYS, CHECK_WEBHOOKS, reason

# ── environments ────────────────────────────────────────────────────────────────────────────


def limit_text(mode: LimitMode | str | None, value: int | None) -> str:
    """ "notify at 100,000 requests a month", or "no limit"."""
    if mode in (None, LimitMode.NONE, "none") or value is None:
        return "no limit"
    verb = "restrict" if str(mode) == LimitMode.RESTRICT else "notify"
    return f"{verb} at {value:,} requests a month"


def environment_limit_already(name: str, env_id: str, limit: str) -> str:
    return f"Environment {bold(name)} ({code(env_id)}) already has {inline(limit)}."


def set_environment_limit(name: str, env_id: str, limit: str) -> str:
    return (
        f"Set the monthly usage limit of environment {bold(name)} ({code(env_id)}): {inline(limit)}"
    )


def setting_limit_failed(env_id: str) -> str:
    return f"Setting the usage limit of environment {code(env_id)} failed"


def environment_limit_set(env_id: str, limit: str) -> str:
    return f"Environment {code(env_id)} now has {inline(limit)}."


# ── API keys ────────────────────────────────────────────────────────────────────────────────


def rate(value: float | None) -> str:
    return "the default" if value is None else f"{value:g} requests/second"


def key_rate_already(label: str, value: float) -> str:
    return f"{label} is already limited to {inline(rate(value))}."


def set_key_rate(label: str, value: float) -> str:
    return f"Limit {label} to {inline(rate(value))}"


def key_description_already(label: str) -> str:
    return f"{label} already has that description."


def describe_key(label: str) -> str:
    return f"Change the description of {label}"


def key_fields_set(key_id: str, fields: str) -> str:
    return f"Key {code(key_id)} now has {fields}."


def rotation_grace(grace: timedelta) -> str:
    """ "24h", "1d 12h", "30m": a grace period as people write it."""
    seconds = int(grace.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def rotate_key_with_grace(label: str, key_type: str, grace: timedelta) -> str:
    return (
        f"Rotate {label}: create a replacement {key_type} key in the same environment; "
        f"this one stays enabled for a grace period of {rotation_grace(grace)}, then is disabled"
    )


def disabled_after(grace: timedelta) -> str:
    """The ``status`` value of a graceful rotation's *after*."""
    return f"disabled after {rotation_grace(grace)}"


def rotated_key_with_grace(
    old_id: str, new_name: str, new_id: str, until: datetime, *, token_sent: bool
) -> str:
    created = (
        "was created and its token sent to you by direct message" if token_sent else "was created"
    )
    return (
        f"Rotated key {code(old_id)}: replacement {bold(new_name)} ({code(new_id)}) {created}; "
        f"the old key {code(old_id)} stays enabled until {date(until)}."
    )


def rotation_in_grace(old_id: str, new_name: str, new_id: str, until: datetime) -> str:
    return (
        f"Rotated key {code(old_id)}: replacement {bold(new_name)} ({code(new_id)}) is in place; "
        f"the old key stays enabled until {date(until)}."
    )


def revert_rotation(rotation: str, old_id: str, new_id: str) -> str:
    return (
        f"Revert rotation {code(rotation)}: enable the old key {code(old_id)} again and "
        f"disable its replacement {code(new_id)}"
    )


def nothing_to_revert(old_id: str, new_id: str) -> str:
    return (
        f"The old key {code(old_id)} is enabled and its replacement {code(new_id)} disabled "
        "already: there is nothing to revert."
    )


def reverting_failed(old_id: str) -> str:
    return f"Enabling the old key {code(old_id)} again failed"


def replacement_not_disabled(new_id: str, old_id: str, error: FingerprintError) -> str:
    return (
        f"The old key {code(old_id)} is enabled again, but disabling its replacement "
        f"{code(new_id)} failed: {reason(error)}."
    )


def both_enabled_after_revert(new_id: str) -> str:
    return (
        f"Both keys are enabled — disable {code(new_id)} by hand or run "
        f"{code(f'/fp keys disable {new_id}')}."
    )


def reverted_rotation(old_id: str, new_id: str) -> str:
    return f"Reverted: the old key {code(old_id)} is enabled and {code(new_id)} is disabled."


def check_revert(old_id: str) -> str:
    return f"{CHECK_KEYS} (look for {code(old_id)})"


def key_gone_for_revert(key_id: str) -> str:
    return f"Key {code(key_id)} no longer exists, so the rotation cannot be reverted."


# ── webhooks ────────────────────────────────────────────────────────────────────────────────


def webhook_unchanged(label: str) -> str:
    return f"Webhook {label} already has those values: nothing would change."


def update_webhook(label: str, fields: str) -> str:
    return f"Change webhook {label}: {fields}"


def updating_webhook_failed(webhook_id: str) -> str:
    return f"Changing webhook {code(webhook_id)} failed"


def webhook_updated(webhook_id: str, fields: str) -> str:
    return f"Webhook {code(webhook_id)} now has {fields}."


def verify_webhook(label: str) -> str:
    return f"Ask Fingerprint to verify webhook {label} (it calls the URL)"


def verifying_webhook_failed(webhook_id: str) -> str:
    return f"Verifying webhook {code(webhook_id)} failed"


def webhook_verified(webhook_id: str, verified: bool | None) -> str:
    if verified is None:
        return (
            f"Fingerprint was asked to verify webhook {code(webhook_id)}; {CHECK_WEBHOOKS} "
            "shows whether it is verified."
        )
    outcome = "is verified" if verified else "is *not* verified: its URL did not answer as expected"
    return f"Webhook {code(webhook_id)} {outcome}."


def check_environment(env_id: str) -> str:
    return f"{CHECK_ENVS} (look for {code(env_id)})"
