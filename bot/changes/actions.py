"""What each kind of change does to the Fingerprint account, in three steps.

Every change fpbot can make is one row of `ACTIONS`, keyed by the permission it needs
(``envs.create`` … ``webhooks.delete``). A row knows three things, so a reader finds "what does
``keys.rotate`` do" in one place:

1. **plan** — before a request exists. Check the command against the account as it is now (ids
   exist, the change would change something, the API would not refuse it for a reason we can
   see) and record the current state, so the approval message shows *before → after*. A refusal
   is a `PlanError` whose text is one sentence for the requester.
2. **execute** — after approval, exactly once (the caller guarantees it). Run the change as it
   was planned, from ``request.params``. A secret the API returns (a secret or proxy key's
   token, a webhook's signing key) goes straight to the requester through ``deliver_secret``;
   if it cannot be delivered the new key or webhook is disabled, because an unreachable secret
   is useless and a live credential nobody holds is a liability.
3. **reconcile** — for a request found ``executing`` after a crash. Look at the account and
   decide whether the change happened, without ever running it a second time.

Who retries a write: a write that failed in transit may have been applied. Retrying a create
could make two keys (and lose the first one's secret); retrying a delete could report a
confusing 404. So execute calls each write once, and only the Management API client
(`bot.fingerprint.client`) may send it again: after a 429 for any call (Fingerprint did
nothing), and after a 5xx or a timeout only for the calls it marks idempotent — reads and the
updates that set fields to given values (``PATCH /api-keys/{id}``, ``PATCH /webhooks/{id}``,
``POST /environments/{id}``). Creates and deletes are never retried after a 5xx or a timeout.
When a write still fails, execute says exactly what is now true
(`ExecutionFailed.state_of_account`): "nothing changed" when Fingerprint refused it (4xx), "not
known" when it did not answer. fpbot never repeats a failed change itself — a person asks
again, with a fresh approval.

Nothing here holds a secret: `Plan`, `Execution`, `ExecutionFailed` and `Reconciliation` carry
ids and names only, and every secret is registered with the log scrubber the moment it arrives.

Every sentence written here (a plan's summary, a `PlanError`, an execution's or a failure's
message, a verdict) is Slack mrkdwn: names, URLs and ids people typed or the API returned are
escaped **once, here**, with `bot.render.blocks` (``bold``, ``code``, ``inline``), and the
renderers show these sentences as they are (interface.md §8, "Escaping"). Structured values
(``params``, ``before``, ``after``, ``result``) stay raw; renderers escape those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from bot import commands
from bot.changes.model import ChangeRequest, State
from bot.fingerprint.errors import FingerprintError, NotFound
from bot.fingerprint.models import ApiKey, Environment, KeyType, Status, Webhook
from bot.log import get_logger, register_secret
from bot.render.approvals import is_destructive
from bot.render.blocks import bold, code, inline

log = get_logger(__name__)

T = TypeVar("T")

#: How far Fingerprint's clock may be behind fpbot's when reconcile decides whether a resource
#: was created by the interrupted request (created after ``executing_since``).
CLOCK_SKEW = timedelta(minutes=2)

#: Names of a default environment, which Fingerprint refuses to delete. The API has no flag
#: for it, so it is recognised by the name Fingerprint gives it.
DEFAULT_ENVIRONMENT_NAMES = frozenset({"default", "default environment"})

MAX_NAME = 255

SecretKind = Literal["secret key token", "proxy key token", "webhook signing key"]


# --- The Management API as the actions use it ---------------------------------------------


class Client(Protocol):
    """The calls of `bot.fingerprint.client.ManagementClient` the actions use.

    Structural, so tests pass an in-memory fake and this module does not depend on HTTP.
    """

    async def list_environments(self) -> list[Environment]: ...

    async def create_environment(
        self, name: str, *, description: str | None = None
    ) -> Environment: ...

    async def update_environment(
        self, env_id: str, *, name: str | None = None, description: str | None = None
    ) -> Environment: ...

    async def delete_environment(self, env_id: str) -> None: ...

    async def list_api_keys(
        self,
        *,
        type: KeyType | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> list[ApiKey]: ...

    async def get_api_key(self, key_id: str) -> ApiKey: ...

    async def create_api_key(
        self,
        *,
        type: KeyType,
        name: str,
        description: str | None = None,
        environment: str | None = None,
    ) -> ApiKey: ...

    async def update_api_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        rate_limit: float | None = None,
    ) -> ApiKey: ...

    async def delete_api_key(self, key_id: str) -> None: ...

    async def list_webhooks(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[Webhook]: ...

    async def get_webhook(self, webhook_id: str) -> Webhook: ...

    async def create_webhook(
        self, *, url: str, description: str | None = None, environment: str | None = None
    ) -> Webhook: ...

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        status: Status | None = None,
    ) -> Webhook: ...

    async def delete_webhook(self, webhook_id: str) -> None: ...


# --- What the three steps return ------------------------------------------------------------


class PlanError(Exception):
    """The command cannot become a request; ``str()`` is one sentence of mrkdwn for the
    requester, outside strings escaped."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated change, ready to be stored as a request and shown for approval.

    Attributes:
        action: the permission it needs, which is also its row in `ACTIONS`.
        params: what execute needs, JSON-safe (ids, names, type, status), never a secret.
        summary: one line of Slack mrkdwn, outside strings escaped once (renderers show it as
            it is).
        before: human-meaningful fields as they are now (``None`` for a create).
        after: the same fields as they will be (``None`` for a delete).
        destructive: the change deletes something, or stops something that works now.
            Derived from ``action`` and ``params`` by `bot.render.approvals.is_destructive`,
            the same rule that makes the Approve button ask for confirmation.
    """

    action: str
    params: dict[str, Any]
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    destructive: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "destructive", is_destructive(self.action, self.params))


@dataclass(frozen=True, slots=True)
class SecretDelivery:
    """A secret the API just returned, on its way to the requester's DMs — and nowhere else."""

    kind: SecretKind
    resource_name: str
    resource_id: str
    secret: str = field(repr=False)


