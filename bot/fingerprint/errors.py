"""The one error hierarchy of the Management API client.

Callers never see httpx exceptions or raw JSON: every failure is a `FingerprintError` carrying
what a person or a retry policy needs — HTTP status, the API's ``code``, ``message`` and
``violations``, ``Retry-After`` and the correlation id that also appears in the logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.log import scrub


@dataclass(frozen=True, slots=True)
class Violation:
    """One field error of a 422 ``validation.failed`` answer."""

    property: str
    message: str


class FingerprintError(Exception):
    """A Management API call failed after the retries the client was allowed to make."""

    #: Short words a person reads in Slack; subclasses refine it.
    summary = "The Fingerprint Management API returned an error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        violations: tuple[Violation, ...] = (),
        retry_after: float | None = None,
        correlation_id: str = "",
        operation: str = "",
    ) -> None:
        # API messages may echo the caller's key (see the samples): scrub at the source.
        self.message = scrub(message)
        self.status = status
        self.code = code
        self.violations = tuple(Violation(v.property, scrub(v.message)) for v in violations)
        self.retry_after = retry_after
        self.correlation_id = correlation_id
        self.operation = operation
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        return " — ".join(parts)

    @property
    def error_code(self) -> str:
        """The code used to group notifications: the API's, or a local one."""
        return self.code or (f"http.{self.status}" if self.status else "transport")


class BadRequest(FingerprintError):
    summary = "Fingerprint refused the request as malformed"


class Unauthorized(FingerprintError):
    summary = "Fingerprint rejected fpbot's Management API key (revoked or wrong)"


class Forbidden(FingerprintError):
    summary = "fpbot's Management API key is not allowed to do this"


class NotFound(FingerprintError):
    summary = "Fingerprint has no such resource"


class Conflict(FingerprintError):
    summary = "Fingerprint refused the change because it conflicts with the account's state"


class ValidationFailed(FingerprintError):
    summary = "Fingerprint refused the values given"


class PlanLimitReached(FingerprintError):
    """A plan limit, which the API reports as 400 or 409 with the same message."""

    summary = "The Fingerprint plan's limit is reached"


class RateLimited(FingerprintError):
    summary = "Fingerprint's rate limit was exceeded for too long"


class ServerError(FingerprintError):
    summary = "Fingerprint's Management API failed"


class Unavailable(FingerprintError):
    summary = "Fingerprint's Management API is unavailable"


class TransportError(FingerprintError):
    """No HTTP answer at all: connection refused, reset, DNS, TLS."""

    summary = "fpbot could not reach Fingerprint's Management API"


class Timeout(TransportError):
    summary = "Fingerprint's Management API did not answer in time"


class BudgetUnavailable(FingerprintError):
    """The shared rate budget (Redis) is unreachable: calling anyway could break the limit."""

    summary = "fpbot's shared rate budget (Redis) is unreachable, so the API was not called"


class InvalidResponse(FingerprintError):
    """A 2xx answer whose body could not be understood."""

    summary = "Fingerprint's Management API answered something fpbot could not read"


class PaginationLoop(InvalidResponse):
    summary = "Fingerprint's Management API returned a repeated page cursor"


AUTH_ERRORS = (Unauthorized, Forbidden)
