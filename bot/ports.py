"""The three things the core talks to, as small Protocols: Slack, the store and the account.

The runner and the change workflow are written against these, not against slack_sdk, SQLAlchemy
or httpx: `bot.slack` implements `Conversation`, `bot.store.Store` implements `RequestStore`,
`bot.fingerprint.ManagementClient` implements `Account`. Tests pass in-memory fakes of all three
and exercise the workflow's rules without a network.

`Origin` is where a command or a click came from and where its answer goes; `Posted` is where a
message landed. Neither holds a Slack type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.domain import ApprovalResult, AuditEvent, ChangeRequest, GraceState, State
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    KeyType,
    LimitMode,
    OriginRules,
    Placement,
    RuleAction,
    RuleSpec,
    RuleTestResult,
    SampleRequest,
    Status,
    Subdomain,
    Webhook,
)
from bot.render.blocks import Message


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: what an edit and a thread reply need later."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked and where the answer goes: the parts of a signed Slack payload the core uses.

    Attributes:
        user_id: the person, as Slack signed it (never a name typed in the text).
        channel_id: where the command was typed or the button clicked.
        response_url: the payload's own reply address, when it has one.
        correlation_id: the id a person can quote and an operator can grep.
        message: the message a button was clicked on (Slack shows a message before its
            poster hears where it landed, so a click can carry that first).
        trigger_id: what opens a form in answer (valid for three seconds, once).
    """

    user_id: str
    channel_id: str
    response_url: str | None
    correlation_id: str
    message: Posted | None = None
    trigger_id: str | None = None


class DeliveryFailed(Exception):
    """Slack refused or could not take a message; ``error`` is Slack's code (or
    ``unreachable``)."""

    def __init__(self, method: str, error: str) -> None:
        self.method = method
        self.error = error
        super().__init__(f"Slack {method} failed: {error}")