DeliverSecret = Callable[[SecretDelivery], Awaitable[bool]]
"""Sends a secret to the requester privately; False when the message could not be delivered."""


@dataclass(frozen=True, slots=True)
class Execution:
    """A change that ran: ``result`` holds new ids and names (raw, no secret), ``message`` says
    what happened in one sentence of mrkdwn."""

    result: dict[str, Any]
    message: str


class ExecutionFailed(Exception):
    """An approved change failed.

    Attributes:
        message: one sentence of mrkdwn saying what went wrong.
        cause: the Management API error behind it, if any.
        state_of_account: exactly what is true of the account now (mrkdwn), so the requester
            knows whether anything needs cleaning up.
    """

    def __init__(
        self, message: str, *, cause: FingerprintError | None, state_of_account: str
    ) -> None:
        self.message = message
        self.cause = cause
        self.state_of_account = state_of_account
        super().__init__(message)

    @property
    def error_code(self) -> str:
        """The code notifications group on: the API's, or ``execution.failed``."""
        return self.cause.error_code if self.cause else "execution.failed"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The verdict on a request interrupted while executing; ``message`` is mrkdwn."""

    state: Literal[State.SUCCEEDED, State.FAILED]
    message: str


# --- Small helpers ---------------------------------------------------------------------------


NOTHING_CHANGED = "Nothing changed."


def _reason(error: FingerprintError) -> str:
    """Why the API said no, as mrkdwn: its summary and (escaped) error code."""
    return f"{inline(error.summary)} ({inline(error.error_code)})"


def _not_confirmed(check: str) -> str:
    return (
        "Fingerprint did not confirm the change, so it may or may not have been applied — "
        f"check with {check} before asking again."
    )


def _was_refused(error: FingerprintError) -> bool:
    """Fingerprint answered 4xx: it looked at the request and did not apply it.

    Anything else (no answer, a 5xx, an unreadable 2xx) leaves the outcome unknown.
    """
    return error.status is not None and 400 <= error.status < 500


async def _write(
    op: Awaitable[T], *, failed: str, check: str, unchanged: str = NOTHING_CHANGED
) -> T:
    """Await one write call; fpbot does not repeat it (the client's own retries of idempotent
    updates are described in the module docstring). On failure raise `ExecutionFailed` saying
    what is now true."""
    try:
        return await op
    except FingerprintError as e:
        state = unchanged if _was_refused(e) else _not_confirmed(check)
        raise ExecutionFailed(f"{failed}: {_reason(e)}.", cause=e, state_of_account=state) from e


async def _hand_over(deliver_secret: DeliverSecret, delivery: SecretDelivery) -> bool:
    """Deliver a secret; a delivery that raises counts as not delivered."""
    register_secret(delivery.secret)
    try:
        return bool(await deliver_secret(delivery))
    except Exception as e:  # the callback is the caller's; any failure means "not delivered"
        log.warning(
            "secret_delivery_raised",
            resource_id=delivery.resource_id,
            error=type(e).__name__,
        )
        return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _started(request: ChangeRequest) -> datetime:
    """When the interrupted execution began (or, failing that, when the request was made)."""
    return _aware(request.executing_since or request.created_at)


def _created_since(created_at: datetime | None, since: datetime) -> bool:
    """Whether a resource may have been created by a request that began at ``since``.

    A resource without a creation time is given the benefit of the doubt: the other evidence
    (its name, its URL) was checked to be free when the request was planned.
    """
    return created_at is None or _aware(created_at) >= since - CLOCK_SKEW


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def rotation_name(old_name: str, day: date) -> str:
    """The replacement key's name: the old name and the rotation date, at most 255 chars."""
    suffix = f" (rotated {day.isoformat()})"
    return old_name[: MAX_NAME - len(suffix)].rstrip() + suffix


