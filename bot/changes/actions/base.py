"""The shape every change shares: plan, execute once, reconcile — and what each step returns.

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
confusing 404. So execute calls each write once (`write`), and only the Management API client
may send it again: after a 429 for any call (Fingerprint did nothing), and after a 5xx or a
timeout only for the calls it marks idempotent — reads and the updates that set fields to
given values (``PATCH /api-keys/{id}``, ``PATCH /webhooks/{id}``, ``POST /environments/{id}``).
When a write still fails, execute says exactly what is now true
(`ExecutionFailed.state_of_account`): "nothing changed" when Fingerprint refused it (4xx), "not
known" when it did not answer. fpbot never repeats a failed change itself — a person asks
again, with a fresh approval.

Nothing here holds a secret: `Plan`, `Execution`, `ExecutionFailed` and `Reconciliation` carry
ids and names only, and every secret is registered with the log scrubber the moment it arrives.
The sentences they carry are written by `bot.render.changes`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar

from bot import commands
from bot.domain import ChangeRequest, State, destructive_kind
from bot.fingerprint.errors import BudgetUnavailable, FingerprintError, RateLimited
from bot.fingerprint.models import Environment
from bot.log import get_logger, register_secret
from bot.ports import Account
from bot.render import changes as say

log = get_logger(__name__)

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")

ENV_ID_PREFIXES = ("ae_", "env_")

#: How far Fingerprint's clock may be behind fpbot's when reconcile decides whether a resource
#: was created by the interrupted request (created after ``executing_since``).
CLOCK_SKEW = timedelta(minutes=2)

MAX_NAME = 255

SecretKind = Literal[
    "secret key token",
    "proxy key token",
    "webhook signing key",
    "encryption key",
    "subdomain webhook secret",
]


# ── what the three steps return ─────────────────────────────────────────────────────────────


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
        action: the permission it needs, which is also its row in the registry.
        params: what execute needs, JSON-safe (ids, names, type, status), never a secret.
        summary: one line of Slack mrkdwn, outside strings escaped once (renderers show it as
            it is).
        before: human-meaningful fields as they are now (``None`` for a create).
        after: the same fields as they will be (``None`` for a delete).
        environment: the id of the environment the change touches (a key's or webhook's
            own), which picks its approval route; ``None`` when it touches none.
        target: what it changes, ``<resource>:<id or name>[:<field>]``: a second pending
            request for the same action and target is refused as a duplicate.
        destructive: the change deletes something, or stops something that works now
            (`bot.domain.DESTRUCTIVE`).
    """

    action: str
    params: dict[str, Any]
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    environment: str | None = None
    target: str = ""
    destructive: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "destructive", destructive_kind(self.action, self.params) is not None
        )


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
    what happened in one sentence of mrkdwn.

    Attributes:
        grace_until: a rotation that keeps the old key usable: when that ends (the sweeper
            then finishes it).
        instructions: what the requester must do next (a subdomain's DNS records), mrkdwn,
            sent to them by direct message.
    """

    result: dict[str, Any]
    message: str
    grace_until: datetime | None = None
    instructions: str | None = None


class ExecutionFailed(Exception):
    """An approved change failed.

    Attributes:
        message: one sentence of mrkdwn saying what went wrong.
        cause: the Management API error behind it, if any.
        state_of_account: exactly what is true of the account now (mrkdwn), so the requester
            knows whether anything needs cleaning up.
        uncertain: the write got no answer, so it may or may not have happened; a check
            against the account can settle it later.
    """

    def __init__(
        self,
        message: str,
        *,
        cause: FingerprintError | None,
        state_of_account: str,
        uncertain: bool = False,
    ) -> None:
        self.message = message
        self.cause = cause
        self.state_of_account = state_of_account
        self.uncertain = uncertain
        super().__init__(message)

    @property
    def error_code(self) -> str:
        """The code notifications group on: the API's, or ``execution.failed``."""
        return self.cause.error_code if self.cause else "execution.failed"


class Postponed(Exception):
    """Nothing reached Fingerprint (its rate limit held the call back, or the shared rate
    budget could not be asked): the change has not started and may run later as approved.

    Attributes:
        cause: the error that held it back.
    """

    def __init__(self, cause: FingerprintError) -> None:
        self.cause = cause
        super().__init__(str(cause))


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The verdict on a request interrupted while executing (or whose write got no answer);
    ``message`` is mrkdwn.

    Attributes:
        untouched: the account shows no trace of the change — it never reached Fingerprint,
            so it may run again as approved. A failed verdict without it found something
            (a resource created and disabled, half a rotation) and says what.
        grace_until: as for `Execution`.
    """

    state: Literal[State.SUCCEEDED, State.FAILED]
    message: str
    untouched: bool = False
    grace_until: datetime | None = None


def succeeded(message: str, *, grace_until: datetime | None = None) -> Reconciliation:
    return Reconciliation(State.SUCCEEDED, message, grace_until=grace_until)


def failed(message: str) -> Reconciliation:
    return Reconciliation(State.FAILED, message)


def never_reached() -> Reconciliation:
    """The account shows no trace of the change: nothing happened."""
    return Reconciliation(State.FAILED, say.NEVER_REACHED, untouched=True)


# ── one kind of change ──────────────────────────────────────────────────────────────────────


class Action(ABC):
    """One kind of change: how to plan it, run it once, and judge it after a crash."""

    permission: ClassVar[str]

    @abstractmethod
    async def plan(self, client: Account, command: commands.Command) -> Plan:
        """Validate ``command`` against the account now; raise `PlanError` to refuse."""

    @abstractmethod
    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        """Run the planned change once; raise `ExecutionFailed` saying what is now true."""

    @abstractmethod
    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        """Decide from the account whether an interrupted change happened; never re-run it.

        ``delivered`` are the resources whose secret the audit trail says reached the
        requester: those are not disabled as lost.
        """


class Removal(Action, ABC):
    """Deleting one resource by id: the same three steps whatever the kind of resource.

    A subclass names its command and the attribute naming the resource (``key``…), the
    request's parameter for its id (``key_id``…), and how to resolve, find, describe and
    delete its kind; the sentences come from `bot.render.changes`.
    """

    command: ClassVar[type[commands.Command]]
    ref_param: ClassVar[str]
    id_param: ClassVar[str]
    noun: ClassVar[str]

    @abstractmethod
    async def resolve(self, client: Account, ref: str) -> Any:
        """The resource ``ref`` (an id or an exact name) names; `PlanError` if none."""

    @abstractmethod
    async def find(self, client: Account, resource_id: str) -> Any | None:
        """The resource with this id, or ``None`` when it does not exist."""

    def environment_of(self, resource: Any) -> str | None:
        """The environment the resource belongs to (its route's)."""
        return getattr(resource, "environment", None)

    async def check(self, client: Account, resource: Any) -> None:
        """Refuse (`PlanError`) a deletion Fingerprint would refuse; by default none is."""

    @abstractmethod
    async def describe(self, client: Account, resource: Any) -> tuple[str, dict[str, Any]]:
        """(summary, before) of deleting ``resource``."""

    @abstractmethod
    async def delete(self, client: Account, resource_id: str) -> None: ...

    @abstractmethod
    def deleting_failed(self, request: ChangeRequest, resource_id: str) -> tuple[str, str]:
        """(what failed, where to check) for a delete that failed."""

    @abstractmethod
    def deleted(self, request: ChangeRequest, resource_id: str) -> str:
        """The sentence for a delete that happened."""

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        ref = getattr(expect(command, self.command, self.permission), self.ref_param)
        resource = await self.resolve(client, ref)
        await self.check(client, resource)
        summary, before = await self.describe(client, resource)
        return Plan(
            action=self.permission,
            params={self.id_param: resource.id},
            summary=summary,
            before=before,
            after=None,
            environment=self.environment_of(resource),
            target=f"{self.noun}:{resource.id}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        resource_id = request.params[self.id_param]
        what, check = self.deleting_failed(request, resource_id)
        await write(self.delete(client, resource_id), failed=what, check=check)
        return Execution(
            result={self.id_param: resource_id}, message=self.deleted(request, resource_id)
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        resource_id = request.params[self.id_param]
        if await self.find(client, resource_id) is not None:
            return never_reached()
        return succeeded(self.deleted(request, resource_id))


class Composite(Action):
    """Several kinds of change under one permission (``rules.update`` both changes and moves
    a rule): ``plan`` picks the variant by the command's type; execute and reconcile by the
    ``op`` its plan put in the request's params (a request without one is ``default``'s,
    as every request stored before the variants existed is)."""

    variants: ClassVar[Mapping[str, tuple[tuple[type[commands.Command], ...], Action]]]
    default: ClassVar[str]

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        for op, (shapes, action) in self.variants.items():
            if isinstance(command, shapes):
                plan = await action.plan(client, command)
                if op != self.default:
                    plan.params["op"] = op
                return plan
        raise TypeError(f"{type(command).__name__} is not a command for {self.permission}")

    def variant(self, request: ChangeRequest) -> Action:
        return self.variants[str(request.params.get("op", self.default))][1]

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        return await self.variant(request).execute(client, request, deliver_secret)

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        return await self.variant(request).reconcile(client, request, delivered)


# ── helpers the actions share ───────────────────────────────────────────────────────────────


def never_sent(error: FingerprintError) -> bool:
    """The call was held back before Fingerprint did anything: a 429 (after the client's own
    retries) or a shared rate budget that could not be asked."""
    return isinstance(error, RateLimited | BudgetUnavailable)


def was_refused(error: FingerprintError) -> bool:
    """Fingerprint answered 4xx: it looked at the request and did not apply it.

    Anything else (no answer, a 5xx, an unreadable 2xx) leaves the outcome unknown.
    """
    return error.status is not None and 400 <= error.status < 500


async def before_writing(op: Awaitable[T]) -> T:
    """A read a change makes before its first write (is the name still free?). Its failure
    changed nothing: held back → `Postponed`; otherwise the change fails, nothing done."""
    try:
        return await op
    except FingerprintError as e:
        if never_sent(e):
            raise Postponed(e) from e
        raise ExecutionFailed(
            say.could_not_check(e), cause=e, state_of_account=say.NOTHING_CHANGED
        ) from e


async def write(
    op: Awaitable[T], *, failed: str, check: str, unchanged: str = say.NOTHING_CHANGED
) -> T:
    """Await the change's first write call; fpbot does not repeat it (the client's own
    retries of idempotent updates are described in the module docstring).

    Raises:
        Postponed: the call never reached Fingerprint; nothing happened.
        ExecutionFailed: Fingerprint refused it (nothing happened), or did not answer
            (``uncertain``); the failure says what is now true.
    """
    try:
        return await op
    except FingerprintError as e:
        if never_sent(e):
            raise Postponed(e) from e
        if was_refused(e):
            raise ExecutionFailed(
                say.write_failed(failed, e), cause=e, state_of_account=unchanged
            ) from e
        raise ExecutionFailed(
            say.write_failed(failed, e),
            cause=e,
            state_of_account=say.not_confirmed(check),
            uncertain=True,
        ) from e


async def hand_over(deliver_secret: DeliverSecret, delivery: SecretDelivery) -> bool:
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


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def started(request: ChangeRequest) -> datetime:
    """When the interrupted execution began (or, failing that, when the request was made)."""
    return aware(request.executing_since or request.created_at)


def created_since(created_at: datetime | None, since: datetime) -> bool:
    """Whether a resource may have been created by a request that began at ``since``.

    A resource without a creation time is given the benefit of the doubt: the other evidence
    (its name, its URL) was checked to be free when the request was planned.
    """
    return created_at is None or aware(created_at) >= since - CLOCK_SKEW


def same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def expect(command: commands.Command, shape: type[C], permission: str) -> C:
    if not isinstance(command, shape):
        raise TypeError(f"{type(command).__name__} is not a command for {permission}")
    return command


def by_name(noun: str, ref: str, found: Sequence[R], name: Callable[[R], str | None]) -> R:
    """The one of ``found`` called ``ref``: exactly, else ignoring case; refused (`PlanError`)
    when none is, or several are (they are listed, so the person can give an id)."""
    exact = [r for r in found if name(r) == ref]
    folded = [r for r in found if (name(r) or "").casefold() == ref.casefold()]
    for named in (exact, folded):
        if len(named) == 1:
            return named[0]
        if named:
            candidates = [(name(r) or "", str(getattr(r, "id", ""))) for r in named]
            raise PlanError(say.ambiguous_name(noun, ref, candidates))
    raise PlanError(say.nothing_named(noun, ref))


def find_env(envs: list[Environment], ref: str) -> Environment:
    """The environment ``ref`` names: its id, or its exact name."""
    for env in envs:
        if env.id == ref:
            return env
    if ref.startswith(ENV_ID_PREFIXES):
        raise PlanError(say.no_environment(ref))
    return by_name("environment", ref, envs, lambda e: e.name)


def env_label(envs: list[Environment], env_id: str | None) -> str:
    """The environment's name for before → after: its name, its id, or "workspace-wide"."""
    if env_id is None:
        return say.WORKSPACE_WIDE
    for env in envs:
        if env.id == env_id:
            return env.name
    return env_id


def before_name(request: ChangeRequest, fallback: str) -> str:
    """The resource's name as it was planned, for messages (the id if it was not recorded)."""
    name = (request.before or {}).get("name")
    return str(name) if name else fallback
