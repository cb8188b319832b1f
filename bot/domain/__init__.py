"""The domain, below everything: change requests, their states and moves, and what a secret is.

Plain data and pure rules that every layer shares and that import nothing else of fpbot, so the
store can keep requests without knowing the workflow, and the renderers can show them without
knowing the store.
"""

from bot.domain.requests import (
    DESTRUCTIVE,
    TRANSITIONS,
    Approval,
    ApprovalResult,
    AuditEvent,
    ChangeRequest,
    GraceState,
    State,
    Uncertainty,
    can_transition,
    destructive_kind,
)
from bot.domain.secrets import (
    SECRET_FIELD_NAMES,
    SecretRefused,
    is_secret_field,
    refuse_secrets,
    without_secrets,
)

__all__ = [
    "DESTRUCTIVE",
    "SECRET_FIELD_NAMES",
    "TRANSITIONS",
    "Approval",
    "ApprovalResult",
    "AuditEvent",
    "ChangeRequest",
    "GraceState",
    "SecretRefused",
    "State",
    "Uncertainty",
    "can_transition",
    "destructive_kind",
    "is_secret_field",
    "refuse_secrets",
    "without_secrets",
]