def _secret_kind(key_type: KeyType) -> SecretKind | None:
    """Which secret a key of this type carries; public keys' tokens sit in web pages."""
    if key_type is KeyType.SECRET:
        return "secret key token"
    if key_type is KeyType.PROXY:
        return "proxy key token"
    return None


def _expect(command: commands.Command, shape: type[T], permission: str) -> T:
    if not isinstance(command, shape):
        raise TypeError(f"{type(command).__name__} is not a command for {permission}")
    return command


def _find_env(envs: list[Environment], env_id: str) -> Environment:
    for env in envs:
        if env.id == env_id:
            return env
    raise PlanError(f"No environment {code(env_id)}.")


def _env_label(envs: list[Environment], env_id: str | None) -> str:
    if env_id is None:
        return "workspace-wide"
    for env in envs:
        if env.id == env_id:
            return env.name
    return env_id


async def _key(client: Client, key_id: str) -> ApiKey:
    try:
        return await client.get_api_key(key_id)
    except NotFound:
        raise PlanError(f"No API key {code(key_id)}.") from None


async def _webhook(client: Client, webhook_id: str) -> Webhook:
    try:
        return await client.get_webhook(webhook_id)
    except NotFound:
        raise PlanError(f"No webhook {code(webhook_id)}.") from None


def _key_fields(key: ApiKey, envs: list[Environment]) -> dict[str, Any]:
    return {
        "name": key.name,
        "type": str(key.type) if key.type else None,
        "status": str(key.status) if key.status else None,
        "environment": _env_label(envs, key.environment),
    }


def _key_label(key: ApiKey) -> str:
    kind = f"{key.type} key" if key.type else "API key"
    return f"{kind} {bold(key.name)} ({code(key.id)})"


def _webhook_fields(hook: Webhook, envs: list[Environment]) -> dict[str, Any]:
    return {
        "url": hook.url,
        "description": hook.description,
        "status": str(hook.status) if hook.status else None,
        "environment": _env_label(envs, hook.environment),
    }


def _before_name(request: ChangeRequest, fallback: str) -> str:
    """The resource's name as it was planned, for messages (the id if it was not recorded)."""
    name = (request.before or {}).get("name")
    return str(name) if name else fallback


def _succeeded(message: str) -> Reconciliation:
    return Reconciliation(State.SUCCEEDED, message)


def _failed(message: str) -> Reconciliation:
    return Reconciliation(State.FAILED, message)


NEVER_REACHED = (
    "fpbot stopped before the change reached Fingerprint; nothing changed — request it again."
)


async def _key_or_none(client: Client, key_id: str) -> ApiKey | None:
    try:
        return await client.get_api_key(key_id)
    except NotFound:
        return None


async def _webhook_or_none(client: Client, webhook_id: str) -> Webhook | None:
    try:
        return await client.get_webhook(webhook_id)
    except NotFound:
        return None


# --- The actions -----------------------------------------------------------------------------


class Action(ABC):
    """One kind of change: how to plan it, run it once, and judge it after a crash."""

    permission: ClassVar[str]

    @abstractmethod
    async def plan(self, client: Client, command: commands.Command) -> Plan:
        """Validate ``command`` against the account now; raise `PlanError` to refuse."""

    @abstractmethod
    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        """Run the planned change once; raise `ExecutionFailed` saying what is now true."""

    @abstractmethod
    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        """Decide from the account whether an interrupted change happened; never re-run it."""


