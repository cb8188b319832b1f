"""What fpbot says about a change: plans, refusals to plan, results, failures and verdicts.

`bot.changes.actions` decides *what* happened to the account; every sentence a person reads
about it is written here, once. These sentences are stored with the request (its summary and
error) and shown as they are by the other renderers, so names, URLs and ids people typed or
the API returned are escaped **here, once** (``bold``, ``code``, ``inline``); the structured
values of a request (``params``, ``before``, ``after``, ``result``) stay raw and are escaped
where they are shown.
"""

from __future__ import annotations

from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.models import ApiKey, Status
from bot.render.blocks import bold, code, inline
from bot.render.errors import summary_of

# ── shared ──────────────────────────────────────────────────────────────────────────────────

NOTHING_CHANGED = "Nothing changed."
NEVER_REACHED = (
    "fpbot stopped before the change reached Fingerprint; nothing changed — request it again."
)
NOT_CONFIRMED = "The change was not confirmed by Fingerprint."
WORKSPACE_WIDE = "workspace-wide"
DEFAULT_ENVIRONMENT = "default environment"


def reason(error: FingerprintError) -> str:
    """Why the API said no: its summary and (escaped) error code."""
    return f"{inline(summary_of(error))} ({inline(error.error_code)})"


def write_failed(failed: str, error: FingerprintError) -> str:
    """ "Creating … failed: <why>." — the message of a write the API refused or never answered."""
    return f"{failed}: {reason(error)}."


def not_confirmed(check: str) -> str:
    """What is true after a write that got no answer: perhaps applied, perhaps not."""
    return (
        "Fingerprint did not confirm the change, so it may or may not have been applied — "
        f"check with {check} before asking again."
    )


def could_not_check(error: FingerprintError) -> str:
    """A read before the first write failed: nothing was written."""
    return f"fpbot could not check the account before changing it: {reason(error)}."


def taken_since(noun: str, name: str, resource_id: str) -> str:
    """Between the request and its approval, something else took the name (or URL)."""
    return (
        f"Since this was requested, {noun} {bold(name)} ({code(resource_id)}) took that "
        "name; nothing was changed — ask again with another."
    )


def not_a_change(usage: str) -> str:
    return f"{code(usage)} does not change the account."


def unknown_change(action: str) -> str:
    return f"fpbot does not know how to run a {code(action)} change."


def unknown_change_not_run(action: str) -> str:
    return f"fpbot does not know the {code(action)} change; nothing was run."


def status_verb(status: Status, *, past: bool = False) -> str:
    """ "Enable"/"Disable", or "Enabled"/"Disabled"."""
    verb = "Enable" if status is Status.ENABLED else "Disable"
    return verb + "d" if past else verb


def run_command(command: str) -> str:
    """A command to type, as a code span."""
    return code(command)


# ── environments ────────────────────────────────────────────────────────────────────────────


def env_named(name: str, env_id: str) -> str:
    return f"{bold(name)} ({code(env_id)})"


def no_environment(env_id: str) -> str:
    return f"No environment {code(env_id)}."


def nothing_named(noun: str, name: str) -> str:
    """ "No environment is named “X”." """
    return f"No {noun} is named “{inline(name, 300)}”."


def ambiguous_name(noun: str, name: str, candidates: list[tuple[str, str]]) -> str:
    """A name several resources share: list them (name, id) so the person can pick an id."""
    listed = ", ".join(f"{bold(n)} ({code(i)})" for n, i in candidates[:10])
    more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    return f"“{inline(name, 300)}” names {len(candidates)} {noun}s: {listed}{more}; use the id."


def environment_name_taken(name: str, env_id: str) -> str:
    return f"Environment {env_named(name, env_id)} already has that name."


def environment_already_named(env_id: str, name: str) -> str:
    return f"Environment {code(env_id)} is already named {bold(name)}."


def default_environment_kept(name: str, env_id: str) -> str:
    return (
        f"{env_named(name, env_id)} is the default environment, "
        "which Fingerprint does not allow to be deleted."
    )


def environment_has_enabled_keys(name: str, env_id: str, key_ids: list[str]) -> str:
    count = len(key_ids)
    ids = ", ".join(code(k) for k in key_ids)
    return (
        f"Environment {env_named(name, env_id)} still has {count} enabled API "
        f"key{'s' if count > 1 else ''} ({ids}); disable or delete them first."
    )


