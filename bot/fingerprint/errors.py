"""The one error hierarchy of the Management API client.

Callers never see httpx exceptions or raw JSON: every failure is a `FingerprintError` carrying
what a person or a retry policy needs — HTTP status, the API's ``code``, ``message`` and
``violations``, ``Retry-After`` and the correlation id that also appears in the logs. What a
person reads about each kind is written by `bot.render.errors`.
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
    """400: the API refused the request as malformed."""


class Unauthorized(FingerprintError):
    """401: the Management API key is missing, wrong or revoked."""


class Forbidden(FingerprintError):
    """403: the key may not do this."""


class NotFound(FingerprintError):
    """404: no such resource (or route)."""


class Conflict(FingerprintError):
    """409: the change conflicts with the account's state."""


class ValidationFailed(FingerprintError):
    """422 ``validation.failed``: field errors, in ``violations``."""


class PlanLimitReached(FingerprintError):
    """A plan limit, which the API reports as 400 or 409 with the same message."""


class RateLimited(FingerprintError):
    """429: over the key's rate, for longer than the call could wait."""


class ServerError(FingerprintError):
    """500 and other 5xx answers."""


class Unavailable(FingerprintError):
    """503 ``general.unavailable``; may carry ``Retry-After``."""


class TransportError(FingerprintError):
    """No HTTP answer at all: connection refused, reset, DNS, TLS."""


class Timeout(TransportError):
    """No answer within the call's timeout."""


class BudgetUnavailable(FingerprintError):
    """The shared rate budget (Redis) is unreachable: calling anyway could break the limit."""


class InvalidResponse(FingerprintError):
    """A 2xx answer whose body could not be understood."""


class PaginationLoop(InvalidResponse):
    """The API returned a page cursor it had returned before."""


class WrongApiVersion(FingerprintError):
    """The call belongs to the other API version than the one the client sends; nothing was
    sent. Fingerprint answers such calls with a bare 404, which would read as "no such
    resource"."""


class OriginRulesUnreadable(FingerprintError):
    """Fingerprint offers no way to read an environment's origin lists back.

    ``2024-05-20`` documents no ``GET /filtering-rules``: the client tries it and turns a 404
    or 405 into this, so a caller can say the rules cannot be shown rather than that they
    do not exist.
    """


AUTH_ERRORS = (Unauthorized, Forbidden)
