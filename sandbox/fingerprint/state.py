"""The workspace behind the stand-in Management API: records and business rules, no HTTP.

Everything here is plain data and plain functions so that the rules (what may be deleted,
what a create body must hold, when a plan limit bites) can be read in one place and tested
without a server. Bodies arrive already decoded from JSON; `normalize_keys` turns camelCase
spellings into snake_case first, because the real API's clients send both.

This module holds every record, the validation helpers and the core resources (environments,
API keys, webhooks). The rules of the newer resources are functions over the `Workspace` in
their own modules: `filtering` (both versions' filtering rules), `encryption` and
`subdomains`.

A rule that is broken raises `ApiError`, which the HTTP layer turns into the API's error
envelope. Plan limits raise `PlanLimitError`: the real API answers them with 400 or 409 and the
same message, and which one the stand-in produces is a fault knob, not a business rule.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KEY_TYPES = ("public", "secret", "proxy")
STATUSES = ("enabled", "disabled")
LIMIT_MODES = ("none", "restrict", "notify")

_ALPHABET = string.ascii_letters + string.digits
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class Violation:
    """One field error of a 422 ``validation.failed`` answer."""

    property: str
    message: str


class ApiError(Exception):
    """A refusal the API expresses as ``{"error": {"code", "message", "violations"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        violations: Iterable[Violation] = (),
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.violations = tuple(violations)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer; ``violations`` only when there are some."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.violations:
            error["violations"] = [
                {"property": v.property, "message": v.message} for v in self.violations
            ]
        return {"error": error}


class PlanLimitError(ApiError):
    """The workspace already holds as many of something as the plan allows."""

    def __init__(self, message: str) -> None:
        super().__init__(409, "general.conflict", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "general.bad-request", message)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "general.not-found", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "general.conflict", message)


# --------------------------------------------------------------------------------------------
# Formatting helpers


def format_time(moment: datetime | None) -> str | None:
    """UTC, milliseconds and ``Z``: ``2025-01-31T15:53:52.180Z``, as the real API writes."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def snake_case(name: str) -> str:
    """``rateLimit`` → ``rate_limit``; snake_case names pass through unchanged."""
    return _CAMEL_BOUNDARY.sub(lambda m: "_" + m.group(1).lower(), name)


def camel_case(name: str) -> str:
    """``rate_limit`` → ``rateLimit``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalize_keys(body: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a request body's keys into snake_case, recursively.

    When a body spells a field both ways, the snake_case spelling wins, as it does in the
    client's models.
    """
    result: dict[str, Any] = {}
    for key, value in body.items():
        snake = snake_case(key)
        if snake in result and snake != key:
            continue
        result[snake] = normalize_keys(value) if isinstance(value, Mapping) else value
    return result


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class Environment:
    id: str
    name: str
    created_at: datetime
    description: str | None = None
    limit_mode: str = "none"
    limit_value: int | None = None
    is_restricted: bool = False
    restricted_at: datetime | None = None
    updated_at: datetime | None = None
    # Internal: the workspace's default environment (not part of the documented shape).
    is_default: bool = False
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "limit_mode": self.limit_mode,
            "limit_value": self.limit_value,
            "is_restricted": self.is_restricted,
            "restricted_at": format_time(self.restricted_at),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


@dataclass
class ApiKey:
    id: str
    name: str
    type: str
    token: str
    created_at: datetime
    description: str | None = None
    status: str = "enabled"
    environment: str | None = None
    rate_limit: float = 5
    disabled_at: datetime | None = None
    seq: int = 0

    @property
    def token_is_secret(self) -> bool:
        """Secret keys' tokens (and, to be safe, proxy keys') are shown only on creation."""
        return self.type != "public"

    def to_json(self, *, created: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "status": self.status,
            "environment": self.environment,
            "rate_limit": self.rate_limit,
            "created_at": format_time(self.created_at),
            "disabled_at": format_time(self.disabled_at),
        }
        if created or not self.token_is_secret:
            body["token"] = self.token
        return body


@dataclass
class Webhook:
    id: str
    url: str
    signing_key: str
    created_at: datetime
    description: str | None = None
    status: str = "enabled"
    verified: bool = False
    environment: str | None = None
    last_enabled_at: datetime | None = None
    last_disabled_at: datetime | None = None
    seq: int = 0

    def to_json(self, *, created: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "status": self.status,
            "verified": self.verified,
            "environment": self.environment,
            "legacy": False,
            "basic_auth": None,
            "created_at": format_time(self.created_at),
            "last_enabled_at": format_time(self.last_enabled_at),
            "last_disabled_at": format_time(self.last_disabled_at),
        }
        if created:
            body["signing_key"] = self.signing_key
        return body


@dataclass
class OriginLists:
    """``2024-05-20`` filtering rules: one environment's origin allow and deny lists.

    An allow list goes with ``deny == ["*"]`` (everything else is refused), a deny list with
    ``allow == ["*"]``; an environment without rules has neither.
    """

    environment: str
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        """The origins named (the ``*`` of the other list is not a rule of its own)."""
        return sum(1 for origin in self.allow + self.deny if origin != "*")

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "origin",
            "environment": self.environment,
            "allow": list(self.allow),
            "deny": list(self.deny),
        }


@dataclass
class ExpressionRule:
    """``2025-11-20`` filtering rule: what to do with requests an expression matches. Its
    place in the evaluation order is kept by `Workspace.rule_order`."""

    id: str
    name: str
    environment: str
    expression: str
    action: str
    created_at: datetime
    status: str = "enabled"
    deny_with: str | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "environment": self.environment,
            "expression": self.expression,
            "action": self.action,
            "status": self.status,
            "deny_with": self.deny_with,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


@dataclass
class EncryptionKey:
    """A Sealed Results key (``2025-11-20``). ``rotations`` holds the previous tokens that
    each rotation pushed out, so that a revert can restore them (inferred semantics)."""

    id: str
    name: str
    token: str
    next_token: str
    created_at: datetime
    environment: str | None = None
    description: str | None = None
    status: str = "disabled"
    previous_token: str | None = None
    last_activated_at: datetime | None = None
    last_rotated_at: datetime | None = None
    last_deactivated_at: datetime | None = None
    rotations: list[str | None] = field(default_factory=list)
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """Tokens included: the API returns them on every list and get."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "environment": self.environment,
            "previous_token": self.previous_token,
            "token": self.token,
            "next_token": self.next_token,
            "created_at": format_time(self.created_at),
            "last_activated_at": format_time(self.last_activated_at),
            "last_rotated_at": format_time(self.last_rotated_at),
            "last_deactivated_at": format_time(self.last_deactivated_at),
        }


