"""The buttons on a change made outside fpbot: Acknowledge, Revert, Keep.

Acknowledge records who has seen it (anyone the policy grants a role); Keep records that it
stays, and Revert asks for the change that undoes it — both need the permission that change
would need, since deciding to keep a change is deciding not to undo it. A Revert is a change
request like any other (`ChangeWorkflow.request`): planned against the account, approved by
others under the policy, run once. What fpbot has no command for (a deletion, a description,
an encryption key's rename or rotation, a filtering rule's environment) is said on the
message, not offered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from bot import commands as cmd
from bot.changes import actions
from bot.changes.workflow import ChangeWorkflow
from bot.domain.account import AccountChange, ChangeKind, Decision, LoggedChange, Resource, Source
from bot.fingerprint.models import RuleAction, Status
from bot.log import get_logger
from bot.policy import Membership, Policy, actor_of, decide, roles_of
from bot.ports import Conversation, Origin, Posted
from bot.render import render_refusal
from bot.render.blocks import Message
from bot.render.replies import denial
from bot.render.watch import (
    already_decided,
    cannot_undo,
    no_such_change,
    render_decided,
    render_outside_changes,
    undo_reason,
)
from bot.store import Store

log = get_logger(__name__)

#: The fields fpbot has a command to set back, per resource.
UNDOABLE: Mapping[Resource, frozenset[str]] = {
    Resource.ENVIRONMENT: frozenset({"name"}),
    Resource.API_KEY: frozenset({"name", "status"}),
    Resource.WEBHOOK: frozenset({"status"}),
    Resource.FILTERING_RULE: frozenset({"name", "expression", "action", "status"}),
    Resource.ENCRYPTION_KEY: frozenset({"status"}),
    Resource.SUBDOMAIN: frozenset(),
}
#: The resources fpbot has a command to delete (what undoes their creation).
_DELETABLE = frozenset(
    {
        Resource.ENVIRONMENT,
        Resource.API_KEY,
        Resource.WEBHOOK,
        Resource.FILTERING_RULE,
        Resource.SUBDOMAIN,
    }
)
_AREAS: Mapping[Resource, str] = {
    Resource.ENVIRONMENT: "envs",
    Resource.API_KEY: "keys",
    Resource.WEBHOOK: "webhooks",
    Resource.FILTERING_RULE: "rules",
    Resource.ENCRYPTION_KEY: "enckeys",
    Resource.SUBDOMAIN: "subdomains",
}


def undoable(change: AccountChange) -> frozenset[str]:
    """The fields of ``change`` fpbot can set back (a creation: ``{"*"}``, deleting undoes
    it; a deletion: none)."""
    if change.kind is ChangeKind.DELETED:
        return frozenset()
    if change.kind is ChangeKind.CREATED:
        return frozenset({"*"}) if change.resource in _DELETABLE else frozenset()
    can = UNDOABLE[change.resource]
    return frozenset(f.field for f in change.fields if f.field in can and f.before is not None)


def undo_commands(change: AccountChange, reason: str) -> list[cmd.ChangeCommand]:
    """The change requests that undo what fpbot can undo of ``change``."""
    if change.kind is ChangeKind.DELETED:
        return []
    if change.kind is ChangeKind.CREATED:
        deletions: Mapping[Resource, cmd.ChangeCommand] = {
            Resource.ENVIRONMENT: cmd.DeleteEnv(change.id, reason),
            Resource.API_KEY: cmd.DeleteKey(change.id, reason),
            Resource.WEBHOOK: cmd.DeleteWebhook(change.id, reason),
            Resource.FILTERING_RULE: cmd.RemoveRule(change.id, reason=reason),
            Resource.SUBDOMAIN: cmd.DeleteSubdomain(change.id, reason),
        }
        deletion = deletions.get(change.resource)
        return [] if deletion is None else [deletion]
    can = undoable(change)
    if change.resource is Resource.FILTERING_RULE:
        return _undo_rule(change, can, reason)
    commands: list[cmd.ChangeCommand] = []
    for field in change.fields:
        before = field.before
        if field.field not in can or before is None:
            continue
        match change.resource, field.field:
            case Resource.ENVIRONMENT, "name":
                commands.append(cmd.RenameEnv(change.id, before, reason))
            case Resource.API_KEY, "name":
                commands.append(cmd.RenameKey(change.id, before, reason))
            case Resource.API_KEY, "status":
                commands.append(cmd.SetKeyStatus(change.id, Status(before), reason))
            case Resource.WEBHOOK, "status":
                commands.append(cmd.SetWebhookStatus(change.id, Status(before), reason))
            case Resource.ENCRYPTION_KEY, "status":
                commands.append(cmd.SetEncKeyStatus(change.id, Status(before), reason))
    return commands


def _undo_rule(change: AccountChange, can: frozenset[str], reason: str) -> list[cmd.ChangeCommand]:
    """One `cmd.ChangeRule` for every field of a rule that can be set back: one request, as
    fpbot asks for one change of a rule at a time."""
    before = {f.field: f.before for f in change.fields if f.field in can and f.before is not None}
    if not before:
        return []
    status, action = before.get("status"), before.get("action")
    return [
        cmd.ChangeRule(
            change.id,
            expression=before.get("expression"),
            action=RuleAction(action) if action is not None else None,
            name=before.get("name"),
            status=Status(status) if status is not None else None,
            reason=reason,
        )
    ]


def deciding_permission(change: AccountChange) -> str:
    """What Keep and Revert need: the permission of the change that would undo it (an
    encryption key, which fpbot cannot delete: changing one)."""
    deletes = change.kind is ChangeKind.CREATED and change.resource in _DELETABLE
    return f"{_AREAS[change.resource]}.{'delete' if deletes else 'update'}"


class OutsideChanges:
    """Shows the changes the watch found, and handles their buttons."""

    def __init__(
        self,
        *,
        store: Store,
        slack: Conversation,
        policy: Policy,
        groups: Membership,
        changes: ChangeWorkflow,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._slack = slack
        self._policy = policy
        self._groups = groups
        self._changes = changes
        self._clock = clock

    def message(self, found: list[LoggedChange]) -> Message:
        """The message that reports one pass's findings, as they stand."""
        return render_outside_changes(found, undoable={c.id: undoable(c.change) for c in found})

    async def acknowledge(self, value: str, origin: Origin) -> None:
        await self._changes.guarded("Acknowledge", None, origin, self._acknowledge(value, origin))

    async def keep(self, value: str, origin: Origin) -> None:
        await self._changes.guarded("Keep", None, origin, self._keep(value, origin))

    async def revert(self, value: str, origin: Origin) -> None:
        await self._changes.guarded("Revert", None, origin, self._revert(value, origin))

    async def _load(self, value: str, origin: Origin) -> LoggedChange | None:
        logged = await self._store.logged_change(int(value)) if value.isdigit() else None
        if logged is None or logged.source is not Source.OUTSIDE:
            await self._slack.answer(origin, render_refusal(no_such_change(value)))
            return None
        return logged

    async def _acknowledge(self, value: str, origin: Origin) -> None:
        logged = await self._load(value, origin)
        if logged is None:
            return
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        if not roles_of(self._policy, actor):
            refused = decide(self._policy, actor, "audit.read", command_is_channel_guarded=False)
            await self._slack.answer(origin, render_refusal(denial(refused)))
            return
        await self._decide(logged, Decision.ACKNOWLEDGED, origin)

    async def _keep(self, value: str, origin: Origin) -> None:
        logged = await self._load(value, origin)
        if logged is None or not await self._may_decide(logged, origin):
            return
        await self._decide(logged, Decision.KEPT, origin)

    async def _revert(self, value: str, origin: Origin) -> None:
        logged = await self._load(value, origin)
        if logged is None or not await self._may_decide(logged, origin):
            return
        if logged.decision not in (None, Decision.ACKNOWLEDGED):
            await self._slack.answer(origin, render_refusal(already_decided(logged)))
            return
        commands = undo_commands(logged.change, undo_reason(logged.id))
        if not commands:
            why = cannot_undo(logged.change, frozenset()) or ""
            await self._slack.answer(origin, render_refusal(why))
            return
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        for command in commands:
            allowed = decide(self._policy, actor, command)
            if not allowed.allowed:
                await self._slack.answer(origin, render_refusal(denial(allowed)))
                return
        requested = []
        for command in commands:
            try:
                request = await self._changes.request(command, origin)
            except actions.PlanError as exc:
                await self._slack.answer(origin, render_refusal(str(exc)))
                break
            requested.append(request)
            await self._slack.answer(origin, await self._changes.receipt(request))
        if not requested:
            return
        await self._decide(
            logged, Decision.REVERT_REQUESTED, origin, revert_request=requested[0].id
        )

    async def _may_decide(self, logged: LoggedChange, origin: Origin) -> bool:
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        permission = deciding_permission(logged.change)
        decision = decide(self._policy, actor, permission, command_is_channel_guarded=False)
        if not decision.allowed:
            await self._slack.answer(origin, render_refusal(denial(decision)))
        return decision.allowed

    async def _decide(
        self,
        logged: LoggedChange,
        decision: Decision,
        origin: Origin,
        *,
        revert_request: str | None = None,
    ) -> None:
        done = await self._store.decide_change(
            logged.id,
            decision,
            user=origin.user_id,
            at=self._clock(),
            revert_request=revert_request,
        )
        if done is None:
            current = await self._store.logged_change(logged.id) or logged
            await self._slack.answer(origin, render_refusal(already_decided(current)))
            return
        log.info("outside_change_decided", change=logged.id, decision=decision.value)
        if revert_request is None:  # a revert's answer is its request's receipt
            await self._slack.answer(origin, render_decided(done))
        await self.show(done, origin.message)

    async def show(self, logged: LoggedChange, clicked: Posted | None = None) -> None:
        """Edit the report of ``logged``'s pass to show the changes as they stand."""
        if logged.found_in is None:
            return
        where = (
            Posted(logged.report_channel, logged.report_ts)
            if logged.report_channel and logged.report_ts
            else clicked
        )
        if where is None:
            return
        found = await self._store.found_in(logged.found_in)
        try:
            await self._slack.edit(where, self.message(found))
        except Exception as exc:  # the decision is recorded; the message catches up later
            log.warning("outside_report_not_edited", error=str(exc))
