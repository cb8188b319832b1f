"""Changes to custom subdomains (``2025-11-20``): create, verify, delete.

Creating one makes Fingerprint ask for DNS records (a verification CNAME, routing records,
sometimes a CAA record): the requester gets them by direct message, and again after each
verification with the status of each. The create answer may carry a ``webhook_secret``,
shown once: it goes to the requester like any secret (there is nothing to disable if that
message fails; the change says so).
"""

from __future__ import annotations

from typing import Any

from bot import commands
from bot.changes.actions.base import (
    Action,
    DeliverSecret,
    Execution,
    Plan,
    PlanError,
    Reconciliation,
    Removal,
    SecretDelivery,
    created_since,
    expect,
    failed,
    hand_over,
    never_reached,
    started,
    succeeded,
    write,
)
from bot.changes.actions.rules import require_version
from bot.domain import ChangeRequest
from bot.fingerprint.errors import NotFound
from bot.fingerprint.limits import PLAN_LIMITS
from bot.fingerprint.models import Subdomain, SubdomainStatus
from bot.ports import Account
from bot.render import subdomains as said

SUBDOMAIN_ID_PREFIX = "certv2_"


async def subdomain_or_none(client: Account, subdomain_id: str) -> Subdomain | None:
    try:
        return await client.get_subdomain(subdomain_id)
    except NotFound:
        return None


async def existing_subdomain(client: Account, ref: str) -> Subdomain:
    """The subdomain ``ref`` names: its id or its hostname (read whole, records included)."""
    if not ref.startswith(SUBDOMAIN_ID_PREFIX):
        found = next((s for s in await client.list_subdomains() if s.subdomain == ref), None)
        if found is None:
            raise PlanError(said.no_subdomain(ref))
        ref = found.id
    subdomain = await subdomain_or_none(client, ref)
    if subdomain is None:
        raise PlanError(said.no_subdomain(ref))
    return subdomain


def _fields(subdomain: Subdomain) -> dict[str, Any]:
    return {
        "subdomain": subdomain.subdomain,
        "status": str(subdomain.status) if subdomain.status else None,
    }


class CreateSubdomain(Action):
    """``subdomains create <hostname>``: the hostname must be free, the plan not full."""

    permission = "subdomains.create"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.CreateSubdomain, self.permission)
        existing = await client.list_subdomains()
        for other in existing:
            if other.subdomain == cmd.hostname:
                raise PlanError(said.taken(cmd.hostname, other.id))
        if len(existing) >= PLAN_LIMITS.subdomains:
            raise PlanError(said.plan_limit(PLAN_LIMITS.subdomains))
        return Plan(
            action=self.permission,
            params={"hostname": cmd.hostname},
            summary=said.create(cmd.hostname),
            before=None,
            after={"subdomain": cmd.hostname, "status": str(SubdomainStatus.PENDING)},
            target=f"subdomain:{cmd.hostname}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hostname = request.params["hostname"]
        subdomain = await write(
            client.create_subdomain(hostname),
            failed=said.creating_failed(hostname),
            check=said.CHECK,
        )
        secret_sent = None
        if subdomain.webhook_secret:
            secret_sent = await hand_over(
                deliver_secret,
                SecretDelivery(
                    "subdomain webhook secret", hostname, subdomain.id, subdomain.webhook_secret
                ),
            )
        return Execution(
            result={"subdomain_id": subdomain.id, "status": str(subdomain.status or "pending")},
            message=said.created(hostname, subdomain.id, secret_sent=secret_sent),
            instructions=said.instructions(subdomain),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        hostname = request.params["hostname"]
        for subdomain in await client.list_subdomains():
            if subdomain.subdomain == hostname and created_since(
                subdomain.created_at, started(request)
            ):
                return succeeded(said.created_looked_up(hostname, subdomain.id))
        return never_reached()


class VerifySubdomain(Action):
    """``subdomains verify <subdomain>``: Fingerprint checks the DNS records now."""

    permission = "subdomains.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.VerifySubdomain, self.permission)
        subdomain = await existing_subdomain(client, cmd.subdomain)
        if subdomain.status is SubdomainStatus.ACTIVE:
            raise PlanError(said.already_active(subdomain.subdomain, subdomain.id))
        return Plan(
            action=self.permission,
            params={"subdomain_id": subdomain.id, "hostname": subdomain.subdomain},
            summary=said.verify(subdomain.subdomain, subdomain.id),
            before=_fields(subdomain),
            after={**_fields(subdomain), "status": said.AFTER_CHECK},
            target=f"subdomain:{subdomain.id}:verify",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        subdomain_id = request.params["subdomain_id"]
        answered = await write(
            client.verify_subdomain(subdomain_id),
            failed=said.verifying_failed(subdomain_id),
            check=said.CHECK,
        )
        # The verify answer may be stale (Fingerprint's own CLI reads the subdomain again).
        subdomain = await subdomain_or_none(client, subdomain_id) or answered
        return Execution(
            result={"subdomain_id": subdomain_id, "status": str(subdomain.status or "")},
            message=said.verified(subdomain.subdomain, subdomain_id, subdomain.status),
            instructions=said.instructions(subdomain),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        subdomain_id = request.params["subdomain_id"]
        subdomain = await subdomain_or_none(client, subdomain_id)
        if subdomain is None:
            return failed(said.gone(subdomain_id))
        return succeeded(said.verified(subdomain.subdomain, subdomain_id, subdomain.status))


class DeleteSubdomain(Removal):
    """``subdomains delete <subdomain>``: its certificate is revoked; cannot be undone."""

    permission = "subdomains.delete"
    command = commands.DeleteSubdomain
    ref_param = "subdomain"
    id_param = "subdomain_id"
    noun = "subdomain"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        return await super().plan(client, command)

    async def resolve(self, client: Account, ref: str) -> Subdomain:
        return await existing_subdomain(client, ref)

    async def find(self, client: Account, resource_id: str) -> Subdomain | None:
        return await subdomain_or_none(client, resource_id)

    def environment_of(self, resource: Subdomain) -> str | None:
        return None

    async def describe(self, client: Account, resource: Subdomain) -> tuple[str, dict[str, Any]]:
        return said.delete(resource.subdomain, resource.id), _fields(resource)

    async def delete(self, client: Account, resource_id: str) -> None:
        await client.delete_subdomain(resource_id)

    def deleting_failed(self, request: ChangeRequest, resource_id: str) -> tuple[str, str]:
        return said.deleting_failed(resource_id), said.CHECK

    def deleted(self, request: ChangeRequest, resource_id: str) -> str:
        return said.deleted(str((request.before or {}).get("subdomain", "")), resource_id)