@dataclass
class DnsRecord:
    type: str
    host: str
    value: str
    status: str = "pending_validation"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "host": self.host, "value": self.value, "status": self.status}


@dataclass
class Subdomain:
    """A custom subdomain (``2025-11-20``) and the DNS records it waits for."""

    id: str
    subdomain: str
    created_at: datetime
    updated_at: datetime
    verification: DnsRecord
    routing: list[DnsRecord]
    caa: DnsRecord | None = None
    status: str = "pending"
    webhook_secret: str | None = None
    seq: int = 0

    def to_json(self, *, full: bool = True, created: bool = False) -> dict[str, Any]:
        """A listing item without ``full``; the create answer adds ``webhook_secret``."""
        body: dict[str, Any] = {
            "id": self.id,
            "subdomain": self.subdomain,
            "status": self.status,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }
        if full:
            records: dict[str, Any] = {
                "verification": self.verification.to_json(),
                "routing": [record.to_json() for record in self.routing],
            }
            if self.caa is not None:
                records["caa"] = self.caa.to_json()
            body["webhook_url"] = None
            body["dns_records"] = records
        if created:
            body["webhook_secret"] = self.webhook_secret
        return body


@dataclass
class PlanLimits:
    """How many of each thing the workspace's plan allows."""

    api_keys: int = 10
    webhooks: int = 5
    filtering_rules: int = 15
    subdomains: int = 50


# --------------------------------------------------------------------------------------------
# Body validation