def create_environment(name: str) -> str:
    return f"Create environment {bold(name)}"


def creating_environment_failed(name: str) -> str:
    return f"Creating environment {bold(name)} failed"


def created_environment(name: str, env_id: str) -> str:
    return f"Created environment {env_named(name, env_id)}."


def rename_environment(name: str, env_id: str, new_name: str) -> str:
    return f"Rename environment {env_named(name, env_id)} to {bold(new_name)}"


def renaming_environment_failed(env_id: str) -> str:
    return f"Renaming environment {code(env_id)} failed"


def renamed_environment(env_id: str, old: str, new: str) -> str:
    return f"Renamed environment {code(env_id)} from {bold(old)} to {bold(new)}."


def environment_renamed_to(env_id: str, name: str) -> str:
    return f"Renamed environment {code(env_id)} to {bold(name)}."


def environment_gone(env_id: str, what: str) -> str:
    """ "Environment … no longer exists, so it was not <what>."""
    return f"Environment {code(env_id)} no longer exists, so it was not {what}."


def delete_environment(name: str, env_id: str) -> str:
    return f"Delete environment {env_named(name, env_id)}"


def deleting_environment_failed(name: str, env_id: str) -> str:
    return f"Deleting environment {env_named(name, env_id)} failed"


def deleted_environment(name: str, env_id: str) -> str:
    return f"Deleted environment {env_named(name, env_id)}."


CHECK_ENVS = "`/fp envs`"


# ── API keys ────────────────────────────────────────────────────────────────────────────────

CHECK_KEYS = "`/fp keys`"


def key_label(key: ApiKey) -> str:
    """ "secret key *Backend* (`tok_1`)": the type when known, the name and the id."""
    kind = f"{key.type} key" if key.type else "API key"
    return f"{kind} {bold(key.name)} ({code(key.id)})"


def key_named(name: str, key_id: str) -> str:
    return f"{bold(name)} ({code(key_id)})"


def no_key(key_id: str) -> str:
    return f"No API key {code(key_id)}."


def check_key(key_id: str) -> str:
    return f"{CHECK_KEYS} (look for {code(key_id)})"


def key_where(env: tuple[str, str] | None, *, default_environment: bool) -> str:
    """Where a new key will serve: an environment (name, id), the default one, or everywhere."""
    if env is not None:
        return f"in {env_named(*env)}"
    return "in the default environment" if default_environment else WORKSPACE_WIDE


def create_key(key_type: str, name: str, where: str) -> str:
    return f"Create {key_type} key {bold(name)} {where}"


def creating_key_failed(key_type: str, name: str) -> str:
    return f"Creating {key_type} key {bold(name)} failed"


def check_new_key(name: str) -> str:
    """Where to look after a create of a key with a token that got no answer."""
    return f"{CHECK_KEYS} (a new key named {bold(name)} has a token nobody received: delete it)"


def created_key(label: str, *, token_sent: bool) -> str:
    return f"Created {label}." + (
        " Its token was sent to you by direct message." if token_sent else ""
    )


def token_undelivered(label: str) -> str:
    return f"The token of {label} could not be delivered to you by direct message"


def undelivered_and_disabled(undelivered: str) -> str:
    return f"{undelivered}, so it was disabled — an unreachable secret is useless."


def undelivered_and_not_disabled(undelivered: str, thing: str, error: FingerprintError) -> str:
    return f"{undelivered}, and disabling the {thing} failed: {reason(error)}."


def key_live_without_token(key_id: str, postscript: str) -> str:
    return (
        f"{code(key_id)} is enabled but nobody has its token — delete it by hand or "
        f"run {code(f'/fp keys delete {key_id}')}.{postscript}"
    )


def key_exists_disabled(key_id: str, postscript: str) -> str:
    return f"{code(key_id)} exists and is disabled.{postscript}"


def key_answer_lost(label: str) -> str:
    """A create whose answer was lost made a key after all: its token went with the answer."""
    return (
        f"Fingerprint's answer to the create was lost, but it did create {label}; its token "
        "never reached you, so the key was disabled — request a new one."
    )


