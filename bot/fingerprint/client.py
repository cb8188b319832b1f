"""The one way out to Fingerprint's Management API.

`ManagementClient` owns everything between a typed method call and the wire: authentication
and the version header, the per-key rate budget (`ratelimit`), retries within a bounded wait,
pagination, single-flight and a short listing cache (`cache`), the error mapping (`errors`)
and the typed models (`models`). Callers get pydantic models or a `FingerprintError`; never an
httpx exception, never raw JSON.

Secrets: the API key lives only in the connection's default headers and is registered with
`bot.log.register_secret` at construction; every field with a secret's name (a created key's
token, a webhook's signing key) is registered the moment it is parsed, so no log line or error
text can carry one. Request and response bodies are never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from bot.domain.secrets import is_secret_field, without_secrets
from bot.fingerprint.cache import Items, ListingCache, MemoryCache, RedisCache
from bot.fingerprint.errors import (
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
    OriginRules,
    Status,
    Webhook,
)
from bot.fingerprint.ratelimit import (
    DEFAULT_MARGIN,
    Paused,
    RateLimiter,
    RedisSlidingWindowLimiter,
    key_fingerprint,
    local_limiter,
)
from bot.log import get_logger, new_correlation_id, register_secret
from bot.singleflight import SingleFlight

if TYPE_CHECKING:
    from pydantic import SecretStr
    from redis.asyncio import Redis

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "https://management-api.fpjs.io"
DEFAULT_API_VERSION = "2024-05-20"
#: The API's largest page (``limit`` 0..101 in the docs, 100 in every example).
MAX_PAGE_SIZE = 100

# Backoff with full jitter when the server gives no Retry-After: uniform(0, min(cap, base·2ⁿ)).
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0
# Words with which the API reports a plan limit on a 400 or a 409 ("Max limit for subdomains
# reached: 50"). "limit_value" and "rate limit" are field names and topics, not plan limits.
_PLAN_LIMIT = re.compile(
    r"(?i)(\blimit\b[^.]*\b(reached|exceeded)\b|\bmax(imum)?\b[^.]*\blimit\b|\bplan\b[^.]*\blimit\b"
    r"|\bquota\b)"
)
_BY_STATUS: dict[int, type[FingerprintError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
    500: ServerError,
    503: Unavailable,
}
_BY_CODE: dict[str, type[FingerprintError]] = {
    "general.bad-request": BadRequest,
    "general.unauthorized": Unauthorized,
    "general.forbidden": Forbidden,
    "general.not-found": NotFound,
    "general.conflict": Conflict,
    "validation.failed": ValidationFailed,
    "rate-limit.exceeded": RateLimited,
    "general.internal-server-error": ServerError,
    "general.unavailable": Unavailable,
}
_RAW_TEXT_LIMIT = 500
_log = get_logger("bot.fingerprint")


class ClientSettings(Protocol):
    """The settings the client is built from (``bot.settings.Settings`` has them), read as
    plain values so the client depends on nothing else of fpbot."""

    @property
    def fp_management_api_key(self) -> SecretStr | None: ...
    @property
    def fp_management_api_url(self) -> str: ...
    @property
    def fp_api_version(self) -> str: ...
    @property
    def fp_rate_limit(self) -> float: ...
    @property
    def fp_page_size(self) -> int: ...
    @property
    def fp_cache_ttl(self) -> float: ...
    @property
    def fp_timeout(self) -> float: ...
    @property
    def fp_retry_budget(self) -> float: ...


@dataclass
class ClientStats:
    """Counters for benchmarks, tests and health checks."""

    requests_sent: int = 0
    retries: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    rate_limited: int = 0
    #: Calls refused before sending because the key is paused past their retry budget.
    held_back: int = 0


class ManagementClient:
    """Async client of the Management API; one per process and API key is enough.

    Args:
        api_key: the Management API key (sent as a bearer token, never logged).
        base_url: the API's root, a stand-in's in tests and the sandbox.
        api_version: the ``X-API-Version`` header.
        rate_limit: requests per second the key is allowed.
        page_size: items asked per page when walking a listing (at most 100).
        cache_ttl: seconds a listing may be served from the cache; 0 disables the cache.
        timeout: seconds one HTTP attempt may take.
        retry_budget: seconds a call may spend retrying after its first attempt went out.
        redis: when given, the rate budget and the listing cache are shared through it.
        redis_prefix: the namespace of fpbot's Redis keys.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        rate_limit: float = 5.0,
        page_size: int = MAX_PAGE_SIZE,
        cache_ttl: float = 5.0,
        timeout: float = 10.0,
        retry_budget: float = 10.0,
        redis: Redis | None = None,
        redis_prefix: str = "fpbot",
        transport: httpx.AsyncBaseTransport | None = None,
        rate_margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        register_secret(api_key)
        self.api_version = api_version
        self.page_size = page_size
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.stats = ClientStats()
        self._api_key = api_key
        self._rate = rate_limit
        self._margin = rate_margin
        self._shared_limiter: RateLimiter | None = None
        if redis is not None:
            self._shared_limiter = RedisSlidingWindowLimiter(
                redis,
                api_key,
                rate_limit,
                prefix=redis_prefix,
                margin=rate_margin,
                lease=max(2 * timeout, timeout + 5.0),
            )
        namespace = f"{redis_prefix}:fp:{key_fingerprint(api_key)}"
        self._cache: ListingCache | None = None
        if cache_ttl > 0:
            self._cache = (
                RedisCache(redis, namespace, cache_ttl)
                if redis is not None
                else MemoryCache(cache_ttl)
            )
        self._flights: SingleFlight[list[Any]] = SingleFlight()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "X-API-Version": api_version,
                "Accept": "application/json",
                "User-Agent": "fpbot",
            },
            timeout=timeout,
            transport=transport,
            # A request that holds a rate slot must not then queue for a connection: the rate
            # limiter, not the pool, bounds how many are open (rate times latency).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        )

    @classmethod
    def from_settings(
        cls, settings: ClientSettings, redis: Redis | None = None
    ) -> ManagementClient:
        """Build the client the settings describe (interface.md §2).

        Raises:
            ValueError: no Management API key is set (settings check this before serving).
        """
        if settings.fp_management_api_key is None:
            raise ValueError("FP_MANAGEMENT_API_KEY is required but is not set")
        return cls(
            api_key=settings.fp_management_api_key.get_secret_value(),
            base_url=settings.fp_management_api_url,
            api_version=settings.fp_api_version,
            rate_limit=settings.fp_rate_limit,
            page_size=settings.fp_page_size,
            cache_ttl=settings.fp_cache_ttl,
            timeout=settings.fp_timeout,
            retry_budget=settings.fp_retry_budget,
            redis=redis,
        )

    def __repr__(self) -> str:
        return (
            f"ManagementClient(base_url={str(self._http.base_url)!r}, "
            f"api_version={self.api_version!r}, rate_limit={self._rate})"
        )

    async def aclose(self) -> None:
        """Close the connection pool; in-flight single-flight fetches are cancelled."""
        self._flights.cancel()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------------------- health

    async def hello(self) -> Hello:
        """``GET /hello``: proves the key and the version are accepted."""
        answer = await self._request("GET", "/hello", idempotent=True)
        data = answer.data
        return Hello.model_validate(data if isinstance(data, dict) else {"message": data})

    # ------------------------------------------------------------------------ environments

    async def list_environments(self) -> list[Environment]:
        """Every environment of the workspace, all pages."""
        return await self._listing(Environment, "/environments")

    async def create_environment(self, name: str, *, description: str | None = None) -> Environment:
        body = _fields(name=name, description=description)
        return await self._write_one(Environment, "POST", "/environments", body=body)

    async def update_environment(
        self, env_id: str, *, name: str | None = None, description: str | None = None
    ) -> Environment:
        """Rename or re-describe an environment (the API updates with POST, not PATCH)."""
        body = _fields(name=name, description=description)
        return await self._write_one(
            Environment, "POST", "/environments/{id}", env_id, body=body, idempotent=True
        )

    async def delete_environment(self, env_id: str) -> None:
        await self._write("DELETE", "/environments/{id}", env_id)

    # ---------------------------------------------------------------------------- API keys

    async def list_api_keys(
        self,
        *,
        type: KeyType | None = None,  # the API's own filter name
        status: Status | None = None,
        environment: str | None = None,
    ) -> list[ApiKey]:
        """Every API key matching the filters, all pages."""
        params = _fields(type=type, status=status, environment=environment)
        return await self._listing(ApiKey, "/api-keys", params)

    async def get_api_key(self, key_id: str) -> ApiKey:
        return await self._read_one(ApiKey, "/api-keys/{id}", key_id)

    async def create_api_key(
        self,
        *,
        type: KeyType,  # the API's own field name
        name: str,
        description: str | None = None,
        environment: str | None = None,
    ) -> ApiKey:
        """Create a key. The result carries its ``token``: deliver it privately, at once."""
        body = _fields(type=type, name=name, description=description, environment=environment)
        return await self._write_one(ApiKey, "POST", "/api-keys", body=body)

    async def update_api_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        rate_limit: float | None = None,
    ) -> ApiKey:
        body = _fields(name=name, description=description, status=status, rate_limit=rate_limit)
        return await self._write_one(
            ApiKey, "PATCH", "/api-keys/{id}", key_id, body=body, idempotent=True
        )

    async def delete_api_key(self, key_id: str) -> None:
        await self._write("DELETE", "/api-keys/{id}", key_id)

    # ---------------------------------------------------------------------------- webhooks

    async def list_webhooks(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[Webhook]:
        """Every webhook matching the filters, all pages."""
        params = _fields(status=status, environment=environment)
        return await self._listing(Webhook, "/webhooks", params)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self._read_one(Webhook, "/webhooks/{id}", webhook_id)

    async def create_webhook(
        self, *, url: str, description: str | None = None, environment: str | None = None
    ) -> Webhook:
        """Create a webhook. The result carries its ``signing_key``: deliver it privately."""
        body = _fields(url=url, description=description, environment=environment)
        return await self._write_one(Webhook, "POST", "/webhooks", body=body)

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        status: Status | None = None,
    ) -> Webhook:
        body = _fields(url=url, description=description, status=status)
        return await self._write_one(
            Webhook, "PATCH", "/webhooks/{id}", webhook_id, body=body, idempotent=True
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write("DELETE", "/webhooks/{id}", webhook_id)

    async def verify_webhook(self, webhook_id: str) -> None:
        """Ask Fingerprint to send the verification request to the webhook's URL."""
        await self._write("POST", "/webhooks/{id}/verification", webhook_id)

    # ------------------------------------------------------- filtering rules, 2024-05-20

    async def replace_origin_rules(
        self,
        environment: str,
        *,
        allowed_origins: Iterable[str],
        forbidden_origins: Iterable[str],
    ) -> OriginRules:
        """Replace an environment's origin allow and deny lists (``POST /filtering-rules``)."""
        body = {
            "environment": environment,
            "allowed_origins": list(allowed_origins),
            "forbidden_origins": list(forbidden_origins),
        }
        return await self._write_one(
            OriginRules, "POST", "/filtering-rules", body=body, idempotent=True
        )

    async def patch_origin_rules(
        self,
        environment: str,
        *,
        add_allowed: Iterable[str] = (),
        remove_allowed: Iterable[str] = (),
        add_forbidden: Iterable[str] = (),
        remove_forbidden: Iterable[str] = (),
    ) -> OriginRules:
        """Add and remove single origins (``PATCH /filtering-rules``)."""
        body = {
            "environment": environment,
            "add": {"allowed_origins": list(add_allowed), "forbidden_origins": list(add_forbidden)},
            "remove": {
                "allowed_origins": list(remove_allowed),
                "forbidden_origins": list(remove_forbidden),
            },
        }
        return await self._write_one(OriginRules, "PATCH", "/filtering-rules", body=body)

    # ------------------------------------------------------- filtering rules, 2025-11-20

    async def list_filtering_rules(self) -> list[FilteringRule]:
        """Every expression rule (one unpaginated answer)."""
        return await self._listing(FilteringRule, "/filtering-rules", paginated=False)

    async def get_filtering_rule(self, rule_id: str) -> FilteringRule:
        return await self._read_one(FilteringRule, "/filtering-rules/{id}", rule_id)

    async def create_filtering_rule(self, **fields: Any) -> FilteringRule:
        return await self._write_one(FilteringRule, "POST", "/filtering-rules", body=fields)

    async def update_filtering_rule(self, rule_id: str, **fields: Any) -> FilteringRule:
        """Update a rule (the API updates with POST); the fields given replace the old ones."""
        return await self._write_one(
            FilteringRule, "POST", "/filtering-rules/{id}", rule_id, body=fields, idempotent=True
        )

    async def delete_filtering_rule(self, rule_id: str) -> None:
        await self._write("DELETE", "/filtering-rules/{id}", rule_id)

    async def bulk_filtering_rules(self, operations: list[dict[str, Any]]) -> list[FilteringRule]:
        """Create several rules at once, all or none (``POST /filtering-rules/bulk``).

        Args:
            operations: one mapping per rule, with the fields `create_filtering_rule` takes.
        """
        answer = await self._write("POST", "/filtering-rules/bulk", body={"rules": operations})
        return _models(FilteringRule, _list_data(answer), answer)

    async def test_filtering_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """Evaluate a rule against a sample (``POST /filtering-rules/test``); changes nothing."""
        answer = await self._request("POST", "/filtering-rules/test", body=body, idempotent=True)
        data = answer.data
        return data if isinstance(data, dict) else {"result": data}

    # ---------------------------------------------------------------------------- internals

    def _limiter(self) -> RateLimiter:
        if self._shared_limiter is not None:
            return self._shared_limiter
        return local_limiter(self._api_key, self._rate, margin=self._margin)

    async def _read_one(self, model: type[M], route: str, resource_id: str) -> M:
        answer = await self._request("GET", route, resource_id, idempotent=True)
        return _secrets_registered([_model(model, answer.data, answer)])[0]

    async def _write_one(
        self,
        model: type[M],
        method: str,
        route: str,
        resource_id: str | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> M:
        """A write whose answer is the resource. Fields the answer leaves out are taken from
        what was sent: the change happened, and must not fail for want of a name."""
        answer = await self._write(method, route, resource_id, body=body, idempotent=idempotent)
        result = _model(model, _with_sent_fields(answer.data, body), answer)
        return _secrets_registered([result])[0]

    async def _write(
        self,
        method: str,
        route: str,
        resource_id: str | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> _Answer:
        """A call that changes something: whatever its outcome, cached listings are dropped
        (a timed-out create may still have happened)."""
        try:
            return await self._request(method, route, resource_id, body=body, idempotent=idempotent)
        finally:
            await self._invalidate()

    async def _invalidate(self) -> None:
        # Callers arriving after a write must not join a listing that began before it.
        self._flights.forget()
        if self._cache is not None:
            try:
                await self._cache.invalidate()
            except Exception as exc:  # a cache outage must not fail the write
                _log.warning("fingerprint.cache_invalidate_failed", error=exc)

    async def _listing(
        self,
        model: type[M],
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        paginated: bool = True,
    ) -> list[M]:
        """A whole listing as models: from the cache, or joined to an identical walk in
        flight, or a new walk. All callers of one walk get the same answer (or the same
        error), parsed once — parsing hundreds of items per caller would stall the loop."""
        key = path + ("?" + urlencode(sorted(params.items())) if params else "")

        async def fetch() -> list[Any]:
            models = await self._fetch_listing(key, model, path, params, paginated)
            return _secrets_registered(models)

        if key in self._flights:
            self.stats.coalesced += 1
        models: list[M] = await self._flights.run(key, fetch)
        return list(models)  # the models are frozen; the list is the caller's own

    async def _fetch_listing(
        self,
        key: str,
        model: type[M],
        path: str,
        params: Mapping[str, str] | None,
        paginated: bool,
    ) -> list[M]:
        cache = self._cache
        generation = 0
        if cache is not None:
            try:
                cached = await cache.get(key)
                if cached is not None:
                    self.stats.cache_hits += 1
                    return _models(model, cached, _Answer(None, None, "", f"GET {path}"))
                generation = await cache.generation()
            except Exception as exc:  # the cache is an optimisation, not a dependency
                _log.warning("fingerprint.cache_read_failed", error=exc)
                cache = None
        started = time.monotonic()
        items, models = await self._walk(model, path, params, paginated)
        if cache is not None:
            try:
                await cache.put(key, _shareable(items), generation=generation, started=started)
            except Exception as exc:  # as above
                _log.warning("fingerprint.cache_write_failed", error=exc)
        return models

    async def _walk(
        self, model: type[M], path: str, params: Mapping[str, str] | None, paginated: bool
    ) -> tuple[Items, list[M]]:
        """Every page of a listing, each parsed as it arrives (so a bad item names the call
        that brought it): stop on a null cursor, refuse a cursor seen before."""
        items: Items = []
        models: list[M] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            query: dict[str, str | int] = dict(params or {})
            if paginated:
                query["limit"] = self.page_size
                if cursor is not None:
                    query["cursor"] = cursor
            answer = await self._request("GET", path, params=query or None, idempotent=True)
            page = _list_data(answer)
            models.extend(_models(model, page, answer))
            items.extend(page)
            cursor = _next_cursor(answer.body) if paginated else None
            if cursor is None:
                return items, models
            if cursor in seen:
                raise answer.invalid(
                    f"the API returned the page cursor {cursor!r} twice", kind=PaginationLoop
                )
            seen.add(cursor)

    async def _request(
        self,
        method: str,
        route: str,
        resource_id: str | None = None,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> _Answer:
        """One call, with its retries; returns the decoded answer (body ``None`` if empty).

        429 is always retried (the server did nothing); 5xx and transport errors only when
        ``idempotent``, since a create that timed out may have happened. Retrying stops when
        the next wait would end past ``retry_budget`` seconds after the first attempt.

        A ``Retry-After`` on a 429 or a 503 pauses the whole key (every caller, every replica
        sharing Redis) whether or not this call retries; a call that meets a pause it cannot
        wait out within its budget raises `RateLimited` at once, carrying the seconds that
        remain.
        """
        operation = f"{method} {route}"
        path = route if resource_id is None else route.format(id=quote(resource_id, safe=""))
        # Sent as ``X-Request-Id`` and bound to every log line of this call.
        correlation_id = new_correlation_id("fp")
        log = _log.bind(correlation_id=correlation_id, operation=operation)
        started = time.monotonic()
        deadline: float | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                # Before the first attempt the budget is not running yet; a pause (another
                # caller's Retry-After) the call could not wait out within it fails it now.
                async with self._limiter().slot(
                    deadline=started + self.retry_budget if deadline is None else deadline
                ):
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self.retry_budget
                    attempt_timeout = (
                        self.timeout
                        if attempt == 1
                        else min(self.timeout, max(deadline - now, 1.0))
                    )
                    self.stats.requests_sent += 1
                    sent = time.monotonic()
                    outcome = await self._send(
                        method, path, params, body, correlation_id, operation, attempt_timeout
                    )
            except Paused as paused:
                self.stats.held_back += 1
                held = RateLimited(
                    "Fingerprint asked fpbot to hold back (Retry-After) for another "
                    f"{paused.remaining:.1f} s, longer than this call may wait; "
                    "the request was not sent",
                    code="rate-limit.exceeded",
                    retry_after=paused.remaining,
                    correlation_id=correlation_id,
                    operation=operation,
                )
                log.warning(
                    "fingerprint.failed",
                    code=held.error_code,
                    attempt=attempt,
                    elapsed_ms=round((time.monotonic() - started) * 1000, 1),
                    retry_after=held.retry_after,
                    error=str(held),
                )
                raise held from None
            error: FingerprintError
            if isinstance(outcome, FingerprintError):
                error = outcome
            else:
                response = outcome
                elapsed_ms = round((time.monotonic() - sent) * 1000, 1)
                if response.is_success:
                    log.debug(
                        "fingerprint.response",
                        status=response.status_code,
                        attempt=attempt,
                        elapsed_ms=elapsed_ms,
                    )
                    return _decoded(response, correlation_id, operation)
                error = _error_from(response, operation, correlation_id)
                log.debug(
                    "fingerprint.response",
                    status=response.status_code,
                    code=error.code,
                    attempt=attempt,
                    elapsed_ms=elapsed_ms,
                )
            if isinstance(error, RateLimited):
                self.stats.rate_limited += 1
            if isinstance(error, RateLimited | Unavailable) and error.retry_after is not None:
                # Every caller of this key holds back, not only this one — and also when this
                # one gives up (or may not retry): the API said when it will take requests.
                await self._limiter().pause(error.retry_after)
            retryable = isinstance(error, RateLimited) or (
                idempotent and isinstance(error, ServerError | Unavailable | TransportError)
            )
            delay = error.retry_after
            if delay is None:
                delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))
            total_ms = round((time.monotonic() - started) * 1000, 1)
            if not retryable or time.monotonic() + delay > deadline:
                log.warning(
                    "fingerprint.failed",
                    status=error.status,
                    code=error.error_code,
                    attempt=attempt,
                    elapsed_ms=total_ms,
                    retry_after=error.retry_after,
                    error=str(error),
                )
                raise error
            self.stats.retries += 1
            log.info(
                "fingerprint.retry",
                status=error.status,
                code=error.error_code,
                attempt=attempt,
                elapsed_ms=total_ms,
                delay_ms=round(delay * 1000, 1),
            )
            await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        correlation_id: str,
        operation: str,
        seconds: float,
    ) -> httpx.Response | FingerprintError:
        """One HTTP attempt; transport failures come back as errors, never as httpx's."""
        try:
            return await self._http.request(
                method,
                path,
                params=params,
                json=body,
                headers={"X-Request-Id": correlation_id},
                timeout=seconds,
            )
        except httpx.TimeoutException as exc:
            return Timeout(
                f"no answer within {seconds:g} s ({type(exc).__name__})",
                correlation_id=correlation_id,
                operation=operation,
            )
        except httpx.HTTPError as exc:
            return TransportError(
                f"the request failed: {type(exc).__name__}: {exc}",
                correlation_id=correlation_id,
                operation=operation,
            )


# --------------------------------------------------------------------------- body handling


@dataclass(frozen=True, slots=True)
class _Answer:
    """A 2xx answer, decoded, with what an `InvalidResponse` about it must carry: the
    correlation id finds the call's log lines, which hold what the answer looked like."""

    body: Any
    status: int | None
    correlation_id: str
    operation: str

    @property
    def data(self) -> Any:
        """The payload of the ``{"data": …}`` envelope; a bare object is taken as it is."""
        if isinstance(self.body, dict) and "data" in self.body:
            return self.body["data"]
        return self.body

    def invalid(
        self, problem: str, *, kind: type[InvalidResponse] = InvalidResponse
    ) -> InvalidResponse:
        """The error to raise about this answer, logged as the call's failure."""
        error = kind(
            problem,
            status=self.status,
            correlation_id=self.correlation_id,
            operation=self.operation,
        )
        _log.warning(
            "fingerprint.invalid_response",
            correlation_id=self.correlation_id,
            operation=self.operation,
            status=self.status,
            error=str(error),
        )
        return error


def _fields(**values: Any) -> dict[str, Any]:
    """The arguments that were given, enums as their values: the API reads absent as unset."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items() if v is not None}


def _decoded(response: httpx.Response, correlation_id: str, operation: str) -> _Answer:
    answer = _Answer(None, response.status_code, correlation_id, operation)
    if response.status_code == 204 or not response.content.strip():
        return answer
    try:
        return replace(answer, body=response.json())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise answer.invalid(f"the answer is not JSON: {_raw_text(response)}") from None


def _list_data(answer: _Answer) -> Items:
    data = answer.data
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise answer.invalid("expected a list of objects in 'data'")
    return data


def _with_sent_fields(data: Any, sent: Mapping[str, Any] | None) -> Any:
    """``data`` plus each sent field it lacks in either casing (the answer's values win)."""
    if not isinstance(data, dict) or not sent:
        return data
    missing = {k: v for k, v in sent.items() if k not in data and to_camel(k) not in data}
    return {**missing, **data}


def _next_cursor(body: Any) -> str | None:
    """``metadata.pagination.next_cursor`` (or ``nextCursor``); missing or empty = the end."""
    if not isinstance(body, dict):
        return None
    metadata = body.get("metadata")
    pagination = metadata.get("pagination") if isinstance(metadata, dict) else None
    if not isinstance(pagination, dict):
        return None
    cursor = pagination.get("next_cursor", pagination.get("nextCursor"))
    return str(cursor) if cursor not in (None, "") else None


def _model(model: type[M], data: Any, answer: _Answer) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise answer.invalid(f"unexpected {model.__name__}: {problems}") from None


def _models(model: type[M], items: Items, answer: _Answer) -> list[M]:
    return [_model(model, item, answer) for item in items]


def _secrets_registered(results: list[M]) -> list[M]:
    """Register every secret field (by its name, `is_secret_field`) with the log redactor as
    soon as it is parsed.

    A public key's token is not a secret (it ships in every web page that uses it) and every
    listing carries it, so it is left out: the redactor's registry is bounded, and filling it
    with public tokens would push real secrets out.
    """
    for result in results:
        if isinstance(result, ApiKey) and result.type is KeyType.PUBLIC:
            continue
        for name in type(result).model_fields:
            if is_secret_field(name):
                value = getattr(result, name)
                if isinstance(value, str):
                    register_secret(value)
    return results


def _shareable(items: Items) -> Items:
    """A listing as it may be written to a shared cache: no signing keys, no secret tokens.

    A public key's token is kept: it is no secret (it ships in every web page that uses it).
    """
    cleaned = []
    for item in items:
        copy = without_secrets(item)
        if item.get("type") == KeyType.PUBLIC.value and "token" in item:
            copy["token"] = item["token"]
        cleaned.append(copy)
    return cleaned


# --------------------------------------------------------------------------- error mapping


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, from either form the header may take."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _raw_text(response: httpx.Response) -> str:
    text = response.text.strip()
    if len(text) > _RAW_TEXT_LIMIT:
        text = text[:_RAW_TEXT_LIMIT] + "…"
    return text or response.reason_phrase or f"HTTP {response.status_code}"


def _error_from(response: httpx.Response, operation: str, correlation_id: str) -> FingerprintError:
    """The exception a non-2xx answer stands for, with everything the API said."""
    status = response.status_code
    code: str | None = None
    message: str | None = None
    violations: tuple[Violation, ...] = ()
    try:
        parsed = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        code = str(error["code"]) if error.get("code") is not None else None
        message = str(error["message"]) if error.get("message") is not None else None
        violations = tuple(
            Violation(str(v.get("property", "")), str(v.get("message", "")))
            for v in error.get("violations") or ()
            if isinstance(v, dict)
        )
    if message is None:
        message = _raw_text(response)
    cls = _error_class(status, code, message, bool(violations))
    return cls(
        message,
        status=status,
        code=code,
        violations=violations,
        retry_after=_retry_after(response),
        correlation_id=correlation_id,
        operation=operation,
    )


def _error_class(
    status: int, code: str | None, message: str, has_violations: bool
) -> type[FingerprintError]:
    if status in (400, 409) and _PLAN_LIMIT.search(message):
        return PlanLimitReached
    # Field errors come as 422 validation.failed, or as a 400 with violations (API keys).
    if code == "validation.failed" or (status == 400 and has_violations):
        return ValidationFailed
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return Unavailable if code == "general.unavailable" else ServerError
    return _BY_CODE.get(code or "", FingerprintError)