class Checker:
    """Collects violations for one body, then raises them all at once (422)."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.violations: list[Violation] = []

    def fail(self, prop: str, message: str) -> None:
        self.violations.append(Violation(prop, message))

    def text(
        self, prop: str, *, required: bool, low: int, high: int, nullable: bool = True
    ) -> str | None:
        if prop not in self.body or (self.body[prop] is None and nullable and not required):
            if required:
                self.fail(prop, "is required")
            return None
        value = self.body[prop]
        if not isinstance(value, str):
            self.fail(prop, "must be a string")
            return None
        if not low <= len(value) <= high:
            self.fail(prop, f"must be between {low} and {high} characters long")
            return None
        return value

    def choice(self, prop: str, choices: tuple[str, ...], *, required: bool) -> str | None:
        if prop not in self.body:
            if required:
                self.fail(prop, "is required")
            return None
        value = self.body[prop]
        if value not in choices:
            self.fail(prop, f"must be one of: {', '.join(choices)}")
            return None
        return str(value)

    def number(self, prop: str, *, low: float, integer: bool = False) -> float | None:
        if prop not in self.body or self.body[prop] is None:
            return None
        value = self.body[prop]
        acceptable = isinstance(value, int) or (isinstance(value, float) and not integer)
        if isinstance(value, bool) or not acceptable or float(value) < low:
            kind = "an integer" if integer else "a number"
            self.fail(prop, f"must be {kind} ≥ {low:g}")
            return None
        return float(value)

    def flag(self, prop: str) -> bool | None:
        if prop not in self.body:
            return None
        value = self.body[prop]
        if not isinstance(value, bool):
            self.fail(prop, "must be true or false")
            return None
        return value

    def include(self, prefix: str, other: Checker) -> None:
        """Take ``other``'s violations, each under ``prefix`` (an item of a list)."""
        self.violations += [
            Violation(f"{prefix}.{v.property}", v.message) for v in other.violations
        ]

    def done(self) -> None:
        if self.violations:
            raise ApiError(422, "validation.failed", "Validation failed", self.violations)


def _https_url(value: str) -> bool:
    return re.fullmatch(r"https://[A-Za-z0-9.\-]+(:\d+)?(/\S*)?", value) is not None


# --------------------------------------------------------------------------------------------
# The workspace