def created_key_looked_up(label: str) -> str:
    return f"Created {label} (Fingerprint's answer was lost, so fpbot looked the key up)."


def answer_lost_still_live(label: str, secret: str, error: FingerprintError) -> str:
    """As `key_answer_lost`, but disabling it failed: it is live and nobody has its secret."""
    return (
        f"Fingerprint's answer to the create was lost, but it did create {label}; its "
        f"{secret} never reached you, and disabling it failed: {reason(error)}."
    )


def webhook_answer_lost(label: str) -> str:
    return (
        f"Fingerprint's answer to the create was lost, but it did create {label}; its signing "
        "key never reached you, so the webhook was disabled — request a new one."
    )


def key_lost_token_disabled(label: str) -> str:
    return (
        f"The {label} was created, but fpbot stopped before it could be sure its token "
        "reached you; it has been disabled — request a new one."
    )


def key_already_named(key_id: str, name: str) -> str:
    return f"Key {code(key_id)} is already named {bold(name)}."


def key_already(label: str, status: Status) -> str:
    return f"{label} is already {status}."


def rename_key(label: str, new_name: str) -> str:
    return f"Rename {label} to {bold(new_name)}"


def set_key_status(label: str, status: Status) -> str:
    return f"{status_verb(status)} {label}"


def updating_key_failed(name: str, key_id: str) -> str:
    return f"Updating key {key_named(name, key_id)} failed"


def key_status_set(label: str, status: Status) -> str:
    return f"{status_verb(status, past=True)} {label}."


def renamed_key(key_id: str, old: str, new: str) -> str:
    return f"Renamed key {code(key_id)} from {bold(old)} to {bold(new)}."


def key_renamed_to(key_id: str, name: str) -> str:
    return f"Renamed key {code(key_id)} to {bold(name)}."


def key_is(name: str, key_id: str, status: str) -> str:
    return f"Key {key_named(name, key_id)} is {status}."


def key_gone(key_id: str) -> str:
    return f"Key {code(key_id)} no longer exists, so it was not updated."


def delete_key(label: str) -> str:
    return f"Delete {label}"


def deleting_key_failed(name: str, key_id: str) -> str:
    return f"Deleting key {key_named(name, key_id)} failed"


def deleted_key(name: str, key_id: str) -> str:
    return f"Deleted key {key_named(name, key_id)}."


def key_type_unknown(label: str) -> str:
    return f"Fingerprint did not say what type {label} is."


def rotating_disabled_key(label: str) -> str:
    return f"{label} is disabled, so nothing uses it: create a new key instead."


def rotate_key(label: str, key_type: str) -> str:
    return (
        f"Rotate {label}: create a replacement {key_type} key in the same "
        "environment, then disable this one"
    )


def replacement_of(key_type: str) -> str:
    """The ``replaced by`` value of a rotation's *after*."""
    return f"new {key_type} key"


def old_key_untouched(old_id: str) -> str:
    return f" The old key {code(old_id)} is untouched."


def creating_replacement_failed(old_id: str) -> str:
    return f"Creating the replacement of {code(old_id)} failed"


def check_rotation(old_id: str) -> str:
    return f"{CHECK_KEYS} (the old key {code(old_id)} is untouched)"


def nothing_changed_old_key_untouched(old_id: str) -> str:
    return f"Nothing changed: the old key {code(old_id)} is untouched."


def the_replacement(new_id: str) -> str:
    return f"the replacement {code(new_id)}"


def old_key_not_disabled(
    new_id: str, old_id: str, *, delivered: bool, error: FingerprintError
) -> str:
    handed = "created and delivered" if delivered else "created"
    return (
        f"Replacement {code(new_id)} was {handed}, but disabling the old key "
        f"{code(old_id)} failed: {reason(error)}."
    )


def both_keys_active(old_id: str, *, certain: bool) -> str:
    both = "Both keys are active" if certain else "Both keys may be active"
    return f"{both} — disable {code(old_id)} by hand or run {code(f'/fp keys disable {old_id}')}."


def rotated_key(old_id: str, new_name: str, new_id: str, *, token_sent: bool) -> str:
    created = (
        "was created and its token sent to you by direct message" if token_sent else "was created"
    )
    return (
        f"Rotated key {code(old_id)}: replacement {key_named(new_name, new_id)} {created}; "
        f"the old key {code(old_id)} is disabled."
    )


