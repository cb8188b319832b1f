"""The store: where change requests, approvals, the audit trail and notification groups live.

SQLite by default, PostgreSQL through ``DATABASE_URL``; the schema migrates itself on start. It
imports nothing of fpbot but the domain (`bot.domain`) and the log.
"""

from bot.domain import ApprovalResult
from bot.store.migrations import HEAD_REVISION, SchemaTooNew
from bot.store.store import (
    DuplicateRequest,
    Incident,
    InvalidTransition,
    NotificationSlot,
    PendingDuplicate,
    Schedule,
    Store,
    StoreError,
    StoreUnavailable,
    TooManyPending,
    UnknownRequest,
    new_request_id,
)

__all__ = [
    "HEAD_REVISION",
    "ApprovalResult",
    "DuplicateRequest",
    "Incident",
    "InvalidTransition",
    "NotificationSlot",
    "PendingDuplicate",
    "Schedule",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TooManyPending",
    "UnknownRequest",
    "new_request_id",
]
