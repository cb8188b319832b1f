"""What happens after ``/fp`` is acknowledged: authorize once, then do the one thing asked.

Handlers turn a Slack payload into a parsed `Command` and an `Origin`, ack, and hand over here.
The first step is the single authorization gate — `decide` from the policy, with the caller's
user groups resolved — so a refused command reaches neither the API nor the store. Every answer
goes back through the `Conversation` port; every failure becomes a short message with a
correlation id for the person, and a grouped notification for the operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from bot import commands as cmd
from bot.changes import actions
from bot.changes.cards import card_of
from bot.changes.workflow import ChangeWorkflow
from bot.domain import State
from bot.domain.incidents import Cause
from bot.fingerprint.errors import FingerprintError, OriginRulesUnreadable, WrongApiVersion
from bot.fingerprint.models import OriginRules
from bot.forms import Forms
from bot.ledger import Ledger
from bot.log import get_logger
from bot.metrics import Metrics
from bot.notify import Failure, Notifier, describe
from bot.policy import (
    Actor,
    Membership,
    Policy,
    Reason,
    actor_of,
    decide,
    may_approve,
    permissions_of,
    roles_of,
)
from bot.ports import Account, Conversation, Origin, RequestStore
from bot.render import (
    Message,
    render_api_keys,
    render_environments,
    render_error,
    render_help,
    render_refusal,
    render_requests,
    render_webhooks,
    render_whoami,
    replies,
)
from bot.render.enckeys import render_encryption_keys
from bot.render.errors import summary_of
from bot.render.rules import render_filtering_rules, render_origin_rules
from bot.render.subdomains import render_subdomains
from bot.singleflight import SingleFlight
from bot.store import StoreUnavailable
from bot.watch.digest import Digest

log = get_logger(__name__)

#: ``/fp requests`` links at most this many cards (one ``chat.getPermalink`` each).
LINKED = 20
#: Origin lists read at once for ``/fp rules`` under 2024-05-20 (the rate budget paces them).
ORIGIN_READS = 5


class CommandRunner:
    """Runs parsed commands for one workspace's policy."""

    def __init__(
        self,
        *,
        policy: Policy,
        groups: Membership,
        client: Account,
        store: RequestStore,
        slack: Conversation,
        notifier: Notifier,
        changes: ChangeWorkflow,
        forms: Forms,
        ledger: Ledger,
        digest: Digest,
        metrics: Metrics | None = None,
    ) -> None:
        self._forms = forms
        self._ledger = ledger
        self._digest = digest
        self._metrics = metrics
        self._policy = policy
        self._groups = groups
        self._client = client
        self._store = store
        self._slack = slack
        self._notifier = notifier
        self._changes = changes
        self._renders: SingleFlight[list[Message]] = SingleFlight()

    async def run(self, command: cmd.Command, origin: Origin) -> None:
        """Authorize and run ``command``; never raises (the user is always answered)."""
        with structlog.contextvars.bound_contextvars(
            request_id=origin.correlation_id, user=origin.user_id, command=type(command).__name__
        ):
            outcome = "ok"
            try:
                if not await self._run(command, origin):
                    outcome = "denied"
                elif _reads_the_store(command):
                    self._notifier.proven({Cause.STORE_UNREACHABLE})
            except FingerprintError as exc:
                outcome = "api_error"
                await self._upstream_failed(command, origin, exc)
            except StoreUnavailable as exc:
                outcome = "store_error"
                await self._store_failed(command, origin, exc)
            except actions.PlanError as exc:
                outcome = "refused"
                await self._slack.answer(origin, render_refusal(str(exc)))
            except Exception:
                outcome = "error"
                log.exception("command_failed")
                await self._slack.answer(
                    origin, replies.render_internal_error(origin.correlation_id)
                )
            except asyncio.CancelledError:
                # Shutdown ran out of time for this command: say so rather than leave the
                # person waiting for an answer that will never come.
                outcome = "interrupted"
                log.warning("command_interrupted")
                await self._interrupted(command, origin)
                raise
            finally:
                if self._metrics is not None:
                    name = command_label(command) or "form"
                    self._metrics.commands.labels(command=name, outcome=outcome).inc()

    async def _interrupted(self, command: cmd.Command, origin: Origin) -> None:
        message = replies.render_interrupted(
            origin.correlation_id, command=command_label(command), changes=command.makes_change
        )
        try:
            await self._slack.answer(origin, message)
        except asyncio.CancelledError:
            log.warning("interruption_not_told")

    async def _run(self, command: cmd.Command, origin: Origin) -> bool:
        """Run ``command``; ``False`` when the policy refused it."""
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        decision = decide(self._policy, actor, command, origin.channel_id)
        if not decision.allowed:
            log.info("command_refused", reason=decision.reason.name)
            await self._slack.answer(origin, replies.render_denial(decision))
            return False
        log.info("command_accepted")
        needed = cmd.needs_other_version(command, self._client.api_version)
        if needed is not None:
            # Not an error of Fingerprint's, nor the operators' concern: the command is for
            # the other API version.
            await self._slack.answer(
                origin,
                replies.render_wrong_version(command.usage, needed, self._client.api_version),
            )
            return False
        match command:
            case cmd.Help(topic=topic):
                await self._slack.answer(origin, self._help(actor, origin.channel_id, topic))
            case cmd.WhoAmI():
                await self._slack.answer(
                    origin,
                    render_whoami(
                        origin.user_id,
                        sorted(roles_of(self._policy, actor)),
                        sorted(permissions_of(self._policy, actor)),
                        admins=self._policy.admins,
                    ),
                )
            case cmd.ListEnvs():
                menus = self._menus(actor, origin)
                await self._listing(
                    origin, "environments", (command, menus), lambda: self._environments(menus)
                )
            case cmd.ListKeys():
                keys = replace(command, environment=await self._env_id(command.environment))
                menus = self._menus(actor, origin)
                await self._listing(
                    origin, "API keys", (keys, menus), lambda: self._keys(keys, menus)
                )
            case cmd.ListWebhooks():
                hooks = replace(command, environment=await self._env_id(command.environment))
                menus = self._menus(actor, origin)
                await self._listing(
                    origin, "webhooks", (hooks, menus), lambda: self._webhooks(hooks, menus)
                )
            case cmd.ListRules():
                rules = replace(command, environment=await self._env_id(command.environment))
                menus = self._menus(actor, origin)
                await self._listing(
                    origin, "filtering rules", (rules, menus), lambda: self._rules(rules, menus)
                )
            case cmd.ListEncKeys():
                enckeys = replace(command, environment=await self._env_id(command.environment))
                menus = self._menus(actor, origin)
                await self._listing(
                    origin,
                    "encryption keys",
                    (enckeys, menus),
                    lambda: self._enckeys(enckeys, menus),
                )
            case cmd.ListSubdomains():
                menus = self._menus(actor, origin)
                await self._listing(
                    origin, "custom subdomains", (command, menus), lambda: self._subdomains(menus)
                )
            case cmd.ListRequests():
                await self._slack.answer(origin, await self._requests(actor))
            case cmd.WithdrawRequest(request_id=request_id):
                await self._changes.withdraw(request_id, origin)
            case cmd.Audit(limit=limit, request_id=request_id, user=user, since=since):
                stories = await self._ledger.audit(
                    limit, request_id=request_id, user=user, since=since
                )
                await self._slack.answer(origin, stories)
            case cmd.Changes(limit=limit, environment=environment, since=since):
                await self._slack.answer(
                    origin,
                    await self._ledger.changes(
                        limit, environment=await self._env_id(environment), since=since
                    ),
                )
            case cmd.Digest():
                await self._slack.answer(origin, await self._digest.render())
            case cmd.NewRequest() | cmd.OpenForm():
                await self._forms.open(command, actor, origin)
            case _:
                request = await self._changes.request(command, origin)
                await self._slack.answer(origin, await self._changes.receipt(request))
        return True

    # ── read commands ───────────────────────────────────────────────────────────────────

    def _help(self, actor: Actor, channel_id: str, topic: str | None) -> Message:
        """Only what this caller may use here (the same `decide`, as a dry run), in the
        Management API version fpbot speaks."""
        if not roles_of(self._policy, actor):
            return render_help([], admins=self._policy.admins)
        entries: list[tuple[str, str]] = []
        elsewhere: frozenset[str] = frozenset()
        changes = False
        for line in cmd.usage_lines(topic):
            if cmd.needs_other_version(line.command, self._client.api_version):
                continue  # a command of the other Management API version would only refuse
            decision = decide(self._policy, actor, line.command, channel_id)
            if decision.allowed:
                entries.append((f"{cmd.SLASH_COMMAND} {line.usage}", line.summary))
                changes = changes or line.command.makes_change
            elif decision.reason is Reason.CHANNEL_NOT_ALLOWED:
                elsewhere = decision.allowed_channels
        approver = decide(self._policy, actor, "requests.approve", command_is_channel_guarded=False)
        routes = {r.channel for r in self._policy.approvals.routes if r.channel}
        cards_in = self._policy.channels.approvals or ""
        return render_help(
            entries,
            topic=topic,
            elsewhere=elsewhere,
            changes=changes,
            reason_required=self._policy.approvals.reason_required,
            approves_in=(cards_in if not routes else "") if approver.allowed else None,
            admins=self._policy.admins,
        )

    def _menus(self, actor: Actor, origin: Origin) -> frozenset[str]:
        """The changes the rows' ⋯ menus offer: those the person listing may ask for here
        (anyone else who clicks one is judged when the form opens)."""
        return frozenset(
            change.__name__
            for change in cmd.FORMS
            if decide(self._policy, actor, change, origin.channel_id or None).allowed
        )

    async def _environments(self, menus: frozenset[str]) -> list[Message]:
        return render_environments(await self._client.list_environments(), menus=menus)

    async def _env_id(self, ref: str | None) -> str | None:
        """A listing's ``--env``: an id as given, a name resolved to its id (refused,
        `actions.PlanError`, when no environment or several have it)."""
        if ref is None or ref.startswith(actions.ENV_ID_PREFIXES):
            return ref
        return actions.find_env(await self._client.list_environments(), ref).id

    async def _env_names(self) -> dict[str, str]:
        return {env.id: env.name for env in await self._client.list_environments()}

    async def _keys(self, command: cmd.ListKeys, menus: frozenset[str]) -> list[Message]:
        keys, names = await asyncio.gather(
            self._client.list_api_keys(
                type=command.type, status=command.status, environment=command.environment
            ),
            self._env_names(),
        )
        filters = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("type", command.type),
                ("status", command.status),
                ("environment", names.get(command.environment or "", command.environment)),
            )
            if value
        )
        return render_api_keys(keys, names, filters=filters, menus=menus)

    async def _webhooks(self, command: cmd.ListWebhooks, menus: frozenset[str]) -> list[Message]:
        hooks, names = await asyncio.gather(
            self._client.list_webhooks(status=command.status, environment=command.environment),
            self._env_names(),
        )
        return render_webhooks(hooks, names, menus=menus)

    async def _rules(self, command: cmd.ListRules, menus: frozenset[str]) -> list[Message]:
        """An environment's filtering rules, or every environment's: origin lists under
        ``2024-05-20`` (one read per environment, as the API has no listing of them),
        expression rules under ``2025-11-20``."""
        names = await self._env_names()
        if self._client.api_version == cmd.API_2025:
            rules = await self._client.list_filtering_rules(environment=command.environment)
            total = len(rules) if command.environment is None else None
            return render_filtering_rules(rules, names, total=total, menus=menus)
        wanted = [command.environment] if command.environment else list(names)
        gate = asyncio.Semaphore(ORIGIN_READS)

        async def read(env_id: str) -> OriginRules:
            async with gate:
                return await self._client.origin_rules(env_id)

        return render_origin_rules(await asyncio.gather(*map(read, wanted)), names, menus=menus)

    async def _enckeys(self, command: cmd.ListEncKeys, menus: frozenset[str]) -> list[Message]:
        keys, names = await asyncio.gather(
            self._client.list_encryption_keys(
                status=command.status, environment=command.environment
            ),
            self._env_names(),
        )
        return render_encryption_keys(keys, names, menus=menus)

    async def _subdomains(self, menus: frozenset[str]) -> list[Message]:
        return render_subdomains(await self._client.list_subdomains(), menus=menus)

    async def _requests(self, actor: Actor) -> Message:
        """The pending requests the caller may still act on: their own (to withdraw), and
        those they may approve and have not (the environment's route decides), each with a
        link to its card — and the caller's rotations still in their grace period."""
        pending = await self._store.list_requests(states=[State.PENDING], limit=None)
        actionable = [
            r
            for r in pending
            if r.requester == actor.user_id
            or (
                actor.user_id not in r.approvers and may_approve(self._policy, actor, r.environment)
            )
        ]
        links = {}
        for request in actionable[:LINKED]:
            card = card_of(request)
            link = await self._slack.permalink(card) if card else None
            if link:
                links[request.id] = link
        graces = await self._store.open_graces(actor.user_id)
        return render_requests(
            actionable, now=datetime.now(UTC), viewer=actor.user_id, links=links, graces=graces
        )

    async def _listing(
        self,
        origin: Origin,
        what: str,
        key: Hashable,
        fetch: Callable[[], Awaitable[list[Message]]],
    ) -> None:
        """Post a listing to the channel. Identical listings asked for at the same time are
        fetched and rendered once (``key``: the command, a frozen dataclass, and the menus
        its rows offer)."""
        await self._slack.deliver_listing(origin, what, self._renders.run(key, fetch))

    # ── failures ────────────────────────────────────────────────────────────────────────

    async def _upstream_failed(
        self, command: cmd.Command, origin: Origin, exc: FingerprintError
    ) -> None:
        if not exc.correlation_id:
            exc.correlation_id = origin.correlation_id
        label = command_label(command)
        await self._slack.answer(origin, render_error(exc, what=f"run `/fp {label}`"))
        if isinstance(exc, OriginRulesUnreadable | WrongApiVersion):
            return  # what the API version can do, not a failure the operators can fix
        await self._notifier.report(
            Failure(
                title=summary_of(exc),
                operation=f"/fp {label}",
                error_code=exc.error_code,
                detail=describe(exc),
                correlation_id=exc.correlation_id,
                user=origin.user_id,
            )
        )

    async def _store_failed(
        self, command: cmd.Command, origin: Origin, exc: StoreUnavailable
    ) -> None:
        label = command_label(command)
        await self._slack.answer(
            origin, replies.render_store_unreachable(origin.correlation_id, command=label)
        )
        await self._notifier.report(
            Failure.store_unavailable(
                f"/fp {label}", exc, origin.correlation_id, user=origin.user_id
            )
        )


def _reads_the_store(command: cmd.Command) -> bool:
    """Whether running ``command`` went through the store (so its success proves it up)."""
    return command.makes_change or isinstance(
        command, cmd.ListRequests | cmd.WithdrawRequest | cmd.Audit | cmd.Changes | cmd.Digest
    )


def command_label(command: cmd.Command) -> str:
    """The words that name a command (``keys rotate``), for errors and notifications."""
    words = []
    for word in type(command).usage.split():
        if word.startswith(("<", "[")):
            break
        words.append(word)
    return " ".join(words)