def rotation_never_created(old_id: str) -> str:
    return (
        f"No replacement of {code(old_id)} was found, so the rotation did not get as "
        "far as creating one; the old key is no longer active (not by this request)."
    )


def rotation_complete(old_id: str, new_name: str, new_id: str) -> str:
    return (
        f"Rotated key {code(old_id)}: replacement {key_named(new_name, new_id)} "
        "is in place and the old key is disabled."
    )


def rotation_stopped_before_disabling(new_id: str, old_id: str) -> str:
    return (
        f"Replacement {code(new_id)} was created, but fpbot stopped before disabling the old "
        f"key {code(old_id)}: both keys are active — disable {code(old_id)} by hand or run "
        f"{code(f'/fp keys disable {old_id}')}."
    )


def rotation_lost_token(new_id: str, old_id: str) -> str:
    return (
        f"Replacement {code(new_id)} was created, but fpbot stopped before it could be sure its "
        f"token reached you; it has been disabled and the old key {code(old_id)} is still "
        "active — request the rotation again."
    )


# ── webhooks ────────────────────────────────────────────────────────────────────────────────

CHECK_WEBHOOKS = "`/fp webhooks`"


def webhook_label(webhook_id: str, url: str) -> str:
    return f"webhook {code(webhook_id)} to {inline(url)}"


def no_webhook(webhook_id: str) -> str:
    return f"No webhook {code(webhook_id)}."


def webhook_not_https(url: str) -> str:
    return f"Webhook URLs must start with `https://`; got {code(url)}."


def webhook_url_taken(webhook_id: str, url: str) -> str:
    return f"Webhook {code(webhook_id)} already sends to {inline(url)}."


def create_webhook(url: str, env: tuple[str, str] | None) -> str:
    where = f" in {env_named(*env)}" if env is not None else ""
    return f"Create a webhook to {inline(url)}{where}"


def creating_webhook_failed(url: str) -> str:
    return f"Creating the webhook to {inline(url)} failed"


def created_webhook(label: str, *, key_sent: bool) -> str:
    sent = " Its signing key was sent to you by direct message." if key_sent else ""
    return f"Created {label}.{sent}"


def signing_key_undelivered(label: str) -> str:
    return f"The signing key of {label} could not be delivered to you by direct message"


def webhook_live_without_key(webhook_id: str) -> str:
    return (
        f"Webhook {code(webhook_id)} is enabled but nobody has its signing key — delete "
        f"it by hand or run {code(f'/fp webhooks delete {webhook_id}')}."
    )


def webhook_exists_disabled(webhook_id: str) -> str:
    return f"Webhook {code(webhook_id)} exists and is disabled."


def webhook_lost_key_disabled(webhook_id: str, url: str) -> str:
    return (
        f"Webhook {code(webhook_id)} to {inline(url)} was created, but fpbot stopped before it "
        "could be sure its signing key reached you; it has been disabled — request a new one."
    )


def webhook_already(label: str, status: Status) -> str:
    return f"The {label} is already {status}."


def set_webhook_status(label: str, status: Status) -> str:
    return f"{status_verb(status)} {label}"


def changing_webhook_failed(webhook_id: str, status: Status) -> str:
    return f"Changing webhook {code(webhook_id)} to {status} failed"


def webhook_status_set(webhook_id: str, url: str, status: Status) -> str:
    return f"{status_verb(status, past=True)} {webhook_label(webhook_id, url)}."


def webhook_gone(webhook_id: str) -> str:
    return f"Webhook {code(webhook_id)} no longer exists, so it was not changed."


def webhook_is(webhook_id: str, status: str) -> str:
    return f"Webhook {code(webhook_id)} is {status}."


def delete_webhook(webhook_id: str, url: str) -> str:
    return f"Delete webhook {code(webhook_id)} to {inline(url)}"


def deleting_webhook_failed(webhook_id: str) -> str:
    return f"Deleting webhook {code(webhook_id)} failed"


def deleted_webhook(webhook_id: str) -> str:
    return f"Deleted webhook {code(webhook_id)}."