class Conversation(Protocol):
    """Everything the core says in Slack, in the core's words.

    How each is delivered — ``response_url`` budgets, the "Fetching…" placeholder, a direct
    message when the channel refuses, retries of rate limits — is the adapter's business.
    """

    async def answer(self, origin: Origin, message: Message) -> None:
        """An ephemeral answer to the person behind ``origin``; never raises."""

    async def deliver_listing(
        self, origin: Origin, what: str, listing: Awaitable[list[Message]]
    ) -> None:
        """Post a listing to ``origin``'s channel, whole and in order, as it becomes ready.

        Raises whatever awaiting ``listing`` raises; delivery problems are handled inside.
        """

    async def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        """Post a message (in a thread when ``thread_ts`` is given).

        Raises:
            DeliveryFailed: Slack did not take it.
        """

    async def edit(self, posted: Posted, message: Message) -> None:
        """Replace a message fpbot posted.

        Raises:
            DeliveryFailed: Slack did not take the edit.
        """

    async def take_back(self, posted: Posted) -> None:
        """Delete a message fpbot posted; never raises (what stays is logged)."""

    async def tell(self, user_id: str, message: Message) -> None:
        """A direct message to one person; never raises."""

    async def deliver_secret(self, user_id: str, message: Message) -> bool:
        """A direct message that must arrive exactly once (it carries a secret).

        Returns:
            Whether it is certain to have arrived; ``False`` means "perhaps not delivered".
        """

    async def permalink(self, posted: Posted) -> str | None:
        """A link to a message, or ``None`` when Slack will not give one."""

    async def open_form(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a form (a modal) in answer to the click or command that gave ``trigger_id``.

        Raises:
            DeliveryFailed: Slack did not open it (the trigger expired, a bad view).
        """

    async def update_form(
        self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None
    ) -> None:
        """Replace an open form (with ``view_hash``: only if nobody changed it meanwhile).

        Raises:
            DeliveryFailed: Slack did not take it.
        """

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Show ``view`` as the person's App Home.

        Raises:
            DeliveryFailed: Slack did not take it.
        """


class RequestStore(Protocol):
    """What the change workflow keeps durable (`bot.store.Store`)."""

    async def create(self, request: ChangeRequest, *, max_pending: int | None = None) -> None: ...

    async def get(self, request_id: str) -> ChangeRequest | None: ...

    async def add_approval(self, request_id: str, user_id: str, at: datetime) -> ApprovalResult: ...

    async def transition(
        self, request_id: str, expected: State, new: State, **fields: object
    ) -> ChangeRequest | None: ...

    async def update_fields(self, request_id: str, **fields: object) -> ChangeRequest | None: ...

    async def list_requests(
        self,
        *,
        states: Iterable[State] | None = None,
        requester: str | None = None,
        limit: int | None = 50,
    ) -> list[ChangeRequest]: ...

    async def due_for_expiry(self, now: datetime) -> list[ChangeRequest]: ...

    async def pending_duplicate(self, action: str, target: str) -> ChangeRequest | None: ...

    async def count_pending(self, requester: str) -> int: ...

    async def due_for_reminder(
        self, now: datetime, after: timedelta, limit: int
    ) -> list[ChangeRequest]: ...

    async def claim_reminder(self, request_id: str, sent: int, at: datetime) -> bool: ...

    async def without_card(self, older_than: datetime) -> list[ChangeRequest]: ...

    async def graces_due(self, until: datetime) -> list[ChangeRequest]: ...

    async def open_graces(self, requester: str) -> list[ChangeRequest]: ...

    async def move_grace(
        self, request_id: str, expected: Iterable[GraceState], new: GraceState, *, at: datetime
    ) -> ChangeRequest | None: ...

    async def set_card(self, request_id: str, channel: str, ts: str) -> bool: ...

    async def release_claim(self, request_id: str) -> None: ...

    async def renew_lease(
        self, request_id: str, at: datetime, *, lapsed_at: datetime | None = None
    ) -> bool: ...

    async def claim_stale(self, request_id: str, *, lapsed_at: datetime, at: datetime) -> bool: ...

    async def stale_executing(self, older_than: datetime) -> list[ChangeRequest]: ...

    async def record(self, event: AuditEvent) -> None: ...

    async def audit(
        self, limit: int = 20, request_id: str | None = None, kind: str | None = None
    ) -> list[AuditEvent]: ...


class Account(Protocol):
    """The calls of the Management API client (`bot.fingerprint.ManagementClient`) that the
    core makes; structural, so tests pass an in-memory account.

    ``api_version`` is the one version the client speaks: some resources exist in one only
    (origin lists in ``2024-05-20``; expression rules, encryption keys and subdomains in
    ``2025-11-20``)."""

    @property
    def api_version(self) -> str: ...

    async def list_environments(self) -> list[Environment]: ...

    async def create_environment(
        self, name: str, *, description: str | None = None
    ) -> Environment: ...

    async def update_environment(
        self,
        env_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        limit_mode: LimitMode | None = None,
        limit_value: int | None = None,
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
        self,
        *,
        url: str,
        description: str | None = None,
        environment: str | None = None,
        status: Status | None = None,
    ) -> Webhook: ...

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> Webhook: ...

    async def delete_webhook(self, webhook_id: str) -> None: ...

    async def verify_webhook(self, webhook_id: str) -> Webhook | None: ...

    # filtering rules, 2024-05-20
    async def origin_rules(self, environment: str) -> OriginRules: ...

    async def patch_origin_rules(
        self,
        environment: str,
        *,
        permission: Literal["allow", "deny"],
        op: Literal["add", "remove"],
        items: Iterable[str],
    ) -> OriginRules: ...

    # filtering rules, 2025-11-20
    async def list_filtering_rules(
        self,
        *,
        environment: str | None = None,
        status: Status | None = None,
        name: str | None = None,
    ) -> list[FilteringRule]: ...

    async def get_filtering_rule(self, rule_id: str) -> FilteringRule: ...

    async def create_filtering_rule(
        self,
        *,
        name: str,
        environment: str,
        expression: str,
        action: RuleAction,
        status: Status | None = None,
        deny_with: str | None = None,
        placement: Placement | None = None,
    ) -> FilteringRule: ...

    async def update_filtering_rule(
        self,
        rule_id: str,
        *,
        name: str | None = None,
        environment: str | None = None,
        expression: str | None = None,
        action: RuleAction | None = None,
        status: Status | None = None,
        deny_with: str | None = None,
        placement: Placement | None = None,
    ) -> FilteringRule: ...

    async def delete_filtering_rule(self, rule_id: str) -> None: ...

    async def test_filtering_rules(
        self,
        *,
        environment: str | None = None,
        rules: Sequence[RuleSpec] | None = None,
        test_request_id: str | None = None,
        request: SampleRequest | None = None,
    ) -> RuleTestResult: ...

    # encryption keys, 2025-11-20
    async def list_encryption_keys(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[EncryptionKey]: ...

    async def get_encryption_key(self, key_id: str) -> EncryptionKey: ...

    async def update_encryption_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: Status | None = None,
    ) -> EncryptionKey: ...

    async def rotate_encryption_key(self, key_id: str) -> EncryptionKey: ...

    async def revert_encryption_key(self, key_id: str) -> EncryptionKey: ...

    # subdomains, 2025-11-20
    async def list_subdomains(self) -> list[Subdomain]: ...

    async def get_subdomain(self, subdomain_id: str) -> Subdomain: ...

    async def create_subdomain(self, subdomain: str) -> Subdomain: ...

    async def verify_subdomain(self, subdomain_id: str) -> Subdomain: ...

    async def delete_subdomain(self, subdomain_id: str) -> None: ...


class AccountReader(Protocol):
    """What the account watch and the digest read: every listing, as background reads (behind
    people's commands) — `bot.fingerprint.ManagementClient` is one."""

    @property
    def api_version(self) -> str: ...

    def background(self) -> AbstractContextManager[None]: ...

    async def list_environments(self) -> list[Environment]: ...

    async def list_api_keys(
        self,
        *,
        type: KeyType | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> list[ApiKey]: ...

    async def list_webhooks(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[Webhook]: ...

    async def list_filtering_rules(
        self,
        *,
        environment: str | None = None,
        status: Status | None = None,
        name: str | None = None,
    ) -> list[FilteringRule]: ...

    async def list_encryption_keys(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[EncryptionKey]: ...

    async def list_subdomains(self) -> list[Subdomain]: ...
