"""What happens after ``/fp`` is acknowledged: authorize once, then do the one thing asked.

Handlers turn a Slack payload into a parsed `Command` and an `Invocation`, ack, and hand over
here. The first step is the single authorization gate — `decide` from the policy, with the
caller's user groups resolved — so a refused command reaches neither the API nor the store.
Every answer goes back through the messenger; every failure becomes a short message with a
correlation id for the person, and a grouped notification for the operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from bot import commands as cmd
from bot.changes import actions
from bot.changes.model import State
from bot.changes.workflow import ChangeWorkflow, Origin
from bot.fingerprint.client import ManagementClient
from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.models import Environment
from bot.groups import GroupDirectory
from bot.log import get_logger
from bot.messenger import Posted, SlackDeliveryError, SlackMessenger
from bot.notify import Failure, Notifier, describe
from bot.policy import Actor, Policy, Reason, decide, permissions_of, roles_of
from bot.render import (
    Message,
    render_api_keys,
    render_audit,
    render_environments,
    render_error,
    render_fetching,
    render_help,
    render_refusal,
    render_request_created,
    render_requests,
    render_webhooks,
    render_whoami,
)
from bot.render.blocks import fallback, section
from bot.singleflight import SingleFlight
from bot.store import Store, StoreUnavailable

log = get_logger(__name__)

#: A listing slower than this first shows "Fetching…" (a large account at 5 requests/s).
FETCHING_AFTER = 1.0


@dataclass(frozen=True, slots=True)
class Invocation:
    """One ``/fp`` call, as Slack signed it."""

    user_id: str
    channel_id: str
    response_url: str
    correlation_id: str

    @property
    def origin(self) -> Origin:
        return Origin(self.user_id, self.channel_id, self.response_url, self.correlation_id)


class CommandRunner:
    """Runs parsed commands for one workspace's policy."""

    def __init__(
        self,
        *,
        policy: Policy,
        groups: GroupDirectory,
        client: ManagementClient,
        store: Store,
        messenger: SlackMessenger,
        notifier: Notifier,
        changes: ChangeWorkflow,
    ) -> None:
        self._policy = policy
        self._groups = groups
        self._client = client
        self._store = store
        self._messenger = messenger
        self._notifier = notifier
        self._changes = changes
        self._renders: SingleFlight[list[Message]] = SingleFlight()

    async def run(self, command: cmd.Command, inv: Invocation) -> None:
        """Authorize and run ``command``; never raises (the user is always answered)."""
        with structlog.contextvars.bound_contextvars(
            request_id=inv.correlation_id, user=inv.user_id, command=type(command).__name__
        ):
            try:
                await self._run(command, inv)
            except FingerprintError as exc:
                await self._upstream_failed(command, inv, exc)
            except StoreUnavailable as exc:
                await self._store_failed(command, inv, exc)
            except actions.PlanError as exc:
                await self._reply(inv, render_refusal(str(exc)))
            except Exception:
                log.exception("command_failed")
                await self._reply(
                    inv,
                    render_refusal(
                        "Something went wrong inside fpbot; nothing was changed. "
                        f"Correlation id: `{inv.correlation_id}`."
                    ),
                )
            except asyncio.CancelledError:
                # Shutdown ran out of time for this command: say so rather than leave the
                # person waiting for an answer that will never come.
                log.warning("command_interrupted")
                await self._interrupted(command, inv)
                raise

    async def _interrupted(self, command: cmd.Command, inv: Invocation) -> None:
        advice = (
            " Check `/fp requests` before asking again."
            if command.makes_change
            else " Please try again in a few seconds."
        )
        try:
            await self._messenger.respond(
                inv.response_url,
                render_refusal(
                    f"fpbot restarted before it could finish `/fp {command_label(command)}`."
                    f"{advice} Correlation id: `{inv.correlation_id}`."
                ),
                replace_original=False,
            )
        except (SlackDeliveryError, asyncio.CancelledError):
            log.warning("interruption_not_told")

    async def _run(self, command: cmd.Command, inv: Invocation) -> None:
        actor = await self._groups.actor(self._policy, inv.user_id)
        decision = decide(self._policy, actor, command, inv.channel_id)
        if not decision.allowed:
            log.info("command_refused", reason=decision.reason.name)
            await self._reply(inv, render_refusal(decision.message))
            return
        log.info("command_accepted")
        match command:
            case cmd.Help(topic=topic):
                await self._reply(inv, self._help(actor, inv.channel_id, topic))
            case cmd.WhoAmI():
                await self._reply(
                    inv,
                    render_whoami(
                        inv.user_id,
                        sorted(roles_of(self._policy, actor)),
                        sorted(permissions_of(self._policy, actor)),
                    ),
                )
            case cmd.ListEnvs():
                await self._listing(inv, "environments", command, self._environments)
            case cmd.ListKeys():
                await self._listing(inv, "API keys", command, lambda: self._keys(command))
            case cmd.ListWebhooks():
                await self._listing(inv, "webhooks", command, lambda: self._webhooks(command))
            case cmd.ListRequests():
                await self._reply(inv, await self._requests(actor))
            case cmd.Audit(limit=limit):
                await self._reply(inv, render_audit(await self._store.audit(limit)))
            case _:
                request = await self._changes.request(command, inv.origin)
                await self._reply(inv, render_request_created(request))

    # ── read commands ───────────────────────────────────────────────────────────────────

    def _help(self, actor: Actor, channel_id: str, topic: str | None) -> Message:
        """Only what this caller may use here: the same `decide`, as a dry run.

        Someone without any role gets the "ask an admin" answer; someone whose other
        commands work only in another channel is told where.
        """
        if not roles_of(self._policy, actor):
            return render_help([])
        entries: list[tuple[str, str]] = []
        elsewhere: frozenset[str] = frozenset()
        for line in cmd.usage_lines(topic):
            decision = decide(self._policy, actor, line.command, channel_id)
            if decision.allowed:
                entries.append((f"{cmd.SLASH_COMMAND} {line.usage}", line.summary))
            elif decision.reason is Reason.CHANNEL_NOT_ALLOWED:
                elsewhere = decision.allowed_channels
        notes = []
        if not entries and topic:
            notes.append(f"You may not use any `{topic}` command here.")
        if elsewhere:
            where = ", ".join(f"<#{channel}>" for channel in sorted(elsewhere))
            notes.append(f"Your other commands work only in {where}.")
        return render_help(entries, note=" ".join(notes) or None)

    async def _environments(self) -> list[Message]:
        return render_environments(await self._client.list_environments())

    async def _env_names(self) -> dict[str, str]:
        envs: list[Environment] = await self._client.list_environments()
        return {env.id: env.name for env in envs}

    async def _keys(self, command: cmd.ListKeys) -> list[Message]:
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
        return render_api_keys(keys, names, filters=filters)

    async def _webhooks(self, command: cmd.ListWebhooks) -> list[Message]:
        hooks, names = await asyncio.gather(
            self._client.list_webhooks(status=command.status, environment=command.environment),
            self._env_names(),
        )
        return render_webhooks(hooks, names)

    async def _requests(self, actor: Actor) -> Message:
        """Pending requests the caller made or may approve."""
        may_approve = decide(self._policy, actor, "requests.approve").allowed
        pending = await self._store.list_requests(
            states=[State.PENDING],
            requester=None if may_approve else actor.user_id,
            limit=None,
        )
        return render_requests(pending, now=datetime.now(UTC))

    async def _listing(
        self,
        inv: Invocation,
        what: str,
        command: cmd.Command,
        fetch: Callable[[], Awaitable[list[Message]]],
    ) -> None:
        """Post a listing to the channel; a slow one shows "Fetching…" first, then replaces it.

        Identical listings asked for at the same time are fetched and rendered once (the
        command, a frozen dataclass, is the key). The placeholder goes through the Web API,
        so ``chat.update`` can edit it in place: a slash command's ``response_url`` cannot
        reliably replace a public message. When the bot may not post in the channel, the
        listing simply comes through ``response_url``.
        """
        task = asyncio.ensure_future(self._renders.run(command, fetch))
        done, _ = await asyncio.wait({task}, timeout=FETCHING_AFTER)
        placeholder: Posted | None = None
        if not done:
            try:
                placeholder = await self._messenger.post(inv.channel_id, render_fetching(what))
            except SlackDeliveryError:
                placeholder = None
        try:
            messages = await task
        except FingerprintError:
            if placeholder is not None:
                await self._replace(
                    placeholder,
                    render_refusal(f"Could not fetch {what}; <@{inv.user_id}> has the details."),
                )
            raise
        undelivered: list[Message] = []
        refused = ""
        for index, message in enumerate(messages):
            if undelivered:  # once a part is refused, the rest follow it, in order
                undelivered.append(message)
                continue
            if index == 0 and placeholder is not None and await self._replace(placeholder, message):
                continue
            try:
                # Keep one response_url post in reserve for an error; beyond that, the Web API.
                if self._messenger.response_url_budget(inv.response_url) > 1:
                    await self._messenger.respond(
                        inv.response_url, message, in_channel=True, replace_original=False
                    )
                else:
                    await self._messenger.post(inv.channel_id, message)
            except SlackDeliveryError as exc:
                refused = exc.error
                undelivered.append(message)
        if undelivered:
            await self._listing_incomplete(inv, what, undelivered, len(messages), refused)

    async def _listing_incomplete(
        self, inv: Invocation, what: str, undelivered: list[Message], total: int, refused: str
    ) -> None:
        """Parts of a listing that Slack would not take in the channel (typically: the bot is
        not a member, so ``chat.postMessage`` is refused once the ``response_url`` is used up).

        Nothing is dropped: the missing parts go to the person by direct message, which needs
        no channel membership (an ephemeral message in the channel would be refused just the
        same), and the person is told — through the ``response_url`` post kept in reserve —
        how much is missing from the channel, where it went and how to fix it.
        """
        log.warning(
            "listing_incomplete", what=what, missing=len(undelivered), total=total, error=refused
        )
        sent = 0
        for message in undelivered:
            try:
                await self._messenger.dm(inv.user_id, message)
            except SlackDeliveryError as exc:
                log.warning("listing_dm_failed", error=exc.error)
                break
            sent += 1
        missing = len(undelivered)
        lines = [
            f":warning: This listing of {what} is incomplete in <#{inv.channel_id}>: "
            f"{missing} of its {total} messages could not be posted there "
            f"(Slack said `{refused or 'unknown_error'}`)."
        ]
        if sent == missing:
            lines.append(f"The missing {_messages(missing)} went to you by direct message.")
        elif sent:
            lines.append(
                f"{_messages(sent)} went to you by direct message; "
                f"the last {_messages(missing - sent)} could not be delivered at all."
            )
        else:
            lines.append("They could not be sent to you by direct message either.")
        if refused in _NOT_A_MEMBER:
            lines.append(
                "To get whole listings here, invite @fpbot to this channel "
                "(`/invite @fpbot`) and run the command again."
            )
        elif sent < missing:
            lines.append("Please run the command again in a minute.")
        lines.append(f"Correlation id: `{inv.correlation_id}`.")
        await self._reply(inv, _notice(" ".join(lines)))

    async def _replace(self, posted: Posted, message: Message) -> bool:
        """Edit a message the bot posted; whether Slack took the edit."""
        try:
            await self._messenger.update(posted.channel, posted.ts, message)
        except SlackDeliveryError as exc:
            log.warning("placeholder_not_replaced", error=exc.error)
            return False
        return True

    # ── answers ─────────────────────────────────────────────────────────────────────────

    async def _reply(self, inv: Invocation, message: Message) -> None:
        """An ephemeral answer to the caller."""
        try:
            await self._messenger.respond(inv.response_url, message, replace_original=False)
        except SlackDeliveryError:
            try:
                await self._messenger.ephemeral(inv.channel_id, inv.user_id, message)
            except SlackDeliveryError as exc:
                log.error("reply_not_delivered", error=exc.error)

    async def _upstream_failed(
        self, command: cmd.Command, inv: Invocation, exc: FingerprintError
    ) -> None:
        if not exc.correlation_id:
            exc.correlation_id = inv.correlation_id
        label = command_label(command)
        await self._reply(inv, render_error(exc, what=f"run `/fp {label}`"))
        await self._notifier.report(
            Failure(
                title=exc.summary,
                operation=f"/fp {label}",
                error_code=exc.error_code,
                detail=describe(exc),
                correlation_id=exc.correlation_id,
            )
        )

    async def _store_failed(
        self, command: cmd.Command, inv: Invocation, exc: StoreUnavailable
    ) -> None:
        label = command_label(command)
        await self._reply(
            inv,
            render_refusal(
                f"fpbot could not run `/fp {label}`: its database is unreachable, so nothing "
                f"was changed. Try again in a minute. Correlation id: `{inv.correlation_id}`."
            ),
        )
        await self._notifier.report(
            Failure.store_unavailable(f"/fp {label}", exc, inv.correlation_id)
        )


#: ``chat.postMessage`` errors meaning the bot may not post in the channel.
_NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def _messages(n: int) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"


def _notice(text: str) -> Message:
    return Message(text=fallback(text), blocks=[section(text)])


def command_label(command: cmd.Command) -> str:
    """The words that name a command (``keys rotate``), for errors and notifications."""
    words = []
    for word in type(command).usage.split():
        if word.startswith(("<", "[")):
            break
        words.append(word)
    return " ".join(words)
