"""What a person reads about a Management API failure: a short summary per kind of error,
and the one reply that explains a failure to the person who asked. How to fix a failure is
for the operators (`bot.render.incidents`), not for whoever met it.

Errors are short and human — the summary, the API's own words, the violations and the
correlation id that finds the log lines — never a traceback. Messages are already scrubbed of
secrets by the client; outside text is escaped here.
"""

from __future__ import annotations

from bot.fingerprint.errors import (
    AUTH_ERRORS,
    BadRequest,
    BudgetUnavailable,
    Conflict,
    FingerprintError,
    Forbidden,
    InvalidResponse,
    NotFound,
    OriginRulesUnreadable,
    PaginationLoop,
    PlanLimitReached,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WrongApiVersion,
)
from bot.render.blocks import Block, Message, code, context, fallback, inline, pack_lines, section

MAX_VIOLATIONS = 10
DETAIL_MAX = 1000

_SUMMARIES: dict[type[FingerprintError], str] = {
    FingerprintError: "The Fingerprint Management API returned an error",
    BadRequest: "Fingerprint refused the request as malformed",
    Unauthorized: "Fingerprint rejected fpbot's Management API key (revoked or wrong)",
    Forbidden: "fpbot's Management API key is not allowed to do this",
    NotFound: "Fingerprint has no such resource",
    Conflict: "Fingerprint refused the change because it conflicts with the account's state",
    ValidationFailed: "Fingerprint refused the values given",
    PlanLimitReached: "The Fingerprint plan's limit is reached",
    RateLimited: (
        "Fingerprint kept refusing fpbot's key for going over its rate limit, which everyone "
        "using fpbot shares"
    ),
    ServerError: "Fingerprint's Management API failed",
    Unavailable: "Fingerprint's Management API is unavailable",
    TransportError: "fpbot could not reach Fingerprint's Management API",
    Timeout: "Fingerprint's Management API did not answer in time",
    BudgetUnavailable: (
        "fpbot's shared rate budget (Redis) is unreachable, so the API was not called"
    ),
    InvalidResponse: "Fingerprint's Management API answered something fpbot could not read",
    PaginationLoop: "Fingerprint's Management API returned a repeated page cursor",
    WrongApiVersion: (
        "This is part of the other Management API version than the one fpbot speaks "
        "(FP_API_VERSION)"
    ),
    OriginRulesUnreadable: (
        "Fingerprint cannot show origin lists back under Management API 2024-05-20; "
        "the dashboard shows them"
    ),
}


def summary_of(err: FingerprintError | type[FingerprintError]) -> str:
    """A few words on what went wrong, by the most specific kind of error (plain text)."""
    kind = err if isinstance(err, type) else type(err)
    for cls in kind.__mro__:
        if cls in _SUMMARIES:
            return _SUMMARIES[cls]  # type: ignore[index]
    return _SUMMARIES[FingerprintError]


def _is_auth_error(err: FingerprintError) -> bool:
    return isinstance(err, AUTH_ERRORS) or err.status in (401, 403)


def render_error(err: FingerprintError, *, what: str) -> Message:
    """A Management API failure, for the person who asked.

    Args:
        err: the failure, as the client raised it (its message is already scrubbed).
        what: what fpbot was doing, as a verb phrase: "list environments".
    """
    lines = [f":x: Could not {inline(what, 200)}: {inline(summary_of(err), 300)}."]
    if _is_auth_error(err):
        # What to do about it is the operators' business: their incident card says, and
        # this person needs to know only that it is known.
        rejected = _SUMMARIES[Unauthorized]
        said = "" if summary_of(err) == rejected else f"{rejected}. "  # never twice in a message
        lines.append(f":key: {said}fpbot's operators have been alerted.")
    # A 429's own words ("You are sending too many requests") blame a person who sent one
    # command: the key is fpbot's, and the summary says so.
    if err.message and err.message != summary_of(err) and not isinstance(err, RateLimited):
        lines.append(f"> {inline(err.message, DETAIL_MAX)}")
    for violation in err.violations[:MAX_VIOLATIONS]:
        lines.append(f"• {code(violation.property, 100)}: {inline(violation.message, 300)}")
    if len(err.violations) > MAX_VIOLATIONS:
        lines.append(f"… and {len(err.violations) - MAX_VIOLATIONS} more problems")
    if isinstance(err, RateLimited) and err.retry_after:
        lines.append(f"Try again in {err.retry_after:.0f} seconds.")
    details = []
    if err.status is not None:
        details.append(f"HTTP {err.status}")
    if err.code:
        details.append(code(err.code, 100))
    if err.correlation_id:
        details.append(f"Correlation id: {code(err.correlation_id, 100)}")
    blocks: list[Block] = [section(chunk) for chunk in pack_lines(lines)]
    if details:
        blocks.append(context(" · ".join(details)))
    corr = f" (correlation id {err.correlation_id})" if err.correlation_id else ""
    text = f"Could not {inline(what, 200)}: {inline(summary_of(err), 300)}{inline(corr)}"
    return Message(text=fallback(text), blocks=blocks)
