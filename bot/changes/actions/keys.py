"""Changes to API keys: create, rename, enable, disable, delete, rotate.

A secret or proxy key's token is shown by the API once, in the create answer, so it goes to
the requester's DMs at once or the new key is disabled (an unreachable secret is useless).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot import commands
from bot.changes.actions.base import (
    MAX_NAME,
    Action,
    Composite,
    DeliverSecret,
    Execution,
    ExecutionFailed,
    Plan,
    PlanError,
    Reconciliation,
    Removal,
    SecretDelivery,
    SecretKind,
    before_name,
    by_name,
    created_since,
    env_label,
    expect,
    failed,
    find_env,
    hand_over,
    never_reached,
    started,
    succeeded,
    was_refused,
    write,
)
from bot.domain import ChangeRequest
from bot.fingerprint.errors import FingerprintError, NotFound
from bot.fingerprint.models import ApiKey, Environment, KeyType, Status
from bot.ports import Account
from bot.render import changes as say
from bot.render import updates as said

KEY_ID_PREFIX = "tok_"


def rotation_name(old_name: str, day: date) -> str:
    """The replacement key's name: the old name and the rotation date, at most 255 chars."""
    suffix = f" (rotated {day.isoformat()})"
    return old_name[: MAX_NAME - len(suffix)].rstrip() + suffix


def secret_kind(key_type: KeyType) -> SecretKind | None:
    """Which secret a key of this type carries; public keys' tokens sit in web pages."""
    if key_type is KeyType.SECRET:
        return "secret key token"
    if key_type is KeyType.PROXY:
        return "proxy key token"
    return None


async def key_or_none(client: Account, key_id: str) -> ApiKey | None:
    try:
        return await client.get_api_key(key_id)
    except NotFound:
        return None


async def existing_key(client: Account, ref: str) -> ApiKey:
    """The key ``ref`` names: its id, or its exact name."""
    if ref.startswith(KEY_ID_PREFIX):
        key = await key_or_none(client, ref)
        if key is None:
            raise PlanError(say.no_key(ref))
        return key
    return by_name("key", ref, await client.list_api_keys(), lambda k: k.name)


def key_fields(key: ApiKey, envs: list[Environment]) -> dict[str, Any]:
    return {
        "name": key.name,
        "type": str(key.type) if key.type else None,
        "status": str(key.status) if key.status else None,
        "environment": env_label(envs, key.environment),
    }


async def disable_undelivered_key(
    client: Account, key: ApiKey, label: str, *, postscript: str
) -> None:
    """The key's token could not be delivered: disable the key and fail, saying so."""
    undelivered = say.token_undelivered(label)
    try:
        await client.update_api_key(key.id, status=Status.DISABLED)
    except FingerprintError as e:
        raise ExecutionFailed(
            say.undelivered_and_not_disabled(undelivered, "key", e),
            cause=e,
            state_of_account=say.key_live_without_token(key.id, postscript),
        ) from e
    raise ExecutionFailed(
        say.undelivered_and_disabled(undelivered),
        cause=None,
        state_of_account=say.key_exists_disabled(key.id, postscript),
    )


async def disable_lost_secret_key(client: Account, key: ApiKey) -> None:
    """Disable a key whose secret is lost; errors propagate so reconcile is tried again."""
    if key.status is not Status.DISABLED:
        await client.update_api_key(key.id, status=Status.DISABLED)


def named(key: ApiKey, name: str) -> ApiKey:
    """The key as created, its name filled in from the request when the answer left it out
    (Fingerprint's own CLI fixtures answer a create with id, type, status and token only)."""
    return key if key.name else key.model_copy(update={"name": name})


def _key_result(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.id,
        "name": key.name,
        "type": str(key.type) if key.type else None,
        "environment": key.environment,
    }


async def created_key(
    client: Account, request: ChangeRequest, *, name: str | None = None
) -> ApiKey | None:
    """The key this request's create made, if the account has it: same type, name and
    environment, created since the request started executing (the oldest, if several)."""
    key_type = KeyType(request.params["type"])
    name = name or request.params["name"]
    environment = request.params.get("environment")
    candidates = [
        k
        for k in await client.list_api_keys(type=key_type)
        if k.name == name
        and (environment is None or k.environment == environment)
        and created_since(k.created_at, started(request))
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda k: k.created_at or datetime.max.replace(tzinfo=UTC))


