"""Changes to environments: create, rename, delete."""

from __future__ import annotations

from typing import Any

from bot import commands
from bot.changes.actions.base import (
    Action,
    Composite,
    DeliverSecret,
    Execution,
    ExecutionFailed,
    Plan,
    PlanError,
    Reconciliation,
    Removal,
    before_name,
    before_writing,
    created_since,
    expect,
    failed,
    find_env,
    never_reached,
    same_name,
    started,
    succeeded,
    write,
)
from bot.domain import ChangeRequest
from bot.fingerprint.models import Environment, LimitMode, Status
from bot.ports import Account
from bot.render import changes as say
from bot.render import updates as said

#: Names of a default environment, which Fingerprint refuses to delete. The API has no flag
#: for it, so it is recognised by the name Fingerprint gives it.
DEFAULT_ENVIRONMENT_NAMES = frozenset({"default", "default environment"})


async def _name_still_free(client: Account, name: str, *, except_id: str | None) -> None:
    """Names are checked when a change is planned, but two requests may plan the same name
    ("Twin env", "twin ENV") and both be approved: the second must not run."""
    for env in await before_writing(client.list_environments()):
        if env.id != except_id and same_name(env.name, name):
            raise ExecutionFailed(
                say.taken_since("environment", env.name, env.id),
                cause=None,
                state_of_account=say.NOTHING_CHANGED,
            )


