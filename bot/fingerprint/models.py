"""Typed resources of the Management API, and the few typed inputs its calls take.

Responses are read leniently: camelCase and snake_case
alike, missing optional fields, ids without the usual prefix, ``limit_value: 0``, timestamps
with or without milliseconds. Only ``id`` is required: a change that succeeded upstream must
not fail because its answer left out a name. What users *type* is validated elsewhere
(``bot.commands``); what the API *returns* is accepted as long as it is recognisable.

Secrets (a secret key's token, a webhook's signing key, an encryption key's tokens, a
subdomain's webhook secret) are declared with `_secret`: never in a repr, never in a dump.
Their names are the ones `bot.domain.secrets` knows, which is how the client registers them
with the log redactor and keeps them out of the shared cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel


class KeyType(StrEnum):
    PUBLIC = "public"
    SECRET = "secret"
    PROXY = "proxy"


class Status(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class LimitMode(StrEnum):
    NONE = "none"
    RESTRICT = "restrict"
    NOTIFY = "notify"


class RuleAction(StrEnum):
    """What an expression rule does to a request it matches (and a rule test's result)."""

    ALLOW = "allow"
    DENY = "deny"


class SubdomainStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    TIMED_OUT = "timed_out"
    FAILED = "failed"


class DnsRecordStatus(StrEnum):
    PENDING_VALIDATION = "pending_validation"
    VALIDATED = "validated"
    FAILED = "failed"


#: The one message a deny rule can answer with (the API's enum has no other value).
DENY_WITH_FORBIDDEN = "Forbidden"


def _environment() -> Any:
    """The ``environment`` field, also read from the spellings older answers use."""
    return Field(
        default=None,
        validation_alias=AliasChoices("environment", "environmentId", "environment_id"),
    )


def _secret() -> Any:
    """A secret field: read, but never shown by repr nor written by a dump."""
    return Field(default=None, repr=False, exclude=True)


class ApiModel(BaseModel):
    """Base for every response model: both casings, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _prefer_snake_case(cls, data: Any) -> Any:
        """When a body carries both spellings, the snake_case one wins (as Fingerprint's own
        MCP server does); pydantic would otherwise take the alias."""
        if isinstance(data, dict):
            data = dict(data)
            for name in cls.model_fields:
                camel = to_camel(name)
                if camel != name and name in data and camel in data:
                    del data[camel]
        return data


class Environment(ApiModel):
    id: str
    name: str = ""
    description: str | None = None
    limit_mode: LimitMode | None = None
    limit_value: int | None = None
    is_restricted: bool | None = None
    restricted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ApiKey(ApiModel):
    id: str
    # Fingerprint's own CLI fixtures answer a create with {id, type, status, token} only.
    name: str = ""
    description: str | None = None
    type: KeyType | None = None
    status: Status | None = None
    environment: str | None = _environment()
    # Present for public keys in listings and for any key in its create response. A SECRET
    # key's token must never reach a log or a store.
    token: str | None = _secret()
    rate_limit: float | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None


class Webhook(ApiModel):
    id: str
    url: str = ""
    description: str | None = None
    status: Status | None = None
    verified: bool | None = None
    environment: str | None = _environment()
    legacy: bool | None = None
    created_at: datetime | None = None
    last_enabled_at: datetime | None = None
    last_disabled_at: datetime | None = None
    # Only in the create response; same secrecy rule as a secret key's token.
    signing_key: str | None = _secret()


class OriginRules(ApiModel):
    """Filtering rules of the ``2024-05-20`` API: an environment's origin allow/deny lists.

    An allow list comes with ``deny == ["*"]`` and a deny list with ``allow == ["*"]``; both
    empty means the environment filters nothing. Older examples name the lists
    ``allowed_origins`` / ``forbidden_origins``: both spellings are read.
    """

    type: str | None = None
    environment: str | None = _environment()
    allow: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("allow", "allowed_origins", "allowedOrigins"),
    )
    deny: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("deny", "forbidden_origins", "forbiddenOrigins"),
    )

    @field_validator("allow", "deny", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class FilteringRule(ApiModel):
    """An expression rule of the ``2025-11-20`` API.

    Rules are evaluated in their environment's list order, the first match decides and no
    match allows. The API returns no position: `ManagementClient.list_filtering_rules` fills
    ``position`` in from the order of an unfiltered listing (0 = evaluated first).
    """

    id: str
    name: str = ""
    environment: str | None = _environment()
    expression: str = ""
    action: RuleAction | None = None
    status: Status | None = None
    deny_with: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    position: int | None = None


class RuleTestResult(ApiModel):
    """What ``POST /filtering-rules/test`` decided: ``triggered_rule`` is the expression of
    the rule that matched, ``None`` when none did (and the request is allowed)."""

    result: RuleAction
    deny_with: str | None = None
    triggered_rule: str | None = None


class EncryptionKey(ApiModel):
    """A Sealed Results key (``2025-11-20``). Its tokens come back on every list and get,
    and are secrets all the same."""

    id: str
    name: str = ""
    description: str | None = None
    status: Status | None = None
    environment: str | None = _environment()
    token: str | None = _secret()
    previous_token: str | None = _secret()
    next_token: str | None = _secret()
    created_at: datetime | None = None
    last_activated_at: datetime | None = None
    last_rotated_at: datetime | None = None
    last_deactivated_at: datetime | None = None


class DnsRecord(ApiModel):
    type: str = ""
    host: str = ""
    value: str = ""
    status: DnsRecordStatus | None = None


class DnsRecords(ApiModel):
    """The records a custom subdomain needs; ``caa`` only for some domains."""

    verification: DnsRecord | None = None
    routing: list[DnsRecord] = Field(default_factory=list)
    caa: DnsRecord | None = None


class Subdomain(ApiModel):
    """A custom subdomain (``2025-11-20``). A listing item has no ``dns_records``; a get,
    create or verify answer has them. ``webhook_secret`` is in the create answer only."""

    id: str
    subdomain: str = ""
    status: SubdomainStatus | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    webhook_url: str | None = None
    dns_records: DnsRecords | None = None
    webhook_secret: str | None = _secret()


class Hello(ApiModel):
    """``GET /hello``: the body is undocumented, so everything is kept as it came."""

    model_config = ConfigDict(extra="allow", frozen=True)


# --------------------------------------------------------------------------- typed inputs


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a rule goes in its environment's evaluation order: exactly one of an index
    (0 = first), after a rule or before a rule. Without one, a new rule goes last."""

    position: int | None = None
    after: str | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.position, self.after, self.before) if v is not None]
        if len(given) != 1:
            raise ValueError("a placement is exactly one of position, after or before")
        if self.position is not None and self.position < 0:
            raise ValueError("position must be 0 or more")

    def to_json(self) -> dict[str, Any]:
        if self.position is not None:
            return {"position": self.position}
        return {"after": self.after} if self.after is not None else {"before": self.before}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One expression rule as sent to ``/filtering-rules/bulk`` or ``/filtering-rules/test``."""

    name: str
    expression: str
    action: RuleAction
    status: Status | None = None
    deny_with: str | None = None
    placement: Placement | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "expression": self.expression,
            "action": self.action.value,
        }
        if self.status is not None:
            body["status"] = self.status.value
        if self.deny_with is not None:
            body["deny_with"] = self.deny_with
        if self.placement is not None:
            body["placement"] = self.placement.to_json()
        return body

    def to_test_json(self) -> dict[str, Any]:
        """The part a rule test reads: a test evaluates the rules given in the order given."""
        body: dict[str, Any] = {"expression": self.expression, "action": self.action.value}
        if self.deny_with is not None:
            body["deny_with"] = self.deny_with
        return body


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """An identification request made up for ``/filtering-rules/test``; the API reads it in
    camelCase (``userAgent``, ``sdkPlatform``…), unlike the rest of the body."""

    ip: str | None = None
    user_agent: str | None = None
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sdk_platform: Literal["js", "android", "ios"] | None = None
    sdk_version: str | None = None
    app_package_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.headers:
            body["headers"] = {name: list(values) for name, values in self.headers.items()}
        for name in ("ip", "user_agent", "sdk_platform", "sdk_version", "app_package_name"):
            value = getattr(self, name)
            if value is not None:
                body[to_camel(name)] = value
        return body
