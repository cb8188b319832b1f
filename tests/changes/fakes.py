"""In-memory stand-ins for the three things the core talks to (`bot.ports`): the account
(`FakeApi`), the store (`FakeStore`) and Slack (`FakeConversation`).

They keep the semantics the core relies on — the store's moves are conditional and atomic (no
await inside one), the account records every write — so the workflow's rules can be tested
without a network or a database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain import (
    Approval,
    ApprovalResult,
    AuditEvent,
    ChangeRequest,
    GraceState,
    State,
    can_transition,
)
from bot.fingerprint.errors import FingerprintError, NotFound
from bot.fingerprint.models import ApiKey, Environment, KeyType, LimitMode, Status, Webhook
from bot.ports import Origin, Posted
from bot.render import Message
from bot.store import DuplicateRequest, PendingDuplicate, TooManyPending

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=30)

Write = tuple[str, str | None, dict[str, Any]]


class FakeApi:
    """An account held in dicts. Writes are recorded as ``(operation, target, fields)``;
    ``fail(op, error, target=)`` makes the next matching call raise (after being recorded)."""

    #: The Management API version the fake speaks (`bot.ports.Account.api_version`).
    api_version = "2024-05-20"

    def __init__(self) -> None:
        self.now = NOW + timedelta(seconds=1)
        self.envs: dict[str, Environment] = {}
        self.keys: dict[str, ApiKey] = {}
        self.hooks: dict[str, Webhook] = {}
        self.writes: list[Write] = []
        self.secrets: list[str] = []
        self._failures: list[tuple[str, str | None, FingerprintError]] = []
        self._serial = 0
        self.omit_secrets = False

    # set-up helpers
    def fail(self, op: str, error: FingerprintError, *, target: str | None = None) -> None:
        self._failures.append((op, target, error))

    def _maybe_fail(self, op: str, target: str | None) -> None:
        for i, (f_op, f_target, error) in enumerate(self._failures):
            if f_op == op and (f_target is None or f_target == target):
                del self._failures[i]
                raise error

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_new{self._serial}"

    def _write(self, op: str, target: str | None, **fields: Any) -> None:
        self.writes.append((op, target, {k: v for k, v in fields.items() if v is not None}))
        self._maybe_fail(op, target)

    # reads
    async def list_environments(self) -> list[Environment]:
        self._maybe_fail("list_environments", None)
        return list(self.envs.values())

    async def list_api_keys(
        self,
        *,
        type: KeyType | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> list[ApiKey]:
        self._maybe_fail("list_api_keys", None)
        return [
            k
            for k in self.keys.values()
            if (type is None or k.type == type)
            and (status is None or k.status == status)
            and (environment is None or k.environment == environment)
        ]

    async def get_api_key(self, key_id: str) -> ApiKey:
        self._maybe_fail("get_api_key", key_id)
        if key_id not in self.keys:
            raise NotFound("API key not found", status=404, code="general.not-found")
        return self.keys[key_id]

    async def list_webhooks(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[Webhook]:
        self._maybe_fail("list_webhooks", None)
        return [
            h
            for h in self.hooks.values()
            if (status is None or h.status == status)
            and (environment is None or h.environment == environment)
        ]

    async def get_webhook(self, webhook_id: str) -> Webhook:
        self._maybe_fail("get_webhook", webhook_id)
        if webhook_id not in self.hooks:
            raise NotFound("Webhook not found", status=404, code="general.not-found")
        return self.hooks[webhook_id]

    # writes
    async def create_environment(self, name: str, *, description: str | None = None) -> Environment:
        self._write("create_environment", None, name=name, description=description)
        env = Environment(
            id=self._id("ae"), name=name, description=description, created_at=self.now
        )
        self.envs[env.id] = env
        return env

    async def update_environment(
        self,
        env_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        limit_mode: LimitMode | None = None,
        limit_value: int | None = None,
    ) -> Environment:
        self._write(
            "update_environment",
            env_id,
            name=name,
            description=description,
            limit_mode=limit_mode,
            limit_value=limit_value,
        )
        old = self.envs[env_id]
        env = old.model_copy(
            update={
                "name": name or old.name,
                "limit_mode": limit_mode or old.limit_mode,
                "limit_value": limit_value if limit_mode else old.limit_value,
            }
        )
        self.envs[env_id] = env
        return env

    async def delete_environment(self, env_id: str) -> None:
        self._write("delete_environment", env_id)
        del self.envs[env_id]

    async def create_api_key(
        self,
        *,
        type: KeyType,
        name: str,
        description: str | None = None,
        environment: str | None = None,
    ) -> ApiKey:
        self._write(
            "create_api_key",
            None,
            type=type,
            name=name,
            environment=environment,
            description=description,
        )
        key_id = self._id("tok")
        token = None if self.omit_secrets else f"TOPSECRET-{type}-{key_id}"
        if token and type is not KeyType.PUBLIC:
            self.secrets.append(token)
        key = ApiKey(
            id=key_id,
            name=name,
            type=type,
            status=Status.ENABLED,
            environment=environment,
            token=token,
            created_at=self.now,
        )
        self.keys[key.id] = key.model_copy(update={"token": None})
        return key

    async def update_api_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        rate_limit: float | None = None,
    ) -> ApiKey:
        self._write(
            "update_api_key",
            key_id,
            name=name,
            status=status,
            rate_limit=rate_limit,
            description=description,
        )
        if key_id not in self.keys:
            raise NotFound("API key not found", status=404, code="general.not-found")
        old = self.keys[key_id]
        key = old.model_copy(
            update={
                "name": name or old.name,
                "status": status or old.status,
                "rate_limit": old.rate_limit if rate_limit is None else rate_limit,
                "description": old.description if description is None else description,
            }
        )
        self.keys[key_id] = key
        return key

    async def delete_api_key(self, key_id: str) -> None:
        self._write("delete_api_key", key_id)
        del self.keys[key_id]

    async def create_webhook(
        self,
        *,
        url: str,
        description: str | None = None,
        environment: str | None = None,
        status: Status | None = None,
    ) -> Webhook:
        self._write(
            "create_webhook",
            None,
            url=url,
            description=description,
            environment=environment,
            status=status,
        )
        hook_id = self._id("wh")
        signing_key = None if self.omit_secrets else f"TOPSECRET-signing-{hook_id}"
        if signing_key:
            self.secrets.append(signing_key)
        hook = Webhook(
            id=hook_id,
            url=url,
            description=description,
            status=status or Status.ENABLED,
            environment=environment,
            signing_key=signing_key,
            created_at=self.now,
        )
        self.hooks[hook.id] = hook.model_copy(update={"signing_key": None})
        return hook

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> Webhook:
        self._write(
            "update_webhook",
            webhook_id,
            status=status,
            url=url,
            description=description,
            environment=environment,
        )
        old = self.hooks[webhook_id]
        hook = old.model_copy(
            update={
                "status": status or old.status,
                "url": url or old.url,
                "description": old.description if description is None else description,
                "environment": environment or old.environment,
            }
        )
        self.hooks[webhook_id] = hook
        return hook

    async def delete_webhook(self, webhook_id: str) -> None:
        self._write("delete_webhook", webhook_id)
        del self.hooks[webhook_id]


def seeded() -> FakeApi:
    api = FakeApi()
    for env_id, name in [
        ("ae_default", "Default environment"),
        ("ae_prod", "Production"),
        ("ae_stage", "Staging"),
    ]:
        api.envs[env_id] = Environment(id=env_id, name=name, created_at=EARLIER)
    api.keys["tok_pub"] = ApiKey(
        id="tok_pub",
        name="Website",
        type=KeyType.PUBLIC,
        status=Status.ENABLED,
        environment="ae_prod",
        created_at=EARLIER,
    )
    api.keys["tok_sec"] = ApiKey(
        id="tok_sec",
        name="Backend",
        type=KeyType.SECRET,
        status=Status.ENABLED,
        environment="ae_prod",
        created_at=EARLIER,
    )
    api.keys["tok_off"] = ApiKey(
        id="tok_off",
        name="Old proxy",
        type=KeyType.PROXY,
        status=Status.DISABLED,
        environment="ae_stage",
        created_at=EARLIER,
    )
    api.hooks["wh_1"] = Webhook(
        id="wh_1",
        url="https://example.com/hook",
        status=Status.ENABLED,
        environment="ae_prod",
        created_at=EARLIER,
    )
    return api


# ── the store ───────────────────────────────────────────────────────────────────────────────


class FakeStore:
    """`bot.ports.RequestStore` in dicts. Each operation is atomic (nothing awaits inside it
    after its ``hook``), as the real store's single statements are; ``hooks[name]`` is awaited
    first, so a test can hold one caller there and interleave another deterministically."""

    def __init__(self) -> None:
        self.requests: dict[str, ChangeRequest] = {}
        self.events: list[AuditEvent] = []
        self.hooks: dict[str, Callable[[], Awaitable[None]]] = {}
        self.lease_refused = False

    async def _hook(self, name: str) -> None:
        hook = self.hooks.get(name)
        if hook is not None:
            await hook()

    async def create(self, request: ChangeRequest, *, max_pending: int | None = None) -> None:
        await self._hook("create")
        if request.id in self.requests:
            raise DuplicateRequest(request.id)
        if request.state is State.PENDING:
            if request.target is not None:
                twin = await self.pending_duplicate(request.action, request.target)
                if twin is not None:
                    raise PendingDuplicate(twin)
            if (
                max_pending is not None
                and await self.count_pending(request.requester) >= max_pending
            ):
                raise TooManyPending(max_pending)
        self.requests[request.id] = replace(request, version=1)

    async def get(self, request_id: str) -> ChangeRequest | None:
        await self._hook("get")
        return self.requests.get(request_id)

    async def add_approval(self, request_id: str, user_id: str, at: datetime) -> ApprovalResult:
        await self._hook("add_approval")
        request = self.requests[request_id]
        if request.state is not State.PENDING or request.expires_at <= at:
            return ApprovalResult.NOT_PENDING
        if user_id in request.approvers:
            return ApprovalResult.ALREADY_APPROVED
        approvals = (*request.approvals, Approval(user_id, at))
        self.requests[request_id] = replace(request, approvals=approvals)
        return ApprovalResult.RECORDED

    async def transition(
        self, request_id: str, expected: State, new: State, **fields: Any
    ) -> ChangeRequest | None:
        await self._hook("transition")
        assert can_transition(expected, new), f"{expected} → {new}"
        request = self.requests.get(request_id)
        if request is None or request.state is not expected:
            return None
        moved = replace(request, state=new, version=request.version + 1, **fields)
        self.requests[request_id] = moved
        return moved

    async def update_fields(self, request_id: str, **fields: Any) -> ChangeRequest | None:
        request = self.requests.get(request_id)
        if request is None:
            return None
        self.requests[request_id] = replace(request, version=request.version + 1, **fields)
        return self.requests[request_id]

    async def list_requests(
        self,
        *,
        states: Iterable[State] | None = None,
        requester: str | None = None,
        limit: int | None = 50,
    ) -> list[ChangeRequest]:
        wanted = set(states) if states is not None else None
        found = [
            r
            for r in sorted(self.requests.values(), key=lambda r: r.created_at, reverse=True)
            if (wanted is None or r.state in wanted)
            and (requester is None or r.requester == requester)
        ]
        return found if limit is None else found[:limit]

    async def due_for_expiry(self, now: datetime) -> list[ChangeRequest]:
        return [
            r for r in self.requests.values() if r.state is State.PENDING and r.expires_at <= now
        ]

    async def pending_duplicate(self, action: str, target: str) -> ChangeRequest | None:
        same = [
            r
            for r in self.requests.values()
            if r.state is State.PENDING and r.action == action and r.target == target
        ]
        return min(same, key=lambda r: r.created_at) if same else None

    async def count_pending(self, requester: str) -> int:
        return sum(
            r.state is State.PENDING and r.requester == requester for r in self.requests.values()
        )

    async def due_for_reminder(
        self, now: datetime, after: timedelta, limit: int
    ) -> list[ChangeRequest]:
        return [
            r
            for r in self.requests.values()
            if r.state is State.PENDING
            and r.expires_at > now
            and r.approval_ts is not None
            and r.reminders_sent < limit
            and (r.reminded_at or r.created_at) <= now - after
        ]

    async def claim_reminder(self, request_id: str, sent: int, at: datetime) -> bool:
        await self._hook("claim_reminder")
        request = self.requests[request_id]
        if request.state is not State.PENDING or request.reminders_sent != sent:
            return False
        self.requests[request_id] = replace(request, reminders_sent=sent + 1, reminded_at=at)
        return True

    async def without_card(self, older_than: datetime) -> list[ChangeRequest]:
        return [
            r
            for r in self.requests.values()
            if r.state is State.PENDING and r.approval_ts is None and r.created_at <= older_than
        ]

    async def graces_due(self, until: datetime) -> list[ChangeRequest]:
        return sorted(
            (
                r
                for r in self.requests.values()
                if r.grace_state is not None
                and r.grace_state.is_open
                and r.grace_ends_at is not None
                and r.grace_ends_at <= until
            ),
            key=lambda r: r.grace_ends_at or until,
        )

    async def open_graces(self, requester: str) -> list[ChangeRequest]:
        return sorted(
            (
                r
                for r in self.requests.values()
                if r.requester == requester and r.grace_state is not None and r.grace_state.is_open
            ),
            key=lambda r: r.grace_ends_at or r.created_at,
        )

    async def move_grace(
        self, request_id: str, expected: Iterable[GraceState], new: GraceState, *, at: datetime
    ) -> ChangeRequest | None:
        request = self.requests.get(request_id)
        if request is None or request.grace_state not in set(expected):
            return None
        closed_at = request.grace_closed_at if new.is_open else at
        moved = replace(
            request, grace_state=new, grace_closed_at=closed_at, version=request.version + 1
        )
        self.requests[request_id] = moved
        return moved

    async def set_card(self, request_id: str, channel: str, ts: str) -> bool:
        await self._hook("set_card")
        request = self.requests[request_id]
        if request.approval_ts is not None:
            return False
        self.requests[request_id] = replace(
            request,
            approval_channel=channel,
            approval_ts=ts,
            card_error=None,
            version=request.version + 1,
        )
        return True

    async def release_claim(self, request_id: str) -> None:
        request = self.requests[request_id]
        if request.state is State.EXECUTING:
            self.requests[request_id] = replace(request, heartbeat_at=None)

    async def renew_lease(
        self, request_id: str, at: datetime, *, lapsed_at: datetime | None = None
    ) -> bool:
        await self._hook("renew_lease")
        request = self.requests[request_id]
        leased = request.heartbeat_at or request.executing_since
        if (
            self.lease_refused
            or request.state is not State.EXECUTING
            or request.reconciling_since is not None
            or (lapsed_at is not None and (leased is None or leased <= lapsed_at))
        ):
            return False
        self.requests[request_id] = replace(request, heartbeat_at=at)
        return True

    async def claim_stale(self, request_id: str, *, lapsed_at: datetime, at: datetime) -> bool:
        request = self.requests[request_id]
        leased = request.heartbeat_at or request.executing_since
        if request.state is not State.EXECUTING or (leased is not None and leased > lapsed_at):
            return False
        self.requests[request_id] = replace(request, heartbeat_at=at, reconciling_since=at)
        return True

    async def stale_executing(self, older_than: datetime) -> list[ChangeRequest]:
        return [
            r
            for r in self.requests.values()
            if r.state is State.EXECUTING
            and ((r.heartbeat_at or r.executing_since) or older_than) <= older_than
        ]

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def audit(
        self, limit: int = 20, request_id: str | None = None, kind: str | None = None
    ) -> list[AuditEvent]:
        events = [
            e
            for e in self.events
            if (request_id is None or e.request_id == request_id)
            and (kind is None or e.kind == kind)
        ]
        return list(reversed(events))[:limit]

    def kinds(self, request_id: str) -> list[str]:
        return [e.kind for e in self.events if e.request_id == request_id]


# ── Slack ───────────────────────────────────────────────────────────────────────────────────


class FakeConversation:
    """`bot.ports.Conversation` that records what each person and channel was shown."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, Message]] = []  # (user, message)
        self.posts: dict[str, tuple[str, Message, str | None]] = {}  # ts → (channel, …, thread)
        self.edits: list[tuple[Posted, Message]] = []
        self.dms: list[tuple[str, Message]] = []
        self.secrets: list[tuple[str, Message]] = []
        self.forms: list[tuple[str, dict[str, Any]]] = []  # (trigger_id, view)
        self.homes: dict[str, dict[str, Any]] = {}  # user → their App Home as published
        self.taken_back: list[Posted] = []
        self._sent = 0

    async def answer(self, origin: Origin, message: Message) -> None:
        self.answers.append((origin.user_id, message))

    async def deliver_listing(
        self, origin: Origin, what: str, listing: Awaitable[list[Message]]
    ) -> None:
        for message in await listing:
            await self.post(origin.channel_id, message)

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        ts = f"1700000000.{self._sent:06d}"
        self._sent += 1
        self.posts[ts] = (channel, message, thread_ts)
        return Posted(channel, ts)

    async def take_back(self, posted: Posted) -> None:
        self.posts.pop(posted.ts, None)
        self.taken_back.append(posted)

    async def edit(self, posted: Posted, message: Message) -> None:
        self.edits.append((posted, message))

    async def tell(self, user_id: str, message: Message) -> None:
        self.dms.append((user_id, message))

    async def deliver_secret(self, user_id: str, message: Message) -> bool:
        self.secrets.append((user_id, message))
        return True

    async def permalink(self, posted: Posted) -> str | None:
        return f"https://slack.test/archives/{posted.channel}/p{posted.ts.replace('.', '')}"

    async def open_form(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.forms.append((trigger_id, view))

    async def update_form(
        self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None
    ) -> None:
        self.forms.append((view_id, view))

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self.homes[user_id] = view

    def answered(self, user: str) -> list[str]:
        return [m.text for u, m in self.answers if u == user]

    def card(self, posted: Posted) -> Message:
        """The card as it reads now: its last edit, else as posted."""
        edits = [m for p, m in self.edits if p == posted]
        return edits[-1] if edits else self.posts[posted.ts][1]

    def thread(self, posted: Posted) -> list[str]:
        return [m.text for _, m, thread in self.posts.values() if thread == posted.ts]
