"""Changes to encryption keys (Sealed Results, ``2025-11-20``): activate, deactivate, rotate,
revert.

Every environment has one key. The API sends a key's tokens with every answer; they are
secrets all the same: after a change that makes a token current (enable, rotate, revert) the
current one goes to the requester by direct message, once, and is never stored or shown
anywhere else. Unlike a secret API key's token it is not lost if that message fails — the
dashboard shows it — so the change stands and says so.

A rotation may have a grace period (``--grace``): during it the requester may Revert it (a
change request like any other); when it ends the thread is told the rotation is final. The
API keeps one key object, so there is no old key to disable then.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot import commands
from bot.changes.actions.base import (
    ENV_ID_PREFIXES,
    Action,
    Composite,
    DeliverSecret,
    Execution,
    Plan,
    PlanError,
    Reconciliation,
    SecretDelivery,
    aware,
    by_name,
    expect,
    failed,
    find_env,
    hand_over,
    never_reached,
    started,
    succeeded,
    write,
)
from bot.changes.actions.keys import KEY_ID_PREFIX, grace_end
from bot.changes.actions.rules import require_version
from bot.domain import ChangeRequest
from bot.fingerprint.errors import NotFound
from bot.fingerprint.models import EncryptionKey, Status
from bot.ports import Account
from bot.render import enckeys as said


async def existing_enckey(client: Account, ref: str) -> EncryptionKey:
    """The key ``ref`` names: its id, its exact name, or its environment (id or name)."""
    if ref.startswith(KEY_ID_PREFIX):
        try:
            return await client.get_encryption_key(ref)
        except NotFound:
            raise PlanError(said.no_key(ref)) from None
    keys = await client.list_encryption_keys()
    if ref.startswith(ENV_ID_PREFIXES):
        env_id = ref
    else:
        named = [k for k in keys if (k.name or "").casefold() == ref.casefold()]
        if named:
            return by_name("encryption key", ref, named, lambda k: k.name)
        env_id = find_env(await client.list_environments(), ref).id
    of_env = [k for k in keys if k.environment == env_id]
    if not of_env:
        raise PlanError(said.no_key_of(env_id))
    return of_env[0]


def fields(key: EncryptionKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "status": str(key.status) if key.status else None,
        "last rotated": (
            aware(key.last_rotated_at).strftime("%Y-%m-%d %H:%M UTC")
            if key.last_rotated_at
            else "never"
        ),
    }


async def deliver_token(
    deliver_secret: DeliverSecret, key: EncryptionKey, fallback_name: str
) -> bool:
    """The key's current token to the requester, once; whether it arrived."""
    if not key.token:
        return False
    delivery = SecretDelivery("encryption key", key.name or fallback_name, key.id, key.token)
    return await hand_over(deliver_secret, delivery)


class SetEncKeyStatus(Action):
    """``enckeys enable|disable <key>``: enabling activates Sealed Results with this key."""

    permission = "enckeys.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.SetEncKeyStatus, self.permission)
        status = Status(cmd.status)
        key = await existing_enckey(client, cmd.key)
        label = said.key_label(key.name, key.id)
        if key.status is status:
            raise PlanError(said.already(label, status))
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "name": key.name, "status": str(status)},
            summary=said.set_status(label, status),
            before=fields(key),
            after={**fields(key), "status": str(status)},
            environment=key.environment,
            target=f"enckey:{key.id}:status",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id, status = request.params["key_id"], Status(request.params["status"])
        key = await write(
            client.update_encryption_key(key_id, status=status),
            failed=said.changing_failed(key_id),
            check=said.CHECK,
        )
        sent = status is Status.ENABLED and await deliver_token(
            deliver_secret, key, request.params.get("name", "")
        )
        return Execution(
            result={"key_id": key_id, "status": str(status)},
            message=said.status_set(key_id, status, token_sent=sent),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        key_id, status = request.params["key_id"], request.params["status"]
        try:
            key = await client.get_encryption_key(key_id)
        except NotFound:
            return failed(said.gone(key_id))
        if key.status != status:
            return never_reached()
        return succeeded(said.status_set(key_id, Status(status), token_sent=key_id in delivered))


class RotateEncKey(Action):
    """``enckeys rotate <key> [--grace]``: the next token becomes current; the new current
    token goes to the requester."""

    permission = "enckeys.rotate"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.RotateEncKey, self.permission)
        key = await existing_enckey(client, cmd.key)
        label = said.key_label(key.name, key.id)
        params: dict[str, Any] = {"op": "rotate", "key_id": key.id, "name": key.name}
        grace = cmd.grace or timedelta(0)
        if grace:
            params["grace_seconds"] = int(grace.total_seconds())
        return Plan(
            action=self.permission,
            params=params,
            summary=said.rotate(label, grace),
            before=fields(key),
            after={**fields(key), "last rotated": said.WHEN_APPROVED},
            environment=key.environment,
            target=f"enckey:{key.id}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id = request.params["key_id"]
        key = await write(
            client.rotate_encryption_key(key_id),
            failed=said.rotating_failed(key_id),
            check=said.CHECK,
        )
        sent = await deliver_token(deliver_secret, key, request.params.get("name", ""))
        until = grace_end(request)
        return Execution(
            result={"key_id": key_id},
            message=said.rotated(key_id, token_sent=sent, grace_until=until),
            grace_until=until,
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        key_id = request.params["key_id"]
        try:
            key = await client.get_encryption_key(key_id)
        except NotFound:
            return failed(said.gone(key_id))
        if key.last_rotated_at is None or aware(key.last_rotated_at) < started(request):
            return never_reached()
        until = grace_end(request)
        return succeeded(
            said.rotated(key_id, token_sent=key_id in delivered, grace_until=until),
            grace_until=until,
        )


class RevertEncKey(Action):
    """``enckeys revert <key>`` (or Revert during a rotation's grace period): the previous
    token becomes current again."""

    permission = "enckeys.rotate"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.RevertEncKey, self.permission)
        key = await existing_enckey(client, cmd.key)
        label = said.key_label(key.name, key.id)
        if key.last_rotated_at is None:
            raise PlanError(said.never_rotated(label))
        params: dict[str, Any] = {"op": "revert", "key_id": key.id, "name": key.name}
        if cmd.grace_of is not None:
            params["grace_of"] = cmd.grace_of
        return Plan(
            action=self.permission,
            params=params,
            summary=said.revert(label),
            before=fields(key),
            after={**fields(key), "current token": said.PREVIOUS_TOKEN},
            environment=key.environment,
            target=f"enckey:{key.id}:revert",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id = request.params["key_id"]
        key = await write(
            client.revert_encryption_key(key_id),
            failed=said.reverting_failed(key_id),
            check=said.CHECK,
        )
        sent = await deliver_token(deliver_secret, key, request.params.get("name", ""))
        return Execution(result={"key_id": key_id}, message=said.reverted(key_id, token_sent=sent))

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        # A revert leaves no mark a read can tell from before (the tokens swap back).
        return failed(said.cannot_tell(request.params["key_id"]))


class EncKeyRotations(Composite):
    """``enckeys.rotate``: a rotation, or its revert."""

    permission = "enckeys.rotate"
    default = "rotate"
    variants = {
        "rotate": ((commands.RotateEncKey,), RotateEncKey()),
        "revert": ((commands.RevertEncKey,), RevertEncKey()),
    }
