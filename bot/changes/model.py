"""The change request as the rest of fpbot sees it: plain, immutable data.

A request stores *what* to do (``action`` and JSON-safe ``params``), what the account looked
like when it was asked (``before``) and what it should look like after (``after``), so the
approval message can show before → after. It never holds a secret: a token created by a change
goes to the requester by direct message and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """pending → approved → executing → succeeded | failed; pending → denied | expired."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in (State.SUCCEEDED, State.FAILED, State.DENIED, State.EXPIRED)


@dataclass(frozen=True, slots=True)
class Approval:
    user_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One requested change and everything known about it so far.

    Attributes:
        id: short, human-typable id (e.g. ``CR-7K2M9Q``); also the buttons' ``value``.
        action: the permission it needs, e.g. ``envs.delete`` or ``keys.rotate``.
        params: the validated arguments (ids, names, type…), JSON-safe.
        summary: one line a person reads, e.g. "Delete environment *Staging* (`ae_123`)".
        before: the resource as it was when requested (``None`` for a create).
        after: the resource as it should be (``None`` for a delete).
        result: what the change produced, secrets removed (e.g. the new key's id).
        executing_since: when execution started (reconciliation recognises what the request
            created by it); never moved after that.
        heartbeat_at: when the executing process last renewed its lease (``None`` until the
            first renewal); the sweeper reconciles a request only once neither this nor
            ``executing_since`` is recent.
        reconciling_since: when a sweeper last claimed the request to reconcile it
            (`bot.store.Store.claim_stale`); ``None`` while its own process holds the lease.
            A claimed lease is never renewed by that process again.
    """

    id: str
    action: str
    params: dict[str, Any]
    summary: str
    requester: str
    channel_id: str
    state: State
    required_approvals: int
    created_at: datetime
    expires_at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    approvals: tuple[Approval, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    executing_since: datetime | None = None
    heartbeat_at: datetime | None = None
    reconciling_since: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    correlation_id: str = ""
    approval_channel: str | None = None
    approval_ts: str | None = None
    version: int = field(default=0, compare=False)

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a.user_id for a in self.approvals)

    @property
    def approvals_missing(self) -> int:
        return max(0, self.required_approvals - len(self.approvers))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the trail: every transition and every refused click."""

    at: datetime
    kind: str  # e.g. "requested", "approved", "denied", "refused", "executed", "failed"
    actor: str  # Slack user id, or "fpbot" for the sweeper and reconciliation
    request_id: str | None
    detail: str
    correlation_id: str = ""
    id: int | None = None
