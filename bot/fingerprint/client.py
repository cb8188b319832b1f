"""The one way out to Fingerprint's Management API.

`ManagementClient` owns everything between a typed method call and the wire: authentication
and the version header, the per-key rate budget (`ratelimit`), retries within a bounded wait,
pagination, single-flight and a short listing cache (`cache`), the error mapping (`errors`)
and the typed models (`models`). Callers get pydantic models or a `FingerprintError`; never an
httpx exception, never raw JSON.

Both API versions are spoken, one per client (``api_version``): environments, API keys and
webhooks in either; origin lists in ``2024-05-20``; expression rules, encryption keys and
subdomains in ``2025-11-20``. A call of the other version raises `WrongApiVersion` unsent.

Retries: reads, and updates that set absolute values, are retried after a 5xx or a lost
answer; creates, deletes, rotations and bulk writes never are, since they may have happened.
Every write drops the cached listings, whatever its outcome.

Background reads: inside `ManagementClient.background` (the account watch), calls take a
share of the rate budget only, yield to every other call waiting for it, and neither read nor
join what commands read (the listing cache, a walk in flight), so a command never waits for
them. An optional `Observer` hears of every attempt and every wait for the budget (metrics).

Secrets: the API key lives only in the connection's default headers and is registered with
`bot.log.register_secret` at construction; every field with a secret's name (a created key's
token, a webhook's signing key, an encryption key's tokens, a subdomain's webhook secret) is
registered the moment it is parsed and stripped from what goes to the listing cache, so no log
line, error text or shared cache can carry one. Request and response bodies are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar
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
    Violation,
    WrongApiVersion,
)
from bot.fingerprint.models import (
    ApiKey,
    EncryptionKey,
    Environment,
    FilteringRule,
    Hello,
    KeyType,
    LimitMode,
    OriginRules,
    Placement,
    RuleAction,
    RuleSpec,
    RuleTestResult,
    SampleRequest,
    Status,
    Subdomain,
    Webhook,
)
from bot.fingerprint.ratelimit import (
    DEFAULT_MARGIN,
    Paused,
    RateLimiter,
    RedisSlidingWindowLimiter,
    SlidingWindowLimiter,
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
API_VERSION_2024 = "2024-05-20"
API_VERSION_2025 = "2025-11-20"
#: The versions this client speaks; ``X-API-Version`` is required and dated.
API_VERSIONS = (API_VERSION_2024, API_VERSION_2025)
DEFAULT_API_VERSION = API_VERSION_2024
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

#: The share of the rate budget background reads may take by default (a fifth).
BACKGROUND_SHARE = 0.2
#: Set inside `ManagementClient.background`: the share of the budget this task's calls take.
_background: ContextVar[float | None] = ContextVar("fpbot_fp_background", default=None)


class Observer(Protocol):
    """Hears what the client does, for metrics; must be quick and never raise."""

    def requested(self, operation: str, status: str) -> None:
        """One attempt answered: ``status`` is the HTTP status, or ``timeout``/``transport``
        when no answer came, or ``held_back`` when it was never sent (a pause)."""

    def budget_waited(self, seconds: float, *, background: bool) -> None:
        """A call waited ``seconds`` for room in the rate budget before going out."""


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
        api_version: the ``X-API-Version`` header, one of `API_VERSIONS`. Some calls exist in
            one version only; called with the other, they raise `WrongApiVersion` unsent.
        rate_limit: requests per second the key is allowed.
        page_size: items asked per page when walking a listing (at most 100).
        cache_ttl: seconds a listing may be served from the cache; 0 disables the cache.
        timeout: seconds one HTTP attempt may take.
        retry_budget: seconds a call may spend retrying after its first attempt went out.
        redis: when given, the rate budget and the listing cache are shared through it.
        redis_prefix: the namespace of fpbot's Redis keys.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        observer: told of every attempt and budget wait (`Observer`); settable later.
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
        observer: Observer | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        if api_version not in API_VERSIONS:
            raise ValueError(f"api_version must be one of {', '.join(API_VERSIONS)}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        register_secret(api_key)
        self.api_version = api_version
        self.page_size = page_size
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.stats = ClientStats()
        self.observer = observer
        self._shares: dict[float, SlidingWindowLimiter] = {}
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
        """Build the client the settings describe.

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

    @contextlib.contextmanager
    def background(self, share: float = BACKGROUND_SHARE) -> Iterator[None]:
        """Make the calls of this task (and of the tasks it starts) background reads.

        They spend at most ``share`` of the rate budget (in any one-second window, per
        process), take a slot only while no other call of this process waits for one, and
        bypass the listing cache and the walks commands share, so a command never waits
        behind them.
        """
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        token = _background.set(share)
        try:
            yield
        finally:
            _background.reset(token)

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

    async def create_environment(
        self,
        name: str,
        *,
        description: str | None = None,
        limit_mode: LimitMode | None = None,
        limit_value: int | None = None,
    ) -> Environment:
        """Create an environment; ``limit_value`` is needed unless ``limit_mode`` is none."""
        body = _fields(
            name=name, description=description, limit_mode=limit_mode, limit_value=limit_value
        )
        return await self._write_one(Environment, "POST", "/environments", body=body)

    async def update_environment(
        self,
        env_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        limit_mode: LimitMode | None = None,
        limit_value: int | None = None,
    ) -> Environment:
        """Rename, re-describe or change the monthly usage limit of an environment (the API
        updates with POST, not PATCH). The fields given replace the old ones: retried."""
        body = _fields(
            name=name, description=description, limit_mode=limit_mode, limit_value=limit_value
        )
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
        """Change a key's name, description, status or ``rate_limit`` (requests per second,
        at least 0.1). A refusal may come as 400 or 422; both raise `ValidationFailed`."""
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
        self,
        *,
        url: str,
        description: str | None = None,
        environment: str | None = None,
        status: Status | None = None,
    ) -> Webhook:
        """Create a webhook. The result carries its ``signing_key``: deliver it privately."""
        body = _fields(url=url, description=description, environment=environment, status=status)
        return await self._write_one(Webhook, "POST", "/webhooks", body=body)

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        description: str | None = None,
        status: Status | None = None,
        environment: str | None = None,
    ) -> Webhook:
        body = _fields(url=url, description=description, status=status, environment=environment)
        return await self._write_one(
            Webhook, "PATCH", "/webhooks/{id}", webhook_id, body=body, idempotent=True
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write("DELETE", "/webhooks/{id}", webhook_id)

    async def verify_webhook(self, webhook_id: str) -> Webhook | None:
        """Ask Fingerprint to call the webhook's URL and record whether it answered.

        Asking twice does no harm, so the call is retried like a read. Returns the webhook
        as it is afterwards (``verified``), or ``None`` when the API answered without a body.
        """
        answer = await self._write(
            "POST", "/webhooks/{id}/verification", webhook_id, idempotent=True
        )
        if answer.data is None:
            return None
        return _secrets_registered([_model(Webhook, answer.data, answer)])[0]

    # ------------------------------------------------------- filtering rules, 2024-05-20

    async def origin_rules(self, environment: str) -> OriginRules:
        """An environment's origin allow and deny lists.

        ``2024-05-20`` documents no way to read them: this tries ``GET /filtering-rules``
        with the environment, which the stand-in answers in the shape the writes return.

        Raises:
            OriginRulesUnreadable: the API has no such route (404 or 405).
        """
        self._require(API_VERSION_2024, "GET /filtering-rules")
        try:
            answer = await self._request(
                "GET", "/filtering-rules", params={"environment": environment}, idempotent=True
            )
        except FingerprintError as exc:
            if exc.status not in (404, 405):
                raise
            raise OriginRulesUnreadable(
                "Fingerprint cannot read an environment's origin rules back "
                f"(GET /filtering-rules answered {exc.status})",
                status=exc.status,
                code=exc.code,
                correlation_id=exc.correlation_id,
                operation=exc.operation,
            ) from None
        return _origin_rules_of(answer, environment)

    async def replace_origin_rules(
        self, environment: str, *, allow: Iterable[str], deny: Iterable[str]
    ) -> OriginRules:
        """Replace an environment's origin lists (``POST /filtering-rules``).

        An allow list goes with ``deny=["*"]``, a deny list with ``allow=["*"]``; both empty
        removes the environment's rules. The whole lists are sent, so a retry is harmless.
        Fingerprint takes up to five minutes to apply a change.
        """
        self._require(API_VERSION_2024, "POST /filtering-rules")
        body = {"environment": environment, "allow": list(allow), "deny": list(deny)}
        answer = await self._write("POST", "/filtering-rules", body=body, idempotent=True)
        return _origin_rules_of(answer, environment)

    async def patch_origin_rules(
        self,
        environment: str,
        *,
        permission: Literal["allow", "deny"],
        op: Literal["add", "remove"],
        items: Iterable[str],
    ) -> OriginRules:
        """Add origins to, or remove them from, one list (``PATCH /filtering-rules``)."""
        self._require(API_VERSION_2024, "PATCH /filtering-rules")
        body = {
            "environment": environment,
            "permission": permission,
            "op": op,
            "items": list(items),
        }
        answer = await self._write("PATCH", "/filtering-rules", body=body, idempotent=True)
        return _origin_rules_of(answer, environment)

    # ------------------------------------------------------- filtering rules, 2025-11-20

    async def list_filtering_rules(
        self,
        *,
        environment: str | None = None,
        status: Status | None = None,
        name: str | None = None,
    ) -> list[FilteringRule]:
        """Expression rules in evaluation order (one unpaginated answer); ``name`` matches
        part of a name. Unless ``status`` or ``name`` leaves rules out, each rule's
        ``position`` in its environment's order is filled in."""
        self._require(API_VERSION_2025, "GET /filtering-rules")
        params = _fields(environment=environment, status=status, name=name)
        rules = await self._listing(FilteringRule, "/filtering-rules", params, paginated=False)
        if status is not None or name is not None:
            return rules
        seen: dict[str | None, int] = {}
        positioned = []
        for rule in rules:
            position = seen.get(rule.environment, 0)
            seen[rule.environment] = position + 1
            positioned.append(rule.model_copy(update={"position": position}))
        return positioned

    async def get_filtering_rule(self, rule_id: str) -> FilteringRule:
        self._require(API_VERSION_2025, "GET /filtering-rules/{id}")
        return await self._read_one(FilteringRule, "/filtering-rules/{id}", rule_id)

    async def create_filtering_rule(
        self,
        *,
        name: str,
        environment: str,
        expression: str,
        action: RuleAction,
        status: Status | None = None,
        deny_with: str | None = None,
        placement: Placement | None = None,
    ) -> FilteringRule:
        """Create a rule; without ``placement`` it is evaluated after the others."""
        self._require(API_VERSION_2025, "POST /filtering-rules")
        body = _fields(
            name=name,
            environment=environment,
            expression=expression,
            action=action,
            status=status,
            deny_with=deny_with,
            placement=placement,
        )
        return await self._write_one(FilteringRule, "POST", "/filtering-rules", body=body)

    async def update_filtering_rule(
        self,
        rule_id: str,
        *,
        name: str | None = None,
        environment: str | None = None,
        expression: str | None = None,
        action: RuleAction | None = None,
        status: Status | None = None,
        deny_with: str | None = None,
        placement: Placement | None = None,
    ) -> FilteringRule:
        """Change a rule (the API updates with POST); a ``placement`` moves it in the order.

        The docs require the rule's ``id`` in the body too, Fingerprint's MCP server leaves it
        out: it is sent. The fields given replace the old ones, so the call is retried.
        """
        self._require(API_VERSION_2025, "POST /filtering-rules/{id}")
        body = _fields(
            id=rule_id,
            name=name,
            environment=environment,
            expression=expression,
            action=action,
            status=status,
            deny_with=deny_with,
            placement=placement,
        )
        return await self._write_one(
            FilteringRule, "POST", "/filtering-rules/{id}", rule_id, body=body, idempotent=True
        )

    async def delete_filtering_rule(self, rule_id: str) -> None:
        self._require(API_VERSION_2025, "DELETE /filtering-rules/{id}")
        await self._write("DELETE", "/filtering-rules/{id}", rule_id)

    async def bulk_filtering_rules(
        self,
        environment: str,
        rules: Sequence[RuleSpec],
        *,
        mode: Literal["merge", "overwrite"] = "merge",
    ) -> list[FilteringRule]:
        """Write several rules of one environment at once (``POST /filtering-rules/bulk``).

        ``merge`` (the API's default) adds to the environment's rules, ``overwrite`` replaces
        them. Not retried: what a repeated merge does is not documented.
        """
        self._require(API_VERSION_2025, "POST /filtering-rules/bulk")
        body = {"environment": environment, "rules": [r.to_json() for r in rules], "mode": mode}
        answer = await self._write("POST", "/filtering-rules/bulk", body=body)
        return _models(FilteringRule, _list_data(answer), answer)

    async def test_filtering_rules(
        self,
        *,
        environment: str | None = None,
        rules: Sequence[RuleSpec] | None = None,
        test_request_id: str | None = None,
        request: SampleRequest | None = None,
    ) -> RuleTestResult:
        """What the rules would do to one identification request; changes nothing.

        Args:
            environment: whose stored rules to test; required when ``rules`` is not given.
            rules: rules to test instead, in evaluation order (e.g. a proposed change).
            test_request_id: a real request of the last three months to test against.
            request: a made-up request to test against instead.
        """
        self._require(API_VERSION_2025, "POST /filtering-rules/test")
        body: dict[str, Any] = _fields(environment=environment, test_request_id=test_request_id)
        if rules is not None:
            body["rules"] = [rule.to_test_json() for rule in rules]
        if request is not None:
            body["test_request_payload"] = request.to_json()
        answer = await self._request("POST", "/filtering-rules/test", body=body, idempotent=True)
        # The docs wrap the result in "data"; Fingerprint's MCP server reads it bare.
        return _model(RuleTestResult, answer.data, answer)

    # ------------------------------------------------------ encryption keys, 2025-11-20

    async def list_encryption_keys(
        self, *, status: Status | None = None, environment: str | None = None
    ) -> list[EncryptionKey]:
        """Every encryption key matching the filters, all pages.

        The API sends each key's tokens; they are registered as secrets, and never written
        to the listing cache, so a listing served from the cache has none.
        """
        self._require(API_VERSION_2025, "GET /encryption-keys")
        params = _fields(status=status, environment=environment)
        return await self._listing(EncryptionKey, "/encryption-keys", params)

    async def get_encryption_key(self, key_id: str) -> EncryptionKey:
        self._require(API_VERSION_2025, "GET /encryption-keys/{id}")
        return await self._read_one(EncryptionKey, "/encryption-keys/{id}", key_id)

    async def update_encryption_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: Status | None = None,
    ) -> EncryptionKey:
        """Rename, re-describe, enable (activate) or disable a key."""
        self._require(API_VERSION_2025, "PATCH /encryption-keys/{id}")
        body = _fields(name=name, description=description, status=status)
        return await self._write_one(
            EncryptionKey, "PATCH", "/encryption-keys/{id}", key_id, body=body, idempotent=True
        )

    async def rotate_encryption_key(self, key_id: str) -> EncryptionKey:
        """Make the next token current. Never retried: a second rotation would go further."""
        self._require(API_VERSION_2025, "POST /encryption-keys/{id}/rotate")
        return await self._write_one(EncryptionKey, "POST", "/encryption-keys/{id}/rotate", key_id)

    async def revert_encryption_key(self, key_id: str) -> EncryptionKey:
        """Undo the last rotation. Never retried, for the same reason as `rotate`."""
        self._require(API_VERSION_2025, "POST /encryption-keys/{id}/revert")
        return await self._write_one(EncryptionKey, "POST", "/encryption-keys/{id}/revert", key_id)

    # ----------------------------------------------------------- subdomains, 2025-11-20

    async def list_subdomains(self) -> list[Subdomain]:
        """Every custom subdomain, all pages (items without their DNS records)."""
        self._require(API_VERSION_2025, "GET /subdomains")
        return await self._listing(Subdomain, "/subdomains")

    async def get_subdomain(self, subdomain_id: str) -> Subdomain:
        self._require(API_VERSION_2025, "GET /subdomains/{id}")
        return await self._read_one(Subdomain, "/subdomains/{id}", subdomain_id)

    async def create_subdomain(self, subdomain: str) -> Subdomain:
        """Start serving Fingerprint from ``subdomain``; the answer lists the DNS records to
        create, and carries ``webhook_secret`` once. A 503 may mean the feature is off."""
        self._require(API_VERSION_2025, "POST /subdomains")
        return await self._write_one(
            Subdomain, "POST", "/subdomains", body={"subdomain": subdomain}
        )

    async def verify_subdomain(self, subdomain_id: str) -> Subdomain:
        """Ask Fingerprint to check the DNS records now; harmless to repeat, so retried."""
        self._require(API_VERSION_2025, "POST /subdomains/{id}/verify")
        return await self._write_one(
            Subdomain, "POST", "/subdomains/{id}/verify", subdomain_id, idempotent=True
        )

    async def delete_subdomain(self, subdomain_id: str) -> None:
        """Stop serving from the subdomain and revoke its certificate."""
        self._require(API_VERSION_2025, "DELETE /subdomains/{id}")
        await self._write("DELETE", "/subdomains/{id}", subdomain_id)

    # ---------------------------------------------------------------------------- internals

    def _limiter(self) -> RateLimiter:
        if self._shared_limiter is not None:
            return self._shared_limiter
        return local_limiter(self._api_key, self._rate, margin=self._margin)

    def _share(self, share: float) -> SlidingWindowLimiter:
        """The budget of background calls: ``share`` of the key's rate, in this process."""
        limiter = self._shares.get(share)
        if limiter is None:
            limiter = self._shares[share] = SlidingWindowLimiter(
                self._rate * share, margin=self._margin
            )
        return limiter

    @contextlib.asynccontextmanager
    async def _slot(self, deadline: float) -> AsyncIterator[None]:
        """A slot of the rate budget (a background call's share first), its wait observed."""
        share = _background.get()
        waiting = time.monotonic()
        async with contextlib.AsyncExitStack() as held:
            if share is not None:
                await held.enter_async_context(self._share(share).slot(deadline=deadline))
            await held.enter_async_context(
                self._limiter().slot(deadline=deadline, background=share is not None)
            )
            if self.observer is not None:
                self.observer.budget_waited(
                    time.monotonic() - waiting, background=share is not None
                )
            yield

    def _observe(self, operation: str, status: str) -> None:
        if self.observer is not None:
            self.observer.requested(operation, status)

    def _require(self, version: str, operation: str) -> None:
        """Refuse, before sending, a call that exists only in the other API version."""
        if self.api_version != version:
            raise WrongApiVersion(
                f"{operation} is part of Management API version {version}, "
                f"but this client sends {self.api_version}",
                code="fpbot.api-version",
                operation=operation,
            )

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

        if _background.get() is not None:
            # A background read reads the account as it is now, on its own: a command must
            # not join a walk that goes at the background's pace.
            return _secrets_registered((await self._walk(model, path, params, paginated))[1])
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
                async with self._slot(
                    started + self.retry_budget if deadline is None else deadline
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
                self._observe(operation, "held_back")
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
                self._observe(operation, "timeout" if isinstance(outcome, Timeout) else "transport")
            else:
                response = outcome
                self._observe(operation, str(response.status_code))
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


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Placement):
        return value.to_json()
    return value


def _fields(**values: Any) -> dict[str, Any]:
    """The arguments that were given, as JSON values: the API reads absent as unset."""
    return {k: _json_value(v) for k, v in values.items() if v is not None}


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


def _origin_rules_of(answer: _Answer, environment: str) -> OriginRules:
    """The origin lists of ``environment`` in an answer: ``data`` is a list of entries (one
    per environment) in the docs, a single object in older examples."""
    data = answer.data
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise answer.invalid("expected origin rules in 'data'")
    for rules in _models(OriginRules, items, answer):
        if rules.environment == environment:
            return rules
        if rules.environment is None and len(items) == 1:
            return rules.model_copy(update={"environment": environment})
    # No entry for the environment: it filters nothing.
    return OriginRules(type="origin", environment=environment)


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