class Workspace:
    """All resources of one Fingerprint workspace and the rules that guard them.

    Collections are dicts in creation order; that order is the order lists are returned in.
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: PlanLimits | None = None,
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.limits = limits or PlanLimits()
        self.environments: dict[str, Environment] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.origin_rules: dict[str, OriginLists] = {}
        self.expression_rules: dict[str, ExpressionRule] = {}
        #: Each environment's expression rules, in evaluation order.
        self.rule_order: dict[str, list[str]] = {}
        self.encryption_keys: dict[str, EncryptionKey] = {}
        self.subdomains: dict[str, Subdomain] = {}
        #: Identification requests a rule test may name by ``test_request_id``.
        self.identifications: dict[str, dict[str, Any]] = {}
        self._seq = 0

    def next_seq(self) -> int:
        """A rank that orders every record by creation, for cursors."""
        self._seq += 1
        return self._seq

    # ---- ids and secrets

    def new_id(self, prefix: str, taken: Mapping[str, Any], length: int = 16) -> str:
        while True:
            candidate = prefix + "".join(self.rng.choice(_ALPHABET) for _ in range(length))
            if candidate not in taken:
                return candidate

    def new_secret(self, length: int = 20) -> str:
        return "".join(self.rng.choice(_ALPHABET) for _ in range(length))

    @property
    def default_environment(self) -> Environment:
        return next(env for env in self.environments.values() if env.is_default)

    def environment_ref(self, checker: Checker, prop: str = "environment") -> str | None:
        value = checker.body.get(prop)
        if value is None:
            return None
        if not isinstance(value, str) or value not in self.environments:
            checker.fail(prop, f"environment {value!r} does not exist")
            return None
        return value

    # ---- environments

    def create_environment(self, body: Mapping[str, Any]) -> Environment:
        check = Checker(body)
        name = check.text("name", required=True, low=3, high=255)
        description = check.text("description", required=False, low=0, high=256)
        mode = check.choice("limit_mode", LIMIT_MODES, required=False) or "none"
        limit_value = check.number("limit_value", low=1, integer=True)
        if mode != "none" and limit_value is None and "limit_value" not in body:
            check.fail("limit_value", "is required unless limit_mode is none")
        check.done()
        assert name is not None
        env = Environment(
            id=self.new_id("ae_", self.environments),
            name=name,
            description=description,
            limit_mode=mode,
            limit_value=None if mode == "none" or limit_value is None else int(limit_value),
            created_at=self.clock(),
            seq=self.next_seq(),
        )
        self.environments[env.id] = env
        self.add_encryption_key(env)
        return env

    def add_encryption_key(self, env: Environment) -> EncryptionKey:
        """The key every environment has: inactive (disabled) until someone activates it."""
        key = EncryptionKey(
            id=self.new_id("tok_", self.encryption_keys, 24),
            name=f"{env.name} encryption key",
            environment=env.id,
            token=self.new_secret(44),
            next_token=self.new_secret(44),
            created_at=self.clock(),
            seq=self.next_seq(),
        )
        self.encryption_keys[key.id] = key
        return key

    def update_environment(self, env_id: str, body: Mapping[str, Any]) -> Environment:
        env = self.environments.get(env_id)
        if env is None:
            raise not_found(f"Environment {env_id} not found")
        check = Checker(body)
        name = check.text("name", required=False, low=3, high=255, nullable=False)
        description = check.text("description", required=False, low=0, high=256)
        mode = check.choice("limit_mode", LIMIT_MODES, required=False)
        limit_value = check.number("limit_value", low=1, integer=True)
        restricted = check.flag("is_restricted")
        effective_mode = mode or env.limit_mode
        if effective_mode != "none" and limit_value is None and env.limit_value is None:
            check.fail("limit_value", "is required unless limit_mode is none")
        check.done()
        now = self.clock()
        if name is not None:
            env.name = name
        if "description" in body:
            env.description = description
        if mode is not None:
            env.limit_mode = mode
        if env.limit_mode == "none":
            env.limit_value = None
        elif limit_value is not None:
            env.limit_value = int(limit_value)
        if restricted is not None and restricted != env.is_restricted:
            env.is_restricted = restricted
            env.restricted_at = now if restricted else None
        env.updated_at = now
        return env

    def delete_environment(self, env_id: str) -> None:
        """Delete an environment and what hangs off it (disabled keys, webhooks, rules, its
        encryption key)."""
        env = self.environments.get(env_id)
        if env is None:
            raise not_found(f"Environment {env_id} not found")
        if env.is_default:
            raise conflict("The default environment can't be deleted")
        active = [k for k in self.api_keys.values() if k.environment == env_id]
        if any(k.status == "enabled" for k in active):
            raise conflict(
                f"Environment {env_id} has active API keys: disable or delete them first"
            )
        for key in active:
            del self.api_keys[key.id]
        for hook in [w for w in self.webhooks.values() if w.environment == env_id]:
            del self.webhooks[hook.id]
        for rule_id in self.rule_order.pop(env_id, []):
            del self.expression_rules[rule_id]
        for sealed in [k for k in self.encryption_keys.values() if k.environment == env_id]:
            del self.encryption_keys[sealed.id]
        self.origin_rules.pop(env_id, None)
        del self.environments[env_id]

    # ---- API keys

    def list_api_keys(
        self, *, type: str | None, status: str | None, environment: str | None
    ) -> list[ApiKey]:
        for name, value, choices in (("type", type, KEY_TYPES), ("status", status, STATUSES)):
            if value is not None and value not in choices:
                raise bad_request(f"Query parameter {name} must be one of: {', '.join(choices)}")
        return [
            key
            for key in self.api_keys.values()
            if (type is None or key.type == type)
            and (status is None or key.status == status)
            and (environment is None or key.environment == environment)
        ]

    def get_api_key(self, key_id: str) -> ApiKey:
        key = self.api_keys.get(key_id)
        if key is None:
            raise not_found(f"API key {key_id} not found")
        return key

    def create_api_key(self, body: Mapping[str, Any]) -> ApiKey:
        """Public keys without an environment go to the default one; secret and proxy keys
        without one are workspace-wide."""
        check = Checker(body)
        key_type = check.choice("type", KEY_TYPES, required=True)
        name = check.text("name", required=True, low=3, high=255)
        description = check.text("description", required=False, low=3, high=255)
        environment = self.environment_ref(check)
        rate_limit = check.number("rate_limit", low=0.1)
        check.done()
        assert key_type is not None and name is not None
        if len(self.api_keys) >= self.limits.api_keys:
            raise PlanLimitError(f"Max limit for api keys reached: {self.limits.api_keys}")
        if environment is None and key_type == "public":
            environment = self.default_environment.id
        key = ApiKey(
            id=self.new_id("tok_", self.api_keys),
            name=name,
            description=description,
            type=key_type,
            environment=environment,
            token=self.new_secret(),
            rate_limit=rate_limit if rate_limit is not None else 5,
            created_at=self.clock(),
            seq=self.next_seq(),
        )
        self.api_keys[key.id] = key
        return key

    def update_api_key(self, key_id: str, body: Mapping[str, Any]) -> ApiKey:
        key = self.get_api_key(key_id)
        check = Checker(body)
        name = check.text("name", required=False, low=3, high=255, nullable=False)
        description = check.text("description", required=False, low=3, high=255)
        status = check.choice("status", STATUSES, required=False)
        rate_limit = check.number("rate_limit", low=0.1)
        for frozen in ("token", "type", "environment"):
            if frozen in body:
                check.fail(frozen, "can't be changed: create a new key instead")
        check.done()
        if name is not None:
            key.name = name
        if "description" in body:
            key.description = description
        if rate_limit is not None:
            key.rate_limit = rate_limit
        if status is not None and status != key.status:
            key.status = status
            key.disabled_at = self.clock() if status == "disabled" else None
        return key

    def delete_api_key(self, key_id: str) -> None:
        self.get_api_key(key_id)
        del self.api_keys[key_id]

    # ---- webhooks

    def list_webhooks(self, *, status: str | None, environment: str | None) -> list[Webhook]:
        if status is not None and status not in STATUSES:
            raise bad_request(f"Query parameter status must be one of: {', '.join(STATUSES)}")
        return [
            hook
            for hook in self.webhooks.values()
            if (status is None or hook.status == status)
            and (environment is None or hook.environment == environment)
        ]

    def get_webhook(self, hook_id: str) -> Webhook:
        hook = self.webhooks.get(hook_id)
        if hook is None:
            raise not_found(f"Webhook {hook_id} not found")
        return hook

    def _webhook_url(self, check: Checker, *, required: bool) -> str | None:
        url = check.text("url", required=required, low=9, high=2048, nullable=False)
        if url is not None and not _https_url(url):
            check.fail("url", "must be an https:// URL")
            return None
        return url

    def create_webhook(self, body: Mapping[str, Any]) -> Webhook:
        check = Checker(body)
        url = self._webhook_url(check, required=True)
        description = check.text("description", required=False, low=0, high=256)
        status = check.choice("status", STATUSES, required=False) or "enabled"
        environment = self.environment_ref(check)
        check.done()
        assert url is not None
        if len(self.webhooks) >= self.limits.webhooks:
            raise PlanLimitError(f"Max limit for webhooks reached: {self.limits.webhooks}")
        now = self.clock()
        hook = Webhook(
            id=self.new_id("wh_", self.webhooks),
            url=url,
            description=description,
            status=status,
            environment=environment,
            signing_key="whsec_" + self.new_secret(32),
            created_at=now,
            last_enabled_at=now if status == "enabled" else None,
            last_disabled_at=now if status == "disabled" else None,
            seq=self.next_seq(),
        )
        self.webhooks[hook.id] = hook
        return hook

    def update_webhook(self, hook_id: str, body: Mapping[str, Any]) -> Webhook:
        hook = self.get_webhook(hook_id)
        check = Checker(body)
        url = self._webhook_url(check, required=False)
        description = check.text("description", required=False, low=0, high=256)
        status = check.choice("status", STATUSES, required=False)
        environment = self.environment_ref(check)
        check.done()
        if url is not None and url != hook.url:
            hook.url = url
            hook.verified = False
        if "description" in body:
            hook.description = description
        if "environment" in body:
            hook.environment = environment
        if status is not None and status != hook.status:
            hook.status = status
            if status == "enabled":
                hook.last_enabled_at = self.clock()
            else:
                hook.last_disabled_at = self.clock()
        return hook

    def delete_webhook(self, hook_id: str) -> None:
        self.get_webhook(hook_id)
        del self.webhooks[hook_id]

    def verify_webhook(self, hook_id: str) -> Webhook:
        """Pretend to call the URL and set ``verified`` by the outcome (inferred: the API
        documents neither the check nor how ``verified`` changes). Hosts under ``.invalid``
        (RFC 2606) never answer; any other host does. A changed URL is unverified again."""
        hook = self.get_webhook(hook_id)
        host = re.sub(r"^https://([^/:]+).*$", r"\1", hook.url)
        hook.verified = not host.endswith(".invalid")
        return hook
