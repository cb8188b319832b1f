"""Changes to webhooks: create, enable, disable, delete.

A webhook's signing key is shown once, in the create answer, so it goes to the requester's DMs
or the webhook is disabled.
"""

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
    SecretDelivery,
    before_writing,
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
    write,
)
from bot.domain import ChangeRequest
from bot.fingerprint.errors import FingerprintError, NotFound
from bot.fingerprint.models import Environment, Status, Webhook
from bot.ports import Account
from bot.render import changes as say
from bot.render import updates as said


async def webhook_or_none(client: Account, webhook_id: str) -> Webhook | None:
    try:
        return await client.get_webhook(webhook_id)
    except NotFound:
        return None


async def existing_webhook(client: Account, ref: str) -> Webhook:
    """The webhook ``ref`` names: its id, or the URL it sends to."""
    if not ref.lower().startswith(("https://", "http://")):
        hook = await webhook_or_none(client, ref)
        if hook is None:
            raise PlanError(say.no_webhook(ref))
        return hook
    return by_name("webhook", ref, await client.list_webhooks(), lambda h: h.url)


def webhook_fields(hook: Webhook, envs: list[Environment]) -> dict[str, Any]:
    return {
        "url": hook.url,
        "description": hook.description,
        "status": str(hook.status) if hook.status else None,
        "environment": env_label(envs, hook.environment),
    }


async def disable_undelivered_webhook(client: Account, hook: Webhook, label: str) -> None:
    """The signing key could not be delivered: disable the webhook and fail, saying so."""
    undelivered = say.signing_key_undelivered(label)
    try:
        await client.update_webhook(hook.id, status=Status.DISABLED)
    except FingerprintError as e:
        raise ExecutionFailed(
            say.undelivered_and_not_disabled(undelivered, "webhook", e),
            cause=e,
            state_of_account=say.webhook_live_without_key(hook.id),
        ) from e
    raise ExecutionFailed(
        say.undelivered_and_disabled(undelivered),
        cause=None,
        state_of_account=say.webhook_exists_disabled(hook.id),
    )


async def created_webhook(client: Account, request: ChangeRequest) -> Webhook | None:
    """The webhook this request's create made, if the account has it: its URL, created
    since the request started executing."""
    url, since = request.params["url"], started(request)
    return next(
        (
            h
            for h in await client.list_webhooks()
            if h.url == url and created_since(h.created_at, since)
        ),
        None,
    )