class CreateEnvironment(Action):
    """``envs create <name>``: a new environment; its name must not be taken."""

    permission = "envs.create"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.CreateEnv, self.permission)
        envs = await client.list_environments()
        for env in envs:
            if same_name(env.name, cmd.name):
                raise PlanError(say.environment_name_taken(env.name, env.id))
        params: dict[str, Any] = {"name": cmd.name}
        if cmd.description:
            params["description"] = cmd.description
        return Plan(
            action=self.permission,
            params=params,
            summary=say.create_environment(cmd.name),
            before=None,
            after={"name": cmd.name, "description": cmd.description},
            target=f"environment-name:{cmd.name.strip().casefold()}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        name = request.params["name"]
        await _name_still_free(client, name, except_id=None)
        env = await write(
            client.create_environment(name, description=request.params.get("description")),
            failed=say.creating_environment_failed(name),
            check=say.CHECK_ENVS,
        )
        return Execution(
            result={"env_id": env.id, "name": env.name},
            message=say.created_environment(env.name, env.id),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        name = request.params["name"]
        since = started(request)
        for env in await client.list_environments():
            if env.name == name and created_since(env.created_at, since):
                return succeeded(say.created_environment(env.name, env.id))
        return never_reached()


class RenameEnvironment(Action):
    """``envs rename <env_id> <name>``: the new name must differ and not be taken."""

    permission = "envs.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.RenameEnv, self.permission)
        envs = await client.list_environments()
        env = find_env(envs, cmd.env)
        if env.name == cmd.name:
            raise PlanError(say.environment_already_named(env.id, env.name))
        for other in envs:
            if other.id != env.id and same_name(other.name, cmd.name):
                raise PlanError(say.environment_name_taken(other.name, other.id))
        return Plan(
            action=self.permission,
            params={"env_id": env.id, "name": cmd.name},
            summary=say.rename_environment(env.name, env.id, cmd.name),
            before={"name": env.name},
            after={"name": cmd.name},
            environment=env.id,
            target=f"environment:{env.id}:name",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        env_id, name = request.params["env_id"], request.params["name"]
        old = before_name(request, env_id)
        await _name_still_free(client, name, except_id=env_id)
        env = await write(
            client.update_environment(env_id, name=name),
            failed=say.renaming_environment_failed(env_id),
            check=say.CHECK_ENVS,
        )
        return Execution(
            result={"env_id": env.id, "name": env.name},
            message=say.renamed_environment(env.id, old, env.name),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        env_id, name = request.params["env_id"], request.params["name"]
        env = next((e for e in await client.list_environments() if e.id == env_id), None)
        if env is None:
            return failed(say.environment_gone(env_id, "renamed"))
        if env.name == name:
            return succeeded(say.environment_renamed_to(env_id, name))
        return never_reached()


class DeleteEnvironment(Removal):
    """``envs delete <env_id>``: refused for the default environment and for one that still
    has enabled API keys — Fingerprint would refuse both anyway, later and less clearly."""

    permission = "envs.delete"
    command = commands.DeleteEnv
    ref_param = "env"
    id_param = "env_id"
    noun = "environment"

    async def resolve(self, client: Account, ref: str) -> Environment:
        return find_env(await client.list_environments(), ref)

    async def find(self, client: Account, resource_id: str) -> Environment | None:
        return next((e for e in await client.list_environments() if e.id == resource_id), None)

    def environment_of(self, resource: Environment) -> str | None:
        return resource.id

    async def check(self, client: Account, resource: Environment) -> None:
        if resource.name.strip().casefold() in DEFAULT_ENVIRONMENT_NAMES:
            raise PlanError(say.default_environment_kept(resource.name, resource.id))
        active = await client.list_api_keys(environment=resource.id, status=Status.ENABLED)
        if active:
            raise PlanError(
                say.environment_has_enabled_keys(resource.name, resource.id, [k.id for k in active])
            )

    async def describe(self, client: Account, resource: Environment) -> tuple[str, dict[str, Any]]:
        before = {"name": resource.name, "description": resource.description}
        return say.delete_environment(resource.name, resource.id), before

    async def delete(self, client: Account, resource_id: str) -> None:
        await client.delete_environment(resource_id)

    def deleting_failed(self, request: ChangeRequest, resource_id: str) -> tuple[str, str]:
        name = before_name(request, resource_id)
        return say.deleting_environment_failed(name, resource_id), say.CHECK_ENVS

    def deleted(self, request: ChangeRequest, resource_id: str) -> str:
        return say.deleted_environment(before_name(request, resource_id), resource_id)


class SetEnvironmentLimit(Action):
    """``envs limit <env_id> <mode> [<value>]``: the monthly usage limit (notify by email, or
    restrict — Enterprise only, Fingerprint refuses it otherwise); it must change."""

    permission = "envs.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.SetEnvLimit, self.permission)
        env = find_env(await client.list_environments(), cmd.env)
        mode = LimitMode(cmd.mode)
        now = said.limit_text(env.limit_mode, env.limit_value)
        wanted = said.limit_text(mode, cmd.value)
        if now == wanted:
            raise PlanError(said.environment_limit_already(env.name, env.id, now))
        return Plan(
            action=self.permission,
            params={
                "op": "limit",
                "env_id": env.id,
                "limit_mode": str(mode),
                "limit_value": cmd.value,
            },
            summary=said.set_environment_limit(env.name, env.id, wanted),
            before={"name": env.name, "usage limit": now},
            after={"name": env.name, "usage limit": wanted},
            environment=env.id,
            target=f"environment:{env.id}:limit",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        env_id = request.params["env_id"]
        mode = LimitMode(request.params["limit_mode"])
        value = request.params.get("limit_value")
        await write(
            client.update_environment(env_id, limit_mode=mode, limit_value=value),
            failed=said.setting_limit_failed(env_id),
            check=said.check_environment(env_id),
        )
        limit = said.limit_text(mode, value)
        return Execution(
            result={"env_id": env_id, "usage limit": limit},
            message=said.environment_limit_set(env_id, limit),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        env_id = request.params["env_id"]
        env = next((e for e in await client.list_environments() if e.id == env_id), None)
        if env is None:
            return failed(say.environment_gone(env_id, "limited"))
        wanted = said.limit_text(request.params["limit_mode"], request.params.get("limit_value"))
        if said.limit_text(env.limit_mode, env.limit_value) == wanted:
            return succeeded(said.environment_limit_set(env_id, wanted))
        return never_reached()


class EnvironmentUpdates(Composite):
    """``envs.update``: a new name, or a new monthly usage limit."""

    permission = "envs.update"
    default = "rename"
    variants = {
        "rename": ((commands.RenameEnv,), RenameEnvironment()),
        "limit": ((commands.SetEnvLimit,), SetEnvironmentLimit()),
    }
