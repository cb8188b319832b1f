"""The store: where change requests, approvals, the audit trail and notification groups live.

SQLite by default, PostgreSQL through ``DATABASE_URL``; the schema migrates itself on start.
"""

from bot.store.guard import SecretRefused, refuse_secrets
from bot.store.migrations import HEAD_REVISION, SchemaTooNew
from bot.store.store import (
    ApprovalResult,
    DuplicateRequest,
    InvalidTransition,
    NotificationSlot,
    Store,
    StoreError,
    StoreUnavailable,
    UnknownRequest,
    new_request_id,
)

__all__ = [
    "HEAD_REVISION",
    "ApprovalResult",
    "DuplicateRequest",
    "InvalidTransition",
    "NotificationSlot",
    "SchemaTooNew",
    "SecretRefused",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnknownRequest",
    "new_request_id",
    "refuse_secrets",
]
