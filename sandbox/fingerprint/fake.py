"""The stand-in's control room: workspace state, fault knobs, rate limiter and request log.

`FakeFingerprint` holds no HTTP. Tests and benchmarks use it directly to turn knobs
(``fake.faults.latency = 0.2``) and to count what the client really sent
(``fake.count("POST", "/api-keys")``, ``fake.max_in_window(1.0)``). The HTTP layer
(`sandbox.fingerprint.app`) asks it, in the API's order, whether a request gets through:
`authenticate` → `check_version` → `check_rate` → (route) → `injected_error`.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.fingerprint.outside import outside_change
from sandbox.fingerprint.pagination import Paginator
from sandbox.fingerprint.seed import seed_workspace
from sandbox.fingerprint.state import ApiError, PlanLimits, Workspace

VERSION_2024 = "2024-05-20"
VERSION_2025 = "2025-11-20"
VERSIONS = (VERSION_2024, VERSION_2025)


@dataclass
class Faults:
    """Knobs that make the stand-in misbehave the ways the real API can.

    Attributes:
        latency: seconds added before every answer.
        error_rate: share (0..1) of requests past the gatekeeper answered with ``error_status``.
        error_status: 500 or 503.
        error_retry_after: ``Retry-After`` seconds on those errors (503 only), None = no header.
        force_429: the next N authenticated requests get 429 whatever the bucket holds.
        retry_after: ``Retry-After`` seconds on every 429; None omits the header.
        hang: requests wait without an answer until the knob is cleared (or the server stops).
        revoked: the management key is revoked: every request gets 401.
        limit_status: 400 (``general.bad-request``, what the API answers today) or 409
            (``general.conflict``, what its published contract says) for plan limits.
        key_validation_status: 422 or 400 for field errors of ``PATCH /api-keys/{id}`` (the
            docs say 400 "API key can't be updated due to validation errors").
        origin_rules_unreadable: ``GET /filtering-rules`` under ``2024-05-20`` answers 404,
            as the real API, which documents no such read, may.
        subdomains_disabled: every ``/subdomains`` call answers 503 (the feature is off).
        bare_test_result: ``POST /filtering-rules/test`` answers without the ``data``
            envelope, as Fingerprint's MCP server reads it.
        camel_case: every answer in camelCase (``createdAt``, ``nextCursor``), as older
            examples show, whatever the version.
        terse_creates: ``POST /api-keys`` answers ``{id, type, status, token}`` only, as
            Fingerprint's own CLI fixtures do (no name, no environment).
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    error_retry_after: float | None = None
    force_429: int = 0
    retry_after: float | None = 1.0
    hang: bool = False
    revoked: bool = False
    limit_status: int = 400
    key_validation_status: int = 422
    origin_rules_unreadable: bool = False
    subdomains_disabled: bool = False
    bare_test_result: bool = False
    camel_case: bool = False
    terse_creates: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def merge(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update (the body of ``POST /_sandbox/faults``), all or nothing.

        Raises:
            ValueError: an unknown knob or a value of the wrong kind.
        """
        updated = dataclasses.replace(self)
        kinds = {f.name: f.type for f in dataclasses.fields(self)}
        for name, value in changes.items():
            kind = kinds.get(name)
            if kind is None:
                raise ValueError(f"unknown fault knob {name!r}")
            setattr(updated, name, _coerce(name, str(kind), value))
        if updated.error_status not in (500, 503):
            raise ValueError("error_status must be 500 or 503")
        if updated.limit_status not in (400, 409):
            raise ValueError("limit_status must be 400 or 409")
        if updated.key_validation_status not in (400, 422):
            raise ValueError("key_validation_status must be 400 or 422")
        if not 0 <= updated.error_rate <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(updated, f.name))


def _coerce(name: str, kind: str, value: Any) -> Any:
    optional = "None" in kind
    if value is None and optional:
        return None
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
    elif kind.startswith("int"):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"bad value for {name}: {value!r}")


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it; ``status`` is 0 until it has been answered."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Gate:
    """Per-key token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: int
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, now: float) -> bool:
        bucket = self.buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        return False


