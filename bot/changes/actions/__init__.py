"""What each kind of change does to the Fingerprint account, in three steps.

Every change fpbot can make is one entry of `ACTIONS`, keyed by the permission it needs
(``envs.create`` … ``subdomains.delete``), and lives in the module of its resource (`envs`,
`keys`, `webhooks`, `rules`, `enckeys`, `subdomains`), so a reader finds "what does
``keys.rotate`` do" in one place. Where one permission covers several kinds of change
(``rules.update`` changes a rule or moves it) its entry is a `base.Composite` of them. The shape
they share — plan, execute once, reconcile after a crash — and who retries what is `base`.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot import commands
from bot.changes.actions.base import (
    ENV_ID_PREFIXES,
    Action,
    DeliverSecret,
    Execution,
    ExecutionFailed,
    Plan,
    PlanError,
    Postponed,
    Reconciliation,
    SecretDelivery,
    failed,
    find_env,
)
from bot.changes.actions.enckeys import EncKeyRotations, SetEncKeyStatus
from bot.changes.actions.envs import CreateEnvironment, DeleteEnvironment, EnvironmentUpdates
from bot.changes.actions.keys import CreateKey, DeleteKey, KeyRotations, UpdateKey, rotation_name
from bot.changes.actions.rules import RuleCreations, RuleRemovals, RuleUpdates
from bot.changes.actions.subdomains import CreateSubdomain, DeleteSubdomain, VerifySubdomain
from bot.changes.actions.webhooks import CreateWebhook, DeleteWebhook, WebhookUpdates
from bot.domain import ChangeRequest
from bot.log import get_logger
from bot.ports import Account
from bot.render import changes as say

log = get_logger(__name__)

ACTIONS: Mapping[str, Action] = {
    action.permission: action
    for action in (
        CreateEnvironment(),
        EnvironmentUpdates(),
        DeleteEnvironment(),
        CreateKey(),
        UpdateKey(),
        DeleteKey(),
        KeyRotations(),
        CreateWebhook(),
        WebhookUpdates(),
        DeleteWebhook(),
        RuleCreations(),
        RuleUpdates(),
        RuleRemovals(),
        SetEncKeyStatus(),
        EncKeyRotations(),
        CreateSubdomain(),
        VerifySubdomain(),
        DeleteSubdomain(),
    )
}
"""Every change fpbot can make, keyed by the permission it needs."""


async def plan(client: Account, command: commands.Command) -> Plan:
    """Validate a parsed command against the account and describe the change it would make.

    Raises:
        PlanError: the change cannot or need not be made; the text says why.
        FingerprintError: the account could not be read.
    """
    action = ACTIONS.get(command.permission or "")
    if action is None:
        raise PlanError(say.not_a_change(command.usage))
    return await action.plan(client, command)


async def execute(
    client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
) -> Execution:
    """Run an approved request's change once. fpbot repeats no write; which writes the client
    retries is in `base`.

    Raises:
        ExecutionFailed: the change failed; ``state_of_account`` says what is now true.
    """
    action = ACTIONS.get(request.action)
    if action is None:
        raise ExecutionFailed(
            say.unknown_change(request.action),
            cause=None,
            state_of_account=say.NOTHING_CHANGED,
        )
    log.info("change_executing", request_id=request.id, action=request.action)
    return await action.execute(client, request, deliver_secret)


async def reconcile(
    client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
) -> Reconciliation:
    """Decide whether a request interrupted in ``executing`` took effect, from the account.

    The only write it may make is disabling a key or webhook whose secret was lost; one whose
    secret the audit says was ``delivered`` (by resource id) is left as it is.

    Raises:
        FingerprintError: the account could not be read; try again later.
    """
    action = ACTIONS.get(request.action)
    if action is None:
        return failed(say.unknown_change_not_run(request.action))
    return await action.reconcile(client, request, delivered)


__all__ = [
    "ACTIONS",
    "ENV_ID_PREFIXES",
    "Action",
    "DeliverSecret",
    "Execution",
    "ExecutionFailed",
    "Plan",
    "PlanError",
    "Postponed",
    "Reconciliation",
    "SecretDelivery",
    "execute",
    "find_env",
    "plan",
    "reconcile",
    "rotation_name",
]