async def disable_or_fail(client: Account, key: ApiKey, label: str) -> None:
    """Disable a key whose token nobody holds; if that fails too, say the key is live."""
    try:
        await disable_lost_secret_key(client, key)
    except FingerprintError as e:
        raise ExecutionFailed(
            say.answer_lost_still_live(label, "token", e),
            cause=e,
            state_of_account=say.key_live_without_token(key.id, ""),
        ) from e


class CreateKey(Action):
    """``keys create <type> <name> [--env]``: a new API key."""

    permission = "keys.create"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.CreateKey, self.permission)
        key_type = KeyType(cmd.type)
        envs = await client.list_environments()
        env = None
        if cmd.environment is not None:
            found = find_env(envs, cmd.environment)
            env = (found.name, found.id)
        default = cmd.environment is None and key_type is KeyType.PUBLIC
        params: dict[str, Any] = {
            "type": str(key_type),
            "name": cmd.name,
            "environment": env and env[1],
        }
        after: dict[str, Any] = {
            "name": cmd.name,
            "type": str(key_type),
            "status": str(Status.ENABLED),
            "environment": (
                say.DEFAULT_ENVIRONMENT if default else env_label(envs, env and env[1])
            ),
        }
        if cmd.description is not None:
            params["description"] = after["description"] = cmd.description
        return Plan(
            action=self.permission,
            params=params,
            summary=say.create_key(
                key_type, cmd.name, say.key_where(env, default_environment=default)
            ),
            before=None,
            after=after,
            environment=env and env[1],
            target=f"key-name:{env[1] if env else 'default'}:{key_type}:{cmd.name.casefold()}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_type = KeyType(request.params["type"])
        name = request.params["name"]
        kind = secret_kind(key_type)
        try:
            key = await write(
                client.create_api_key(
                    type=key_type,
                    name=name,
                    environment=request.params.get("environment"),
                    description=request.params.get("description"),
                ),
                failed=say.creating_key_failed(key_type, name),
                check=say.check_new_key(name) if kind is not None else say.CHECK_KEYS,
            )
        except ExecutionFailed as failure:
            if not failure.uncertain:
                raise
            return await self._answer_lost(client, request, failure)
        key = named(key, name)
        label = say.key_label(key)
        if kind is not None:
            delivered = key.token is not None and await hand_over(
                deliver_secret, SecretDelivery(kind, key.name, key.id, key.token)
            )
            if not delivered:
                await disable_undelivered_key(client, key, label, postscript="")
        return Execution(
            result=_key_result(key), message=say.created_key(label, token_sent=kind is not None)
        )

    async def _answer_lost(
        self, client: Account, request: ChangeRequest, failure: ExecutionFailed
    ) -> Execution:
        """The create got no answer: find what it made, as crash recovery does. A key
        whose token never reached the requester is disabled at once; a public key (its token
        is no secret) is simply there."""
        key = await created_key(client, request)
        if key is None:
            raise failure
        label = say.key_label(key)
        if secret_kind(KeyType(request.params["type"])) is None:
            return Execution(result=_key_result(key), message=say.created_key_looked_up(label))
        await disable_or_fail(client, key, label)
        raise ExecutionFailed(
            say.key_answer_lost(label),
            cause=failure.cause,
            state_of_account=say.key_exists_disabled(key.id, ""),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        key = await created_key(client, request)
        if key is None:
            return never_reached()
        label = say.key_label(key)
        if secret_kind(KeyType(request.params["type"])) is None or key.id in delivered:
            return succeeded(say.created_key(label, token_sent=key.id in delivered))
        await disable_lost_secret_key(client, key)
        return failed(say.key_lost_token_disabled(label))


class UpdateKey(Action):
    """``keys rename|enable|disable <key_id>``: one field of a key, which must change."""

    permission = "keys.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        if isinstance(command, commands.SetKeyStatus):
            return await self._plan_status(client, command)
        if isinstance(command, commands.SetKeyRateLimit):
            return await self._plan_rate(client, command)
        if isinstance(command, commands.DescribeKey):
            return await self._plan_description(client, command)
        cmd = expect(command, commands.RenameKey, self.permission)
        key = await existing_key(client, cmd.key)
        if key.name == cmd.name:
            raise PlanError(say.key_already_named(key.id, key.name))
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "name": cmd.name},
            summary=say.rename_key(say.key_label(key), cmd.name),
            before={"name": key.name},
            after={"name": cmd.name},
            environment=key.environment,
            target=f"key:{key.id}:name",
        )

    async def _plan_rate(self, client: Account, cmd: commands.SetKeyRateLimit) -> Plan:
        key = await existing_key(client, cmd.key)
        label = say.key_label(key)
        if key.rate_limit == cmd.rate_limit:
            raise PlanError(said.key_rate_already(label, cmd.rate_limit))
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "rate_limit": cmd.rate_limit},
            summary=said.set_key_rate(label, cmd.rate_limit),
            before={"name": key.name, "rate limit": said.rate(key.rate_limit)},
            after={"name": key.name, "rate limit": said.rate(cmd.rate_limit)},
            environment=key.environment,
            target=f"key:{key.id}:rate_limit",
        )

    async def _plan_description(self, client: Account, cmd: commands.DescribeKey) -> Plan:
        key = await existing_key(client, cmd.key)
        label = say.key_label(key)
        if key.description == cmd.description:
            raise PlanError(said.key_description_already(label))
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "description": cmd.description},
            summary=said.describe_key(label),
            before={"name": key.name, "description": key.description},
            after={"name": key.name, "description": cmd.description},
            environment=key.environment,
            target=f"key:{key.id}:description",
        )

    async def _plan_status(self, client: Account, cmd: commands.SetKeyStatus) -> Plan:
        status = Status(cmd.status)
        key = await existing_key(client, cmd.key)
        if key.status is status:
            raise PlanError(say.key_already(say.key_label(key), status))
        params: dict[str, Any] = {"key_id": key.id, "status": str(status)}
        if cmd.grace_of is not None:
            params["grace_of"] = cmd.grace_of
        return Plan(
            action=self.permission,
            params=params,
            summary=say.set_key_status(say.key_label(key), status),
            before={"name": key.name, "status": str(key.status) if key.status else None},
            after={"name": key.name, "status": str(status)},
            environment=key.environment,
            target=f"key:{key.id}:status",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id = request.params["key_id"]
        name, status = request.params.get("name"), request.params.get("status")
        rate_limit = request.params.get("rate_limit")
        description = request.params.get("description")
        old = before_name(request, key_id)
        key = await write(
            client.update_api_key(
                key_id,
                name=name,
                status=Status(status) if status else None,
                rate_limit=rate_limit,
                description=description,
            ),
            failed=say.updating_key_failed(old, key_id),
            check=say.check_key(key_id),
        )
        if status:
            message = say.key_status_set(say.key_label(key), Status(status))
        elif rate_limit is not None:
            message = said.key_fields_set(key.id, said.rate(rate_limit))
        elif description is not None:
            message = said.key_fields_set(key.id, "its new description")
        else:
            message = say.renamed_key(key.id, old, key.name)
        return Execution(result={"key_id": key.id, "name": key.name}, message=message)

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        key_id = request.params["key_id"]
        key = await key_or_none(client, key_id)
        if key is None:
            return failed(say.key_gone(key_id))
        name, status = request.params.get("name"), request.params.get("status")
        if name is not None and key.name != name:
            return never_reached()
        if status is not None and key.status != status:
            return never_reached()
        rate_limit = request.params.get("rate_limit")
        description = request.params.get("description")
        if rate_limit is not None and key.rate_limit != rate_limit:
            return never_reached()
        if description is not None and key.description != description:
            return never_reached()
        if status is not None:
            return succeeded(say.key_is(key.name, key.id, status))
        if rate_limit is not None:
            return succeeded(said.key_fields_set(key_id, said.rate(rate_limit)))
        if description is not None:
            return succeeded(said.key_fields_set(key_id, "its new description"))
        return succeeded(say.key_renamed_to(key_id, key.name))


class DeleteKey(Removal):
    """``keys delete <key_id>``: irreversible; anything using the key stops working."""

    permission = "keys.delete"
    command = commands.DeleteKey
    ref_param = "key"
    id_param = "key_id"
    noun = "key"

    async def resolve(self, client: Account, ref: str) -> ApiKey:
        return await existing_key(client, ref)

    async def find(self, client: Account, resource_id: str) -> ApiKey | None:
        return await key_or_none(client, resource_id)

    async def describe(self, client: Account, resource: ApiKey) -> tuple[str, dict[str, Any]]:
        envs = await client.list_environments()
        return say.delete_key(say.key_label(resource)), key_fields(resource, envs)

    async def delete(self, client: Account, resource_id: str) -> None:
        await client.delete_api_key(resource_id)

    def deleting_failed(self, request: ChangeRequest, resource_id: str) -> tuple[str, str]:
        name = before_name(request, resource_id)
        return say.deleting_key_failed(name, resource_id), say.check_key(resource_id)

    def deleted(self, request: ChangeRequest, resource_id: str) -> str:
        return say.deleted_key(before_name(request, resource_id), resource_id)


def grace_end(request: ChangeRequest) -> datetime | None:
    """When a rotation's grace period ends (counted from when it ran), if it has one."""
    seconds = request.params.get("grace_seconds")
    return started(request) + timedelta(seconds=int(seconds)) if seconds else None


class RotateKey(Action):
    """``keys rotate <key_id>``: create a replacement (same type, same environment), deliver
    its token privately, then disable the old key — in that order, so that at every step at
    least one working key exists, and the old one stops only once the new one is in hand."""

    permission = "keys.rotate"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.RotateKey, self.permission)
        key = await existing_key(client, cmd.key)
        label = say.key_label(key)
        if key.type is None:
            raise PlanError(say.key_type_unknown(label))
        if key.status is Status.DISABLED:
            raise PlanError(say.rotating_disabled_key(label))
        envs = await client.list_environments()
        before = key_fields(key, envs)
        params: dict[str, Any] = {
            "key_id": key.id,
            "type": str(key.type),
            "name": key.name,
            "environment": key.environment,
        }
        grace = cmd.grace or timedelta(0)
        if grace:
            params["grace_seconds"] = int(grace.total_seconds())
        return Plan(
            action=self.permission,
            params=params,
            summary=(
                said.rotate_key_with_grace(label, key.type, grace)
                if grace
                else say.rotate_key(label, key.type)
            ),
            before=before,
            after={
                **before,
                "status": said.disabled_after(grace) if grace else str(Status.DISABLED),
                "replaced by": say.replacement_of(key.type),
            },
            environment=key.environment,
            target=f"key:{key.id}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        old_id = request.params["key_id"]
        key_type = KeyType(request.params["type"])
        name = rotation_name(request.params["name"], started(request).date())
        kind = secret_kind(key_type)
        try:
            new = await write(
                client.create_api_key(
                    type=key_type, name=name, environment=request.params.get("environment")
                ),
                failed=say.creating_replacement_failed(old_id),
                check=say.check_rotation(old_id),
                unchanged=say.nothing_changed_old_key_untouched(old_id),
            )
        except ExecutionFailed as failure:
            if not failure.uncertain:
                raise
            found = await created_key(client, request, name=name)
            if found is None:
                raise
            if kind is not None:  # its token is lost with the answer: it must not stay live
                label = say.the_replacement(found.id)
                await disable_or_fail(client, found, label)
                raise ExecutionFailed(
                    say.key_answer_lost(label),
                    cause=failure.cause,
                    state_of_account=say.key_exists_disabled(
                        found.id, say.old_key_untouched(old_id)
                    ),
                ) from failure
            new = found  # a public replacement works as it is: go on with the rotation
        new = named(new, name)
        if kind is not None and not new.token:
            # Created, but the answer carried no token: nobody will ever have it.
            await disable_undelivered_key(
                client, new, say.the_replacement(new.id), postscript=say.old_key_untouched(old_id)
            )
        if kind is not None:
            delivered = new.token is not None and await hand_over(
                deliver_secret, SecretDelivery(kind, new.name, new.id, new.token)
            )
            if not delivered:
                await disable_undelivered_key(
                    client,
                    new,
                    say.the_replacement(new.id),
                    postscript=say.old_key_untouched(old_id),
                )
        grace_until = grace_end(request)
        if grace_until is not None:
            # The old key stays enabled: the sweeper disables it when the grace ends.
            return Execution(
                result={"key_id": old_id, "replacement_id": new.id, "replacement_name": new.name},
                message=said.rotated_key_with_grace(
                    old_id, new.name, new.id, grace_until, token_sent=kind is not None
                ),
                grace_until=grace_until,
            )
        try:
            await client.update_api_key(old_id, status=Status.DISABLED)
        except FingerprintError as e:
            raise ExecutionFailed(
                say.old_key_not_disabled(new.id, old_id, delivered=kind is not None, error=e),
                cause=e,
                state_of_account=say.both_keys_active(old_id, certain=was_refused(e)),
            ) from e
        return Execution(
            result={"key_id": old_id, "replacement_id": new.id, "replacement_name": new.name},
            message=say.rotated_key(old_id, new.name, new.id, token_sent=kind is not None),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        old_id = request.params["key_id"]
        key_type = KeyType(request.params["type"])
        since = started(request)
        name = rotation_name(request.params["name"], since.date())
        replacement = next(
            (
                k
                for k in await client.list_api_keys(type=key_type)
                if k.name == name and k.id != old_id and created_since(k.created_at, since)
            ),
            None,
        )
        old = await key_or_none(client, old_id)
        old_active = old is not None and old.status is not Status.DISABLED
        if replacement is None:
            if old_active:
                return never_reached()
            return failed(say.rotation_never_created(old_id))
        if not old_active:
            # The old key is disabled only after the replacement's token was delivered.
            return succeeded(say.rotation_complete(old_id, replacement.name, replacement.id))
        grace_until = grace_end(request)
        if secret_kind(key_type) is None or replacement.id in delivered:
            if grace_until is not None:
                return succeeded(
                    said.rotation_in_grace(old_id, replacement.name, replacement.id, grace_until),
                    grace_until=grace_until,
                )
            return failed(say.rotation_stopped_before_disabling(replacement.id, old_id))
        await disable_lost_secret_key(client, replacement)
        return failed(say.rotation_lost_token(replacement.id, old_id))


class RevertRotation(Action):
    """The Revert of a rotation during its grace period: enable the old key again (it may
    have been disabled early), then disable the replacement — in that order, so a working
    key exists at every step."""

    permission = "keys.rotate"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.RevertKeyRotation, self.permission)
        old = await key_or_none(client, cmd.key)
        new = await key_or_none(client, cmd.replacement)
        if old is None:
            raise PlanError(said.key_gone_for_revert(cmd.key))
        if new is None:
            raise PlanError(said.key_gone_for_revert(cmd.replacement))
        if old.status is Status.ENABLED and new.status is Status.DISABLED:
            raise PlanError(said.nothing_to_revert(old.id, new.id))
        return Plan(
            action=self.permission,
            params={
                "op": "revert",
                "key_id": old.id,
                "replacement_id": new.id,
                "grace_of": cmd.rotation,
            },
            summary=said.revert_rotation(cmd.rotation, old.id, new.id),
            before={"old key": _status_of(old), "replacement": _status_of(new)},
            after={"old key": str(Status.ENABLED), "replacement": str(Status.DISABLED)},
            environment=old.environment,
            target=f"key:{old.id}:revert",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        old_id, new_id = request.params["key_id"], request.params["replacement_id"]
        await write(
            client.update_api_key(old_id, status=Status.ENABLED),
            failed=said.reverting_failed(old_id),
            check=said.check_revert(old_id),
        )
        try:
            await client.update_api_key(new_id, status=Status.DISABLED)
        except FingerprintError as e:
            raise ExecutionFailed(
                said.replacement_not_disabled(new_id, old_id, e),
                cause=e,
                state_of_account=said.both_enabled_after_revert(new_id),
            ) from e
        return Execution(
            result={"key_id": old_id, "replacement_id": new_id},
            message=said.reverted_rotation(old_id, new_id),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        old_id, new_id = request.params["key_id"], request.params["replacement_id"]
        old, new = await key_or_none(client, old_id), await key_or_none(client, new_id)
        if old is not None and old.status is Status.ENABLED:
            if new is None or new.status is Status.DISABLED:
                return succeeded(said.reverted_rotation(old_id, new_id))
            return failed(said.both_enabled_after_revert(new_id))
        return never_reached()


def _status_of(key: ApiKey) -> str | None:
    return str(key.status) if key.status else None


class KeyRotations(Composite):
    """``keys.rotate``: a rotation, or the Revert of one in its grace period."""

    permission = "keys.rotate"
    default = "rotate"
    variants = {
        "rotate": ((commands.RotateKey,), RotateKey()),
        "revert": ((commands.RevertKeyRotation,), RevertRotation()),
    }
