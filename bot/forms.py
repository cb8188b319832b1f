"""Forms: every change asked for without typing an id, and the Deny that asks why.

A change command typed without its arguments, ``/fp new``, the global shortcut and the ⋯ menu
on a listing's rows all open a form. Its menus are filled from the client's cached listings as
the person types; what is submitted is checked by the very rules of the typed command
(`bot.commands.from_form`), errors shown next to their field, and makes exactly the request
the typed command would make. Slack gives a form's handler three seconds, so everything here
that the answer waits for is quick: parsing, and a look at the cached listings bounded in time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bot import commands as cmd
from bot.changes.actions import PlanError
from bot.changes.workflow import ChangeWorkflow
from bot.domain.approvals import Refused, on_deny
from bot.fingerprint.errors import FingerprintError
from bot.log import get_logger
from bot.policy import Actor, Membership, Policy, actor_of, decide, may_approve
from bot.ports import Account, Conversation, Origin, RequestStore
from bot.render import forms as views
from bot.render import ids, replies
from bot.render.blocks import one_line
from bot.render.errors import summary_of

log = get_logger(__name__)

#: How long a submission may wait on the account to check the ids picked (the listings are
#: cached; past this, the check is left to planning, after the form has closed).
CHECK_WITHIN = 1.5
#: How long a menu waits on the account for its options: Slack drops an answer after three
#: seconds, and an empty menu that says "no matches" beats one that never fills.
OPTIONS_WITHIN = 2.0
#: The most options a menu shows (Slack's own limit).
MAX_OPTIONS = 100

_KIND_OF_ACTION: Mapping[str, cmd.FieldKind] = {
    ids.PICK_ENV: cmd.FieldKind.ENV,
    ids.PICK_KEY: cmd.FieldKind.KEY,
    ids.PICK_WEBHOOK: cmd.FieldKind.WEBHOOK,
    ids.PICK_RULE: cmd.FieldKind.RULE,
    ids.PICK_ENCKEY: cmd.FieldKind.ENCKEY,
    ids.PICK_SUBDOMAIN: cmd.FieldKind.SUBDOMAIN,
}
_CHANGES_BY_NAME: Mapping[str, type[cmd.ChangeCommand]] = {c.__name__: c for c in cmd.FORMS}


class Forms:
    """Opens the forms, fills their menus, checks and submits them."""

    def __init__(
        self,
        *,
        policy: Policy,
        groups: Membership,
        client: Account,
        store: RequestStore,
        slack: Conversation,
        changes: ChangeWorkflow,
    ) -> None:
        self._policy = policy
        self._groups = groups
        self._client = client
        self._store = store
        self._slack = slack
        self._changes = changes

    # ── opening ─────────────────────────────────────────────────────────────────────────

    async def open(
        self, command: cmd.NewRequest | cmd.OpenForm, actor: Actor, origin: Origin
    ) -> None:
        """Open the picker (``/fp new``) or one change's form (``/fp envs rename``)."""
        await self._changes.guarded(
            "the form", None, origin, self._open_for(command, actor, origin)
        )

    async def _open_for(
        self, command: cmd.NewRequest | cmd.OpenForm, actor: Actor, origin: Origin
    ) -> None:
        if isinstance(command, cmd.OpenForm):
            await self.open_change(command.change, actor, origin)
            return
        await self._open(
            origin, views.render_picker(self._allowed(actor, origin), channel_id=origin.channel_id)
        )

    async def open_change(
        self,
        change: type[cmd.ChangeCommand],
        actor: Actor,
        origin: Origin,
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        change = cmd.for_version(change, self._client.api_version)
        needed = cmd.needs_other_version(change, self._client.api_version)
        if needed is not None:
            await self._slack.answer(
                origin,
                replies.render_wrong_version(change.usage, needed, self._client.api_version),
            )
            return
        decision = decide(self._policy, actor, change, origin.channel_id or None)
        if not decision.allowed:
            await self._slack.answer(origin, replies.render_denial(decision))
            return
        view = views.render_form(
            change,
            channel_id=origin.channel_id,
            reason_required=self._policy.approvals.reason_required,
            initial=initial,
        )
        await self._open(origin, view)

    async def shortcut(self, origin: Origin) -> None:
        """The global shortcut: the picker, whatever channel (none) it came from."""
        await self._changes.guarded("the shortcut", None, origin, self._shortcut(origin))

    async def _shortcut(self, origin: Origin) -> None:
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        await self._open(origin, views.render_picker(self._allowed(actor, origin), channel_id=""))

    async def picked(
        self, change_name: str, origin: Origin, *, view_id: str, view_hash: str | None
    ) -> None:
        """A change chosen in the picker: the picker becomes that change's form."""
        await self._changes.guarded(
            "the picker", None, origin, self._picked(change_name, origin, view_id, view_hash)
        )

    async def _picked(
        self, change_name: str, origin: Origin, view_id: str, view_hash: str | None
    ) -> None:
        change = _CHANGES_BY_NAME.get(change_name)
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        if change is None or not decide(self._policy, actor, change, None).allowed:
            return
        view = views.render_form(
            change,
            channel_id=origin.channel_id,
            reason_required=self._policy.approvals.reason_required,
        )
        try:
            await self._slack.update_form(view_id, view, view_hash=view_hash)
        except Exception as exc:  # a stale hash: the person changed it again meanwhile
            log.warning("form_not_updated", error=getattr(exc, "error", type(exc).__name__))

    async def row_menu(self, value: str, origin: Origin) -> None:
        """An option of the ⋯ menu on a listing's row (``<command>:<id>[:<status>]``): its
        form, with the row's environment, key or webhook (and status) already picked."""
        await self._changes.guarded("the ⋯ menu", None, origin, self._row_menu(value, origin))

    async def _row_menu(self, value: str, origin: Origin) -> None:
        name, resource_id, status = ([*value.split(":", 2), "", ""])[:3]
        change = _CHANGES_BY_NAME.get(name)
        if change is None or not resource_id:
            return
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        field = cmd.FORMS[change][0]
        initial: dict[str, Any] = {}
        picked = await self._option_for(field.kind, resource_id)
        if picked is not None:
            initial[field.name] = picked
        if status:
            initial["status"] = status
        await self.open_change(change, actor, origin, initial)

    def _allowed(self, actor: Actor, origin: Origin) -> list[type[cmd.ChangeCommand]]:
        """The changes ``actor`` may ask for here, in the picker's order."""
        channel = origin.channel_id or None
        version = self._client.api_version
        return [
            c
            for c in views.CHOICES
            if cmd.needs_other_version(c, version) is None
            and decide(self._policy, actor, c, channel).allowed
        ]

    async def _open(self, origin: Origin, view: dict[str, Any]) -> None:
        if not origin.trigger_id:
            log.warning("form_without_trigger")
            return
        try:
            await self._slack.open_form(origin.trigger_id, view)
        except Exception as exc:  # an expired trigger: Slack gives three seconds
            error = getattr(exc, "error", type(exc).__name__)
            log.warning("form_not_opened", error=error)
            await self._slack.answer(origin, replies.render_form_not_opened(str(error)))

    # ── menus ───────────────────────────────────────────────────────────────────────────

    async def options(self, action_id: str, typed: str) -> list[dict[str, Any]]:
        """The options of a menu, filtered by what was typed (name or id, any case), at most
        a hundred; an account that cannot be read in time gives none (the menu says so
        itself)."""
        kind = _KIND_OF_ACTION.get(action_id)
        if kind is None:
            return []
        wanted = typed.strip().casefold()
        try:
            async with asyncio.timeout(OPTIONS_WITHIN):
                return await self._options(kind, wanted)
        except FingerprintError as exc:
            log.warning("options_unavailable", kind=kind.value, error=exc.error_code)
        except TimeoutError:
            log.warning("options_too_slow", kind=kind.value, waited=OPTIONS_WITHIN)
        return []

    async def _options(self, kind: cmd.FieldKind, wanted: str) -> list[dict[str, Any]]:
        envs = await self._client.list_environments()
        if kind is cmd.FieldKind.ENV:
            found = [e for e in envs if wanted in e.name.casefold() or wanted in e.id.casefold()]
            found.sort(key=lambda e: (e.name.casefold(), e.id))
            return [views.environment_option(e) for e in found[:MAX_OPTIONS]]
        names = {e.id: e.name for e in envs}
        if kind is cmd.FieldKind.RULE:
            rules = [
                r
                for r in await self._client.list_filtering_rules()
                if wanted in r.name.casefold()
                or wanted in r.id.casefold()
                or wanted in r.expression.casefold()
            ]
            rules.sort(key=lambda r: (names.get(r.environment or "", ""), r.position or 0))
            return [views.rule_option(r, names) for r in rules[:MAX_OPTIONS]]
        if kind is cmd.FieldKind.ENCKEY:
            enckeys = [
                k
                for k in await self._client.list_encryption_keys()
                if wanted in (k.name or "").casefold()
                or wanted in k.id.casefold()
                or wanted in names.get(k.environment or "", "").casefold()
            ]
            enckeys.sort(key=lambda k: ((k.name or "").casefold(), k.id))
            return [views.enckey_option(k, names) for k in enckeys[:MAX_OPTIONS]]
        if kind is cmd.FieldKind.SUBDOMAIN:
            subdomains = [
                d
                for d in await self._client.list_subdomains()
                if wanted in d.subdomain.casefold() or wanted in d.id.casefold()
            ]
            subdomains.sort(key=lambda d: (d.subdomain, d.id))
            return [views.subdomain_option(d) for d in subdomains[:MAX_OPTIONS]]
        if kind is cmd.FieldKind.KEY:
            keys = [
                k
                for k in await self._client.list_api_keys()
                if wanted in (k.name or "").casefold() or wanted in k.id.casefold()
            ]
            keys.sort(key=lambda k: ((k.name or "").casefold(), k.id))
            return [views.key_option(k, names) for k in keys[:MAX_OPTIONS]]
        hooks = [
            h
            for h in await self._client.list_webhooks()
            if wanted in h.url.casefold() or wanted in h.id.casefold()
        ]
        hooks.sort(key=lambda h: (h.url.casefold(), h.id))
        return [views.webhook_option(h) for h in hooks[:MAX_OPTIONS]]

    async def _option_for(self, kind: cmd.FieldKind, resource_id: str) -> dict[str, Any] | None:
        """The option a menu would show for ``resource_id`` (to pick it in advance)."""
        try:
            found = await self._options(kind, resource_id.casefold())
        except FingerprintError:
            return None
        return next((o for o in found if o["value"] == resource_id), None)

    # ── submitting ──────────────────────────────────────────────────────────────────────

    async def check(
        self, callback_id: str, values: Mapping[str, str | None]
    ) -> tuple[cmd.ChangeCommand | None, dict[str, str]]:
        """The command a submitted form makes, or what is wrong with it, by field (block)
        name. The picked ids are checked against the account when it answers in time."""
        change = views.change_of(callback_id)
        if change is None:
            return None, {}
        try:
            command = cmd.from_form(change, values)
        except cmd.FormErrors as errors:
            return None, errors.problems
        if self._policy.approvals.reason_required and not command.reason:
            return None, {"reason": replies.REASON_NEEDED}
        problems = await self._missing_ids(change, values)
        return (None, problems) if problems else (command, {})

    async def _missing_ids(
        self, change: type[cmd.ChangeCommand], values: Mapping[str, str | None]
    ) -> dict[str, str]:
        problems: dict[str, str] = {}
        for field in cmd.FORMS[change]:
            value = values.get(field.name)
            if not value or field.kind not in _KIND_OF_ACTION.values():
                continue
            try:
                async with asyncio.timeout(CHECK_WITHIN):
                    found = await self._option_for(field.kind, value)
            except TimeoutError:
                continue  # planning checks it, after the form has closed
            if found is None:
                problems[field.name] = replies.gone_from_account(field.name)
        return problems

    async def submit(self, command: cmd.ChangeCommand, origin: Origin) -> None:
        """Make the request a checked form stands for (after its form closed), and answer as
        the typed command would: the receipt, or why it cannot be made."""
        await self._changes.guarded("the form", None, origin, self._submit(command, origin))

    async def _submit(self, command: cmd.ChangeCommand, origin: Origin) -> None:
        try:
            request = await self._changes.request(command, origin)
        except PlanError as exc:
            await self._slack.answer(origin, replies.render_form_refused(str(exc)))
            return
        except FingerprintError as exc:
            await self._slack.answer(origin, replies.render_form_refused(summary_of(exc)))
            return
        await self._slack.answer(origin, await self._changes.receipt(request))

    # ── denying, with a reason ──────────────────────────────────────────────────────────

    async def open_deny(self, request_id: str, origin: Origin) -> None:
        """A Deny click: refused at once if the rules say no, else the form asking why."""
        await self._changes.guarded("Deny", request_id, origin, self._open_deny(request_id, origin))

    async def _open_deny(self, request_id: str, origin: Origin) -> None:
        request = await self._store.get(request_id)
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        outcome = on_deny(
            request,
            origin.user_id,
            may_approve=decide(self._policy, actor, "requests.approve").allowed,
            on_route=may_approve(self._policy, actor, request.environment if request else None),
            allow_self_approval=self._policy.approvals.allow_self_approval,
            now=self._changes.now(),
            request_id=request_id,
        )
        if isinstance(outcome, Refused) or request is None:
            # The workflow tells the clicker why and records the refusal.
            await self._changes.click(request_id, approve=False, origin=origin)
            return
        view = views.render_deny_form(
            request.id,
            one_line(request.summary, 500),
            reason_required=self._policy.approvals.reason_required,
        )
        message = origin.message
        extra = {"request": request.id}
        if message is not None:
            extra.update(card_channel=message.channel, card_ts=message.ts)
        view["private_metadata"] = views.metadata(origin.channel_id, **extra)
        await self._open(origin, view)

    def check_deny(self, reason: str | None) -> dict[str, str]:
        """What is wrong with a Deny's reason (the field's error), if anything."""
        if self._policy.approvals.reason_required and not (reason or "").strip():
            return {"reason": replies.REASON_NEEDED}
        try:
            cmd.check_reason(reason or "")
        except cmd.UsageError as error:
            return {"reason": cmd.as_field_error(error)}
        return {}

    async def deny(self, request_id: str, reason: str | None, origin: Origin) -> None:
        """The Deny form submitted: deny, with the reason (the rules are asked again)."""
        await self._changes.click(
            request_id, approve=False, origin=origin, note=(reason or "").strip() or None
        )