class FakeFingerprint:
    """State, knobs and counters of one stand-in Management API (see the module docstring).

    Args:
        api_keys: management API keys that are accepted (``Authorization: Bearer <key>``).
        rate_limit: requests per second per key.
        burst: requests a key may save up.
        environments: how many environments the seed creates.
        seed: makes ids, tokens and injected errors reproducible.
        plan_limits: the plan's limits as given, instead of "what the seed holds plus the
            default allowance" (a plan that the seed may already exceed).
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("fp_mgmt_sandbox_key",),
        rate_limit: float = 5.0,
        burst: int = 5,
        environments: int = 32,
        seed: int = 1,
        clock: Callable[[], float] = time.monotonic,
        plan_limits: PlanLimits | None = None,
    ) -> None:
        self.api_keys = tuple(api_keys)
        if not self.api_keys:
            raise ValueError("at least one management API key is needed")
        self.clock = clock
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.workspace = Workspace(rng=random.Random(seed))
        seed_workspace(self.workspace, environments=environments)
        if plan_limits is not None:
            self.workspace.limits = plan_limits
        self.paginator = Paginator(salt=f"fpbot-standin-{seed}")
        self._gate = _Gate(rate_limit, burst)
        self._errors = random.Random(seed * 7919)
        #: Set when the server shuts down, so hanging requests let go.
        self.closing = False

    # ---- knobs

    @property
    def rate_limit(self) -> float:
        return self._gate.rate

    @rate_limit.setter
    def rate_limit(self, value: float) -> None:
        self._gate.rate = value

    @property
    def burst(self) -> int:
        return self._gate.burst

    @burst.setter
    def burst(self, value: int) -> None:
        self._gate.burst = value

    def reset_faults(self) -> None:
        """Every knob back to its default (a well-behaved API)."""
        self.faults = Faults()

    def clear_requests(self) -> None:
        """Forget the request log and refill every bucket, e.g. between benchmark rounds."""
        self.requests.clear()
        self._gate.buckets.clear()

    def outside_change(
        self, resource: str, op: str, record_id: str | None = None, **fields: Any
    ) -> Any:
        """A change as if made in Fingerprint's dashboard, bypassing auth, rate limit and the
        request log (see `sandbox.fingerprint.outside`); the resource's JSON or None."""
        body = {"resource": resource, "op": op, "id": record_id, "fields": fields}
        return outside_change(self.workspace, body)

    # ---- gatekeeping, in the API's order

    def record(self, method: str, path: str, query: Mapping[str, str]) -> RecordedRequest:
        entry = RecordedRequest(self.clock(), method, path, dict(query))
        self.requests.append(entry)
        return entry

    def authenticate(self, authorization: str | None) -> str:
        """Return the caller's management key, or raise 401."""
        scheme, _, key = (authorization or "").partition(" ")
        if self.faults.revoked or scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            raise ApiError(401, "general.unauthorized", "Invalid API key")
        return key.strip()

    @staticmethod
    def check_version(version: str | None) -> str:
        if not version:
            raise ApiError(400, "general.bad-request", "Missing X-API-Version header")
        if version not in VERSIONS:
            raise ApiError(
                400,
                "general.bad-request",
                f"Unsupported API version {version!r}; use one of {', '.join(VERSIONS)}",
            )
        return version

    def check_rate(self, key: str, at: float) -> None:
        """Spend a token of ``key``'s bucket, or raise 429 (forced ones first)."""
        if self.faults.force_429 > 0:
            self.faults.force_429 -= 1
        elif self._gate.take(key, at):
            return
        raise ApiError(
            429,
            "rate-limit.exceeded",
            "You are sending too many requests",
            retry_after=self.faults.retry_after,
        )

    def injected_error(self) -> ApiError | None:
        """Draw whether this request fails with the configured 500/503."""
        if self.faults.error_rate <= 0 or self._errors.random() >= self.faults.error_rate:
            return None
        if self.faults.error_status == 500:
            return ApiError(500, "general.internal-server-error", "Internal server error")
        return ApiError(
            503,
            "general.unavailable",
            "Service unavailable. Try again later.",
            retry_after=self.faults.error_retry_after,
        )

    def plan_limit_status(self) -> tuple[int, str]:
        if self.faults.limit_status == 400:
            return 400, "general.bad-request"
        return 409, "general.conflict"

    # ---- counters

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """How many recorded requests match; ``path`` ending in ``*`` matches as a prefix."""

        def path_matches(candidate: str) -> bool:
            if path is None:
                return True
            if path.endswith("*"):
                return candidate.startswith(path[:-1])
            return candidate == path

        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and path_matches(r.path)
            and (status is None or r.status == status)
        )

    def max_in_window(self, seconds: float = 1.0, statuses_excluding_429: bool = True) -> int:
        """The most requests that arrived within any window ``[t, t + seconds)``.

        With ``statuses_excluding_429`` (the default), requests answered 429 are left out, so
        the figure is what got past the rate limiter: a client that keeps to the limit sees at
        most ``burst + rate_limit * seconds``.
        """
        times = sorted(
            r.at for r in self.requests if not (statuses_excluding_429 and r.status == 429)
        )
        best = 0
        for first, start in enumerate(times):
            last = bisect.bisect_left(times, start + seconds)
            best = max(best, last - first)
        return best

    @property
    def rejected_429(self) -> int:
        """Requests answered 429, whether by the bucket or by ``faults.force_429``."""
        return self.count(status=429)

    def stats(self, window: float = 1.0) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers."""
        by_status: dict[str, int] = {}
        for r in self.requests:
            by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
        return {
            "requests": len(self.requests),
            "by_status": by_status,
            "window_seconds": window,
            "max_in_window": self.max_in_window(window),
            "rejected_429": self.rejected_429,
            "rate_limit": self.rate_limit,
            "burst": self.burst,
        }