class CreateWebhook(Action):
    """``webhooks create <url>``: the URL must be https and not already used by a webhook."""

    permission = "webhooks.create"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.CreateWebhook, self.permission)
        if not cmd.url.lower().startswith("https://"):
            raise PlanError(say.webhook_not_https(cmd.url))
        envs = await client.list_environments()
        env = None
        if cmd.environment is not None:
            found = find_env(envs, cmd.environment)
            env = (found.name, found.id)
        for hook in await client.list_webhooks():
            if hook.url == cmd.url:
                raise PlanError(say.webhook_url_taken(hook.id, cmd.url))
        params: dict[str, Any] = {
            "url": cmd.url,
            "description": cmd.description,
            "environment": env and env[1],
        }
        if cmd.status is not None:
            params["status"] = str(cmd.status)
        return Plan(
            action=self.permission,
            params=params,
            summary=say.create_webhook(cmd.url, env),
            before=None,
            after={
                "url": cmd.url,
                "description": cmd.description,
                "status": str(cmd.status or Status.ENABLED),
                "environment": env_label(envs, env and env[1]),
            },
            environment=env and env[1],
            target=f"webhook-url:{cmd.url}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        url = request.params["url"]
        for other in await before_writing(client.list_webhooks()):
            if other.url == url:  # another request got there since this one was planned
                raise ExecutionFailed(
                    say.webhook_url_taken(other.id, url),
                    cause=None,
                    state_of_account=say.NOTHING_CHANGED,
                )
        try:
            hook = await write(
                client.create_webhook(
                    url=url,
                    description=request.params.get("description"),
                    environment=request.params.get("environment"),
                    status=Status(status) if (status := request.params.get("status")) else None,
                ),
                failed=say.creating_webhook_failed(url),
                check=say.CHECK_WEBHOOKS,
            )
        except ExecutionFailed as failure:
            if not failure.uncertain:
                raise
            found = await created_webhook(client, request)
            if found is None:
                raise
            label = say.webhook_label(found.id, found.url)
            try:
                if found.status is not Status.DISABLED:
                    await client.update_webhook(found.id, status=Status.DISABLED)
            except FingerprintError as e:
                raise ExecutionFailed(
                    say.answer_lost_still_live(label, "signing key", e),
                    cause=e,
                    state_of_account=say.webhook_live_without_key(found.id),
                ) from e
            raise ExecutionFailed(
                say.webhook_answer_lost(label),
                cause=failure.cause,
                state_of_account=say.webhook_exists_disabled(found.id),
            ) from failure
        label = say.webhook_label(hook.id, hook.url)
        if hook.signing_key is not None:
            delivery = SecretDelivery("webhook signing key", hook.url, hook.id, hook.signing_key)
            if not await hand_over(deliver_secret, delivery):
                await disable_undelivered_webhook(client, hook, label)
        return Execution(
            result={"webhook_id": hook.id, "url": hook.url},
            message=say.created_webhook(label, key_sent=hook.signing_key is not None),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        url = request.params["url"]
        hook = await created_webhook(client, request)
        if hook is None:
            return never_reached()
        if hook.id in delivered:
            return succeeded(say.created_webhook(say.webhook_label(hook.id, url), key_sent=True))
        if hook.status is not Status.DISABLED:
            await client.update_webhook(hook.id, status=Status.DISABLED)
        return failed(say.webhook_lost_key_disabled(hook.id, url))


class SetWebhookStatus(Action):
    """``webhooks enable|disable <webhook_id>``: the status must change."""

    permission = "webhooks.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.SetWebhookStatus, self.permission)
        status = Status(cmd.status)
        hook = await existing_webhook(client, cmd.webhook)
        label = say.webhook_label(hook.id, hook.url)
        if hook.status is status:
            raise PlanError(say.webhook_already(label, status))
        return Plan(
            action=self.permission,
            params={"webhook_id": hook.id, "status": str(status)},
            summary=say.set_webhook_status(label, status),
            before={"url": hook.url, "status": str(hook.status) if hook.status else None},
            after={"url": hook.url, "status": str(status)},
            environment=hook.environment,
            target=f"webhook:{hook.id}:status",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hook_id, status = request.params["webhook_id"], Status(request.params["status"])
        hook = await write(
            client.update_webhook(hook_id, status=status),
            failed=say.changing_webhook_failed(hook_id, status),
            check=say.CHECK_WEBHOOKS,
        )
        return Execution(
            result={"webhook_id": hook.id, "status": str(status)},
            message=say.webhook_status_set(hook.id, hook.url, status),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        hook_id, status = request.params["webhook_id"], request.params["status"]
        hook = await webhook_or_none(client, hook_id)
        if hook is None:
            return failed(say.webhook_gone(hook_id))
        if hook.status != status:
            return never_reached()
        return succeeded(say.webhook_is(hook_id, status))


class DeleteWebhook(Removal):
    """``webhooks delete <webhook_id>``: irreversible; events stop being sent."""

    permission = "webhooks.delete"
    command = commands.DeleteWebhook
    ref_param = "webhook"
    id_param = "webhook_id"
    noun = "webhook"

    async def resolve(self, client: Account, ref: str) -> Webhook:
        return await existing_webhook(client, ref)

    async def find(self, client: Account, resource_id: str) -> Webhook | None:
        return await webhook_or_none(client, resource_id)

    async def describe(self, client: Account, resource: Webhook) -> tuple[str, dict[str, Any]]:
        envs = await client.list_environments()
        return say.delete_webhook(resource.id, resource.url), webhook_fields(resource, envs)

    async def delete(self, client: Account, resource_id: str) -> None:
        await client.delete_webhook(resource_id)

    def deleting_failed(self, request: ChangeRequest, resource_id: str) -> tuple[str, str]:
        return say.deleting_webhook_failed(resource_id), say.CHECK_WEBHOOKS

    def deleted(self, request: ChangeRequest, resource_id: str) -> str:
        return say.deleted_webhook(resource_id)


class UpdateWebhookFields(Action):
    """``webhooks update <webhook_id> [--url] [--description] [--env]``: only what differs
    is sent; a new URL must be https and not another webhook's."""

    permission = "webhooks.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.UpdateWebhook, self.permission)
        hook = await existing_webhook(client, cmd.webhook)
        label = say.webhook_label(hook.id, hook.url)
        envs = await client.list_environments()
        changes: dict[str, Any] = {}
        if cmd.url is not None and cmd.url != hook.url:
            if not cmd.url.lower().startswith("https://"):
                raise PlanError(say.webhook_not_https(cmd.url))
            for other in await client.list_webhooks():
                if other.url == cmd.url and other.id != hook.id:
                    raise PlanError(say.webhook_url_taken(other.id, cmd.url))
            changes["url"] = cmd.url
        if cmd.description is not None and cmd.description != hook.description:
            changes["description"] = cmd.description
        if cmd.environment is not None:
            env = find_env(envs, cmd.environment)
            if env.id != hook.environment:
                changes["environment"] = env.id
        if not changes:
            raise PlanError(said.webhook_unchanged(label))
        before = webhook_fields(hook, envs)
        after = {**before, **changes}
        if "environment" in changes:
            after["environment"] = env_label(envs, changes["environment"])
        return Plan(
            action=self.permission,
            params={"op": "fields", "webhook_id": hook.id, **changes},
            summary=said.update_webhook(label, ", ".join(sorted(changes))),
            before=before,
            after=after,
            environment=hook.environment,
            target=f"webhook:{hook.id}:fields",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hook_id = request.params["webhook_id"]
        fields = {
            k: request.params[k]
            for k in ("url", "description", "environment")
            if k in request.params
        }
        hook = await write(
            client.update_webhook(hook_id, **fields),
            failed=said.updating_webhook_failed(hook_id),
            check=say.CHECK_WEBHOOKS,
        )
        return Execution(
            result={"webhook_id": hook.id, "url": hook.url or fields.get("url")},
            message=said.webhook_updated(hook_id, ", ".join(sorted(fields))),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        hook_id = request.params["webhook_id"]
        hook = await webhook_or_none(client, hook_id)
        if hook is None:
            return failed(say.webhook_gone(hook_id))
        fields = {
            k: request.params[k]
            for k in ("url", "description", "environment")
            if k in request.params
        }
        if any(getattr(hook, k) != v for k, v in fields.items()):
            return never_reached()
        return succeeded(said.webhook_updated(hook_id, ", ".join(sorted(fields))))


class VerifyWebhook(Action):
    """``webhooks verify <webhook_id>``: Fingerprint calls the URL and records whether it
    answered; asking again does no harm."""

    permission = "webhooks.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        cmd = expect(command, commands.VerifyWebhook, self.permission)
        hook = await existing_webhook(client, cmd.webhook)
        label = say.webhook_label(hook.id, hook.url)
        verified = None if hook.verified is None else ("yes" if hook.verified else "no")
        return Plan(
            action=self.permission,
            params={"op": "verify", "webhook_id": hook.id},
            summary=said.verify_webhook(label),
            before={"url": hook.url, "verified": verified},
            after={"url": hook.url, "verified": "checked by Fingerprint"},
            environment=hook.environment,
            target=f"webhook:{hook.id}:verify",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hook_id = request.params["webhook_id"]
        hook = await write(
            client.verify_webhook(hook_id),
            failed=said.verifying_webhook_failed(hook_id),
            check=say.CHECK_WEBHOOKS,
        )
        verified = hook.verified if hook is not None else None
        return Execution(
            result={"webhook_id": hook_id, "verified": verified},
            message=said.webhook_verified(hook_id, verified),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        hook_id = request.params["webhook_id"]
        hook = await webhook_or_none(client, hook_id)
        if hook is None:
            return failed(say.webhook_gone(hook_id))
        return succeeded(said.webhook_verified(hook_id, hook.verified))


class WebhookUpdates(Composite):
    """``webhooks.update``: its status, its other fields, or a verification."""

    permission = "webhooks.update"
    default = "status"
    variants = {
        "status": ((commands.SetWebhookStatus,), SetWebhookStatus()),
        "fields": ((commands.UpdateWebhook,), UpdateWebhookFields()),
        "verify": ((commands.VerifyWebhook,), VerifyWebhook()),
    }