class CreateEnvironment(Action):
    """``envs create <name>``: a new environment; its name must not be taken."""

    permission = "envs.create"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.CreateEnv, self.permission)
        envs = await client.list_environments()
        for env in envs:
            if _same_name(env.name, cmd.name):
                raise PlanError(
                    f"Environment {bold(env.name)} ({code(env.id)}) already has that name."
                )
        params: dict[str, Any] = {"name": cmd.name}
        if cmd.description:
            params["description"] = cmd.description
        return Plan(
            action=self.permission,
            params=params,
            summary=f"Create environment {bold(cmd.name)}",
            before=None,
            after={"name": cmd.name, "description": cmd.description},
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        name = request.params["name"]
        env = await _write(
            client.create_environment(name, description=request.params.get("description")),
            failed=f"Creating environment {bold(name)} failed",
            check="`/fp envs`",
        )
        return Execution(
            result={"env_id": env.id, "name": env.name},
            message=f"Created environment {bold(env.name)} ({code(env.id)}).",
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        name = request.params["name"]
        since = _started(request)
        for env in await client.list_environments():
            if env.name == name and _created_since(env.created_at, since):
                return _succeeded(f"Created environment {bold(env.name)} ({code(env.id)}).")
        return _failed(NEVER_REACHED)


class RenameEnvironment(Action):
    """``envs rename <env_id> <name>``: the new name must differ and not be taken."""

    permission = "envs.update"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.RenameEnv, self.permission)
        envs = await client.list_environments()
        env = _find_env(envs, cmd.env_id)
        if env.name == cmd.name:
            raise PlanError(f"Environment {code(env.id)} is already named {bold(env.name)}.")
        for other in envs:
            if other.id != env.id and _same_name(other.name, cmd.name):
                raise PlanError(
                    f"Environment {bold(other.name)} ({code(other.id)}) already has that name."
                )
        return Plan(
            action=self.permission,
            params={"env_id": env.id, "name": cmd.name},
            summary=(f"Rename environment {bold(env.name)} ({code(env.id)}) to {bold(cmd.name)}"),
            before={"name": env.name},
            after={"name": cmd.name},
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        env_id, name = request.params["env_id"], request.params["name"]
        old = _before_name(request, env_id)
        env = await _write(
            client.update_environment(env_id, name=name),
            failed=f"Renaming environment {code(env_id)} failed",
            check="`/fp envs`",
        )
        return Execution(
            result={"env_id": env.id, "name": env.name},
            message=(f"Renamed environment {code(env.id)} from {bold(old)} to {bold(env.name)}."),
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        env_id, name = request.params["env_id"], request.params["name"]
        env = next((e for e in await client.list_environments() if e.id == env_id), None)
        if env is None:
            return _failed(f"Environment {code(env_id)} no longer exists, so it was not renamed.")
        if env.name == name:
            return _succeeded(f"Renamed environment {code(env_id)} to {bold(name)}.")
        return _failed(NEVER_REACHED)


class DeleteEnvironment(Action):
    """``envs delete <env_id>``: refused for the default environment and for one that still
    has enabled API keys — Fingerprint would refuse both anyway, later and less clearly."""

    permission = "envs.delete"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.DeleteEnv, self.permission)
        env = _find_env(await client.list_environments(), cmd.env_id)
        if env.name.strip().casefold() in DEFAULT_ENVIRONMENT_NAMES:
            raise PlanError(
                f"{bold(env.name)} ({code(env.id)}) is the default environment, "
                "which Fingerprint does not allow to be deleted."
            )
        active = await client.list_api_keys(environment=env.id, status=Status.ENABLED)
        if active:
            ids = ", ".join(code(k.id) for k in active)
            raise PlanError(
                f"Environment {bold(env.name)} ({code(env.id)}) still has "
                f"{len(active)} enabled API key{'s' if len(active) > 1 else ''} ({ids}); "
                "disable or delete them first."
            )
        return Plan(
            action=self.permission,
            params={"env_id": env.id},
            summary=f"Delete environment {bold(env.name)} ({code(env.id)})",
            before={"name": env.name, "description": env.description},
            after=None,
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        env_id = request.params["env_id"]
        name = _before_name(request, env_id)
        await _write(
            client.delete_environment(env_id),
            failed=f"Deleting environment {bold(name)} ({code(env_id)}) failed",
            check="`/fp envs`",
        )
        return Execution(
            result={"env_id": env_id},
            message=f"Deleted environment {bold(name)} ({code(env_id)}).",
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        env_id = request.params["env_id"]
        name = _before_name(request, env_id)
        if any(e.id == env_id for e in await client.list_environments()):
            return _failed(NEVER_REACHED)
        return _succeeded(f"Deleted environment {bold(name)} ({code(env_id)}).")


class CreateKey(Action):
    """``keys create <type> <name> [--env]``: a new API key. A secret or proxy key's token is
    shown by the API once, so it goes to the requester's DMs at once or the key is disabled."""

    permission = "keys.create"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.CreateKey, self.permission)
        key_type = KeyType(cmd.type)
        envs = await client.list_environments()
        where = "workspace-wide"
        if cmd.environment is not None:
            env = _find_env(envs, cmd.environment)
            where = f"in {bold(env.name)} ({code(env.id)})"
        elif key_type is KeyType.PUBLIC:
            where = "in the default environment"
        return Plan(
            action=self.permission,
            params={"type": str(key_type), "name": cmd.name, "environment": cmd.environment},
            summary=f"Create {key_type} key {bold(cmd.name)} {where}",
            before=None,
            after={
                "name": cmd.name,
                "type": str(key_type),
                "status": str(Status.ENABLED),
                "environment": (
                    "default environment"
                    if cmd.environment is None and key_type is KeyType.PUBLIC
                    else _env_label(envs, cmd.environment)
                ),
            },
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_type = KeyType(request.params["type"])
        name = request.params["name"]
        kind = _secret_kind(key_type)
        check = "`/fp keys`"
        if kind is not None:
            check += f" (a new key named {bold(name)} has a token nobody received: delete it)"
        key = await _write(
            client.create_api_key(
                type=key_type, name=name, environment=request.params.get("environment")
            ),
            failed=f"Creating {key_type} key {bold(name)} failed",
            check=check,
        )
        label = _key_label(key)
        if kind is not None:
            delivered = key.token is not None and await _hand_over(
                deliver_secret, SecretDelivery(kind, key.name, key.id, key.token)
            )
            if not delivered:
                await _disable_undelivered_key(client, key, label, postscript="")
        return Execution(
            result={
                "key_id": key.id,
                "name": key.name,
                "type": str(key_type),
                "environment": key.environment,
            },
            message=f"Created {label}."
            + (" Its token was sent to you by direct message." if kind else ""),
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        key_type = KeyType(request.params["type"])
        name = request.params["name"]
        environment = request.params.get("environment")
        candidates = [
            k
            for k in await client.list_api_keys(type=key_type)
            if k.name == name
            and (environment is None or k.environment == environment)
            and _created_since(k.created_at, _started(request))
        ]
        if not candidates:
            return _failed(NEVER_REACHED)
        key = min(candidates, key=lambda k: k.created_at or datetime.max.replace(tzinfo=UTC))
        label = _key_label(key)
        if _secret_kind(key_type) is None:
            return _succeeded(f"Created {label}.")
        await _disable_lost_secret_key(client, key)
        return _failed(
            f"The {label} was created, but fpbot stopped before it could be sure its token "
            "reached you; it has been disabled — request a new one."
        )


async def _disable_undelivered_key(
    client: Client, key: ApiKey, label: str, *, postscript: str
) -> None:
    """The key's token could not be delivered: disable the key and fail, saying so."""
    message = f"The token of {label} could not be delivered to you by direct message"
    try:
        await client.update_api_key(key.id, status=Status.DISABLED)
    except FingerprintError as e:
        raise ExecutionFailed(
            f"{message}, and disabling the key failed: {_reason(e)}.",
            cause=e,
            state_of_account=(
                f"{code(key.id)} is enabled but nobody has its token — delete it by hand or "
                f"run {code(f'/fp keys delete {key.id}')}.{postscript}"
            ),
        ) from e
    raise ExecutionFailed(
        f"{message}, so it was disabled — an unreachable secret is useless.",
        cause=None,
        state_of_account=f"{code(key.id)} exists and is disabled.{postscript}",
    )


async def _disable_lost_secret_key(client: Client, key: ApiKey) -> None:
    """Disable a key whose secret is lost; errors propagate so reconcile is tried again."""
    if key.status is not Status.DISABLED:
        await client.update_api_key(key.id, status=Status.DISABLED)


class UpdateKey(Action):
    """``keys rename|enable|disable <key_id>``: one field of a key, which must change."""

    permission = "keys.update"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        if isinstance(command, commands.SetKeyStatus):
            return await self._plan_status(client, command)
        cmd = _expect(command, commands.RenameKey, self.permission)
        key = await _key(client, cmd.key_id)
        if key.name == cmd.name:
            raise PlanError(f"Key {code(key.id)} is already named {bold(key.name)}.")
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "name": cmd.name},
            summary=f"Rename {_key_label(key)} to {bold(cmd.name)}",
            before={"name": key.name},
            after={"name": cmd.name},
        )

    async def _plan_status(self, client: Client, cmd: commands.SetKeyStatus) -> Plan:
        status = Status(cmd.status)
        key = await _key(client, cmd.key_id)
        if key.status is status:
            raise PlanError(f"{_key_label(key)} is already {status}.")
        verb = "Enable" if status is Status.ENABLED else "Disable"
        return Plan(
            action=self.permission,
            params={"key_id": key.id, "status": str(status)},
            summary=f"{verb} {_key_label(key)}",
            before={"name": key.name, "status": str(key.status) if key.status else None},
            after={"name": key.name, "status": str(status)},
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id = request.params["key_id"]
        name, status = request.params.get("name"), request.params.get("status")
        old = _before_name(request, key_id)
        key = await _write(
            client.update_api_key(key_id, name=name, status=Status(status) if status else None),
            failed=f"Updating key {bold(old)} ({code(key_id)}) failed",
            check=f"`/fp keys` (look for {code(key_id)})",
        )
        if status:
            message = f"{'Enabled' if status == Status.ENABLED else 'Disabled'} {_key_label(key)}."
        else:
            message = f"Renamed key {code(key.id)} from {bold(old)} to {bold(key.name)}."
        return Execution(result={"key_id": key.id, "name": key.name}, message=message)

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        key_id = request.params["key_id"]
        key = await _key_or_none(client, key_id)
        if key is None:
            return _failed(f"Key {code(key_id)} no longer exists, so it was not updated.")
        name, status = request.params.get("name"), request.params.get("status")
        if name is not None and key.name != name:
            return _failed(NEVER_REACHED)
        if status is not None and key.status != status:
            return _failed(NEVER_REACHED)
        if status is not None:
            return _succeeded(f"Key {bold(key.name)} ({code(key.id)}) is {status}.")
        return _succeeded(f"Renamed key {code(key_id)} to {bold(key.name)}.")


class DeleteKey(Action):
    """``keys delete <key_id>``: irreversible; anything using the key stops working."""

    permission = "keys.delete"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.DeleteKey, self.permission)
        key = await _key(client, cmd.key_id)
        envs = await client.list_environments()
        return Plan(
            action=self.permission,
            params={"key_id": key.id},
            summary=f"Delete {_key_label(key)}",
            before=_key_fields(key, envs),
            after=None,
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        key_id = request.params["key_id"]
        name = _before_name(request, key_id)
        await _write(
            client.delete_api_key(key_id),
            failed=f"Deleting key {bold(name)} ({code(key_id)}) failed",
            check=f"`/fp keys` (look for {code(key_id)})",
        )
        return Execution(
            result={"key_id": key_id}, message=f"Deleted key {bold(name)} ({code(key_id)})."
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        key_id = request.params["key_id"]
        if await _key_or_none(client, key_id) is not None:
            return _failed(NEVER_REACHED)
        return _succeeded(f"Deleted key {bold(_before_name(request, key_id))} ({code(key_id)}).")


class RotateKey(Action):
    """``keys rotate <key_id>``: create a replacement (same type, same environment), deliver
    its token privately, then disable the old key — in that order, so that at every step at
    least one working key exists, and the old one stops only once the new one is in hand."""

    permission = "keys.rotate"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.RotateKey, self.permission)
        key = await _key(client, cmd.key_id)
        if key.type is None:
            raise PlanError(f"Fingerprint did not say what type {_key_label(key)} is.")
        if key.status is Status.DISABLED:
            raise PlanError(
                f"{_key_label(key)} is disabled, so nothing uses it: create a new key instead."
            )
        envs = await client.list_environments()
        before = _key_fields(key, envs)
        return Plan(
            action=self.permission,
            params={
                "key_id": key.id,
                "type": str(key.type),
                "name": key.name,
                "environment": key.environment,
            },
            summary=(
                f"Rotate {_key_label(key)}: create a replacement {key.type} key in the same "
                "environment, then disable this one"
            ),
            before=before,
            after={**before, "status": str(Status.DISABLED), "replaced by": f"new {key.type} key"},
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        old_id = request.params["key_id"]
        key_type = KeyType(request.params["type"])
        name = rotation_name(request.params["name"], _started(request).date())
        new = await _write(
            client.create_api_key(
                type=key_type, name=name, environment=request.params.get("environment")
            ),
            failed=f"Creating the replacement of {code(old_id)} failed",
            check=f"`/fp keys` (the old key {code(old_id)} is untouched)",
            unchanged=f"Nothing changed: the old key {code(old_id)} is untouched.",
        )
        kind = _secret_kind(key_type)
        if kind is not None:
            delivered = new.token is not None and await _hand_over(
                deliver_secret, SecretDelivery(kind, new.name, new.id, new.token)
            )
            if not delivered:
                await _disable_undelivered_key(
                    client,
                    new,
                    f"the replacement {code(new.id)}",
                    postscript=f" The old key {code(old_id)} is untouched.",
                )
        handed = "created and delivered" if kind else "created"
        try:
            await client.update_api_key(old_id, status=Status.DISABLED)
        except FingerprintError as e:
            raise ExecutionFailed(
                f"Replacement {code(new.id)} was {handed}, but disabling the old key "
                f"{code(old_id)} failed: {_reason(e)}.",
                cause=e,
                state_of_account=(
                    ("Both keys are active" if _was_refused(e) else "Both keys may be active")
                    + f" — disable {code(old_id)} by hand or run "
                    f"{code(f'/fp keys disable {old_id}')}."
                ),
            ) from e
        return Execution(
            result={"key_id": old_id, "replacement_id": new.id, "replacement_name": new.name},
            message=(
                f"Rotated key {code(old_id)}: replacement {bold(new.name)} ({code(new.id)}) "
                + (
                    "was created and its token sent to you by direct message"
                    if kind
                    else "was created"
                )
                + f"; the old key {code(old_id)} is disabled."
            ),
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        old_id = request.params["key_id"]
        key_type = KeyType(request.params["type"])
        since = _started(request)
        name = rotation_name(request.params["name"], since.date())
        replacement = next(
            (
                k
                for k in await client.list_api_keys(type=key_type)
                if k.name == name and k.id != old_id and _created_since(k.created_at, since)
            ),
            None,
        )
        old = await _key_or_none(client, old_id)
        old_active = old is not None and old.status is not Status.DISABLED
        if replacement is None:
            if old_active:
                return _failed(NEVER_REACHED)
            return _failed(
                f"No replacement of {code(old_id)} was found, so the rotation did not get as "
                f"far as creating one; the old key is no longer active (not by this request)."
            )
        new = code(replacement.id)
        if not old_active:
            # The old key is disabled only after the replacement's token was delivered.
            return _succeeded(
                f"Rotated key {code(old_id)}: replacement {bold(replacement.name)} ({new}) "
                "is in place and the old key is disabled."
            )
        if _secret_kind(key_type) is None:
            return _failed(
                f"Replacement {new} was created, but fpbot stopped before disabling the old key "
                f"{code(old_id)}: both keys are active — disable {code(old_id)} by hand or "
                f"run {code(f'/fp keys disable {old_id}')}."
            )
        await _disable_lost_secret_key(client, replacement)
        return _failed(
            f"Replacement {new} was created, but fpbot stopped before it could be sure its token "
            f"reached you; it has been disabled and the old key {code(old_id)} is still "
            "active — request the rotation again."
        )


class CreateWebhook(Action):
    """``webhooks create <url>``: the URL must be https and not already used by a webhook.
    The signing key is shown once, so it goes to the requester's DMs or the webhook is
    disabled."""

    permission = "webhooks.create"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.CreateWebhook, self.permission)
        if not cmd.url.lower().startswith("https://"):
            raise PlanError(f"Webhook URLs must start with `https://`; got {code(cmd.url)}.")
        envs = await client.list_environments()
        where = ""
        if cmd.environment is not None:
            env = _find_env(envs, cmd.environment)
            where = f" in {bold(env.name)} ({code(env.id)})"
        for hook in await client.list_webhooks():
            if hook.url == cmd.url:
                raise PlanError(f"Webhook {code(hook.id)} already sends to {inline(cmd.url)}.")
        return Plan(
            action=self.permission,
            params={
                "url": cmd.url,
                "description": cmd.description,
                "environment": cmd.environment,
            },
            summary=f"Create a webhook to {inline(cmd.url)}{where}",
            before=None,
            after={
                "url": cmd.url,
                "description": cmd.description,
                "status": str(Status.ENABLED),
                "environment": _env_label(envs, cmd.environment),
            },
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        url = request.params["url"]
        hook = await _write(
            client.create_webhook(
                url=url,
                description=request.params.get("description"),
                environment=request.params.get("environment"),
            ),
            failed=f"Creating the webhook to {inline(url)} failed",
            check="`/fp webhooks`",
        )
        label = f"webhook {code(hook.id)} to {inline(hook.url)}"
        delivered_note = ""
        if hook.signing_key is not None:
            delivery = SecretDelivery("webhook signing key", hook.url, hook.id, hook.signing_key)
            if not await _hand_over(deliver_secret, delivery):
                await _disable_undelivered_webhook(client, hook, label)
            delivered_note = " Its signing key was sent to you by direct message."
        return Execution(
            result={"webhook_id": hook.id, "url": hook.url},
            message=f"Created {label}.{delivered_note}",
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        url = request.params["url"]
        since = _started(request)
        hook = next(
            (
                h
                for h in await client.list_webhooks()
                if h.url == url and _created_since(h.created_at, since)
            ),
            None,
        )
        if hook is None:
            return _failed(NEVER_REACHED)
        if hook.status is not Status.DISABLED:
            await client.update_webhook(hook.id, status=Status.DISABLED)
        return _failed(
            f"Webhook {code(hook.id)} to {inline(url)} was created, but fpbot stopped before it "
            "could be sure its signing key reached you; it has been disabled — request a new one."
        )


async def _disable_undelivered_webhook(client: Client, hook: Webhook, label: str) -> None:
    message = f"The signing key of {label} could not be delivered to you by direct message"
    try:
        await client.update_webhook(hook.id, status=Status.DISABLED)
    except FingerprintError as e:
        raise ExecutionFailed(
            f"{message}, and disabling the webhook failed: {_reason(e)}.",
            cause=e,
            state_of_account=(
                f"Webhook {code(hook.id)} is enabled but nobody has its signing key — delete "
                f"it by hand or run {code(f'/fp webhooks delete {hook.id}')}."
            ),
        ) from e
    raise ExecutionFailed(
        f"{message}, so it was disabled — an unreachable secret is useless.",
        cause=None,
        state_of_account=f"Webhook {code(hook.id)} exists and is disabled.",
    )


class SetWebhookStatus(Action):
    """``webhooks enable|disable <webhook_id>``: the status must change."""

    permission = "webhooks.update"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.SetWebhookStatus, self.permission)
        status = Status(cmd.status)
        hook = await _webhook(client, cmd.webhook_id)
        label = f"webhook {code(hook.id)} to {inline(hook.url)}"
        if hook.status is status:
            raise PlanError(f"The {label} is already {status}.")
        verb = "Enable" if status is Status.ENABLED else "Disable"
        return Plan(
            action=self.permission,
            params={"webhook_id": hook.id, "status": str(status)},
            summary=f"{verb} {label}",
            before={"url": hook.url, "status": str(hook.status) if hook.status else None},
            after={"url": hook.url, "status": str(status)},
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hook_id, status = request.params["webhook_id"], Status(request.params["status"])
        hook = await _write(
            client.update_webhook(hook_id, status=status),
            failed=f"Changing webhook {code(hook_id)} to {status} failed",
            check="`/fp webhooks`",
        )
        verb = "Enabled" if status is Status.ENABLED else "Disabled"
        return Execution(
            result={"webhook_id": hook.id, "status": str(status)},
            message=f"{verb} webhook {code(hook.id)} to {inline(hook.url)}.",
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        hook_id, status = request.params["webhook_id"], request.params["status"]
        hook = await _webhook_or_none(client, hook_id)
        if hook is None:
            return _failed(f"Webhook {code(hook_id)} no longer exists, so it was not changed.")
        if hook.status != status:
            return _failed(NEVER_REACHED)
        return _succeeded(f"Webhook {code(hook_id)} is {status}.")


class DeleteWebhook(Action):
    """``webhooks delete <webhook_id>``: irreversible; events stop being sent."""

    permission = "webhooks.delete"

    async def plan(self, client: Client, command: commands.Command) -> Plan:
        cmd = _expect(command, commands.DeleteWebhook, self.permission)
        hook = await _webhook(client, cmd.webhook_id)
        envs = await client.list_environments()
        return Plan(
            action=self.permission,
            params={"webhook_id": hook.id},
            summary=f"Delete webhook {code(hook.id)} to {inline(hook.url)}",
            before=_webhook_fields(hook, envs),
            after=None,
        )

    async def execute(
        self, client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        hook_id = request.params["webhook_id"]
        await _write(
            client.delete_webhook(hook_id),
            failed=f"Deleting webhook {code(hook_id)} failed",
            check="`/fp webhooks`",
        )
        return Execution(
            result={"webhook_id": hook_id}, message=f"Deleted webhook {code(hook_id)}."
        )

    async def reconcile(self, client: Client, request: ChangeRequest) -> Reconciliation:
        hook_id = request.params["webhook_id"]
        if await _webhook_or_none(client, hook_id) is not None:
            return _failed(NEVER_REACHED)
        return _succeeded(f"Deleted webhook {code(hook_id)}.")


ACTIONS: Mapping[str, Action] = {
    action.permission: action
    for action in (
        CreateEnvironment(),
        RenameEnvironment(),
        DeleteEnvironment(),
        CreateKey(),
        UpdateKey(),
        DeleteKey(),
        RotateKey(),
        CreateWebhook(),
        SetWebhookStatus(),
        DeleteWebhook(),
    )
}
"""Every change fpbot can make, keyed by the permission it needs."""


# --- The three steps, for callers -------------------------------------------------------------


async def plan(client: Client, command: commands.Command) -> Plan:
    """Validate a parsed command against the account and describe the change it would make.

    Raises:
        PlanError: the change cannot or need not be made; the text says why.
        FingerprintError: the account could not be read.
    """
    action = ACTIONS.get(command.permission or "")
    if action is None:
        raise PlanError(f"{code(command.usage)} does not change the account.")
    return await action.plan(client, command)


async def execute(
    client: Client, request: ChangeRequest, deliver_secret: DeliverSecret
) -> Execution:
    """Run an approved request's change once. fpbot repeats no write; which writes the client
    retries is in the module docstring.

    Raises:
        ExecutionFailed: the change failed; ``state_of_account`` says what is now true.
    """
    action = ACTIONS.get(request.action)
    if action is None:
        raise ExecutionFailed(
            f"fpbot does not know how to run a {code(request.action)} change.",
            cause=None,
            state_of_account=NOTHING_CHANGED,
        )
    log.info("change_executing", request_id=request.id, action=request.action)
    return await action.execute(client, request, deliver_secret)


async def reconcile(client: Client, request: ChangeRequest) -> Reconciliation:
    """Decide whether a request interrupted in ``executing`` took effect, from the account.

    The only write it may make is disabling a key or webhook whose secret was lost.

    Raises:
        FingerprintError: the account could not be read; try again later.
    """
    action = ACTIONS.get(request.action)
    if action is None:
        return _failed(f"fpbot does not know the {code(request.action)} change; nothing was run.")
    return await action.reconcile(client, request)
