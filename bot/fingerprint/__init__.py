"""Fingerprint's Management API: the one client, its typed models and its errors.

Everything above this package imports from here; nothing above it touches httpx or JSON.
"""

from bot.fingerprint.client import ClientStats, ManagementClient
from bot.fingerprint.errors import (
    AUTH_ERRORS,
    BadRequest,
    Conflict,
    FingerprintError,
    Forbidden,
    InvalidResponse,
    NotFound,
    PaginationLoop,
    PlanLimitReached,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    Violation,
)
from bot.fingerprint.models import (
    ApiKey,
    Environment,
    FilteringRule,
    Hello,
    KeyType,
    LimitMode,
    OriginRules,
    Status,
    Webhook,
)

__all__ = [
    "AUTH_ERRORS",
    "ApiKey",
    "BadRequest",
    "ClientStats",
    "Conflict",
    "Environment",
    "FilteringRule",
    "FingerprintError",
    "Forbidden",
    "Hello",
    "InvalidResponse",
    "KeyType",
    "LimitMode",
    "ManagementClient",
    "NotFound",
    "OriginRules",
    "PaginationLoop",
    "PlanLimitReached",
    "RateLimited",
    "ServerError",
    "Status",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "Violation",
    "Webhook",
]
