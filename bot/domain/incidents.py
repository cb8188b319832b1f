"""What an alert is about: its cause, whatever command or request met it.

A revoked Management API key fails ``/fp envs``, ``/fp keys``, ``/fp webhooks`` and every change
alike; the operators need one incident saying so (with how often, whom it hit and the fix),
not a card per command. `cause_of` reads the error code a failure carries; a code it does not
know is no incident (it stays a card of its own, grouped by operation and code).
"""

from __future__ import annotations

from enum import StrEnum


class Cause(StrEnum):
    """A condition outside any one command that makes many of them fail."""

    KEY_REJECTED = "api.key_rejected"
    API_UNAVAILABLE = "api.unavailable"
    API_RATE_LIMITED = "api.rate_limited"
    BUDGET_UNAVAILABLE = "redis.unavailable"
    STORE_UNREACHABLE = "store.unavailable"
    SLACK_TOKEN_REJECTED = "slack.token_rejected"


#: The causes a Management API call that got through disproves.
API_CAUSES = frozenset(
    {Cause.KEY_REJECTED, Cause.API_UNAVAILABLE, Cause.API_RATE_LIMITED, Cause.BUDGET_UNAVAILABLE}
)

_BY_CODE = {
    "general.unauthorized": Cause.KEY_REJECTED,
    "general.forbidden": Cause.KEY_REJECTED,
    "http.401": Cause.KEY_REJECTED,
    "http.403": Cause.KEY_REJECTED,
    "general.unavailable": Cause.API_UNAVAILABLE,
    "general.internal-server-error": Cause.API_UNAVAILABLE,
    "transport": Cause.API_UNAVAILABLE,
    "rate-limit.exceeded": Cause.API_RATE_LIMITED,
    "redis.unavailable": Cause.BUDGET_UNAVAILABLE,
    "store.unavailable": Cause.STORE_UNREACHABLE,
    "slack.invalid_auth": Cause.SLACK_TOKEN_REJECTED,
    "slack.token_revoked": Cause.SLACK_TOKEN_REJECTED,
    "slack.account_inactive": Cause.SLACK_TOKEN_REJECTED,
}


def cause_of(error_code: str) -> Cause | None:
    """The incident an error code belongs to (``http.5xx`` answers too), if any."""
    if error_code.startswith("http.5"):
        return Cause.API_UNAVAILABLE
    return _BY_CODE.get(error_code)
