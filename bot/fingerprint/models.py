"""Typed resources of the Management API.

Responses are read leniently (management-api.md, "Real samples"): camelCase and snake_case
alike, missing optional fields, ids without the usual prefix, ``limit_value: 0``, timestamps
with or without milliseconds. Only ``id`` is required: a change that succeeded upstream must
not fail because its answer left out a name. What users *type* is validated elsewhere
(``bot.commands``); what the API *returns* is accepted as long as it is recognisable.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
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
    environment: str | None = Field(
        default=None,
        validation_alias=AliasChoices("environment", "environmentId", "environment_id"),
    )
    # Present for public keys in listings and for any key in its create response. A SECRET
    # key's token is excluded from repr and from dumps: it must never reach a log or a store.
    token: str | None = Field(default=None, repr=False, exclude=True)
    rate_limit: float | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None


class Webhook(ApiModel):
    id: str
    url: str = ""
    description: str | None = None
    status: Status | None = None
    verified: bool | None = None
    environment: str | None = Field(
        default=None,
        validation_alias=AliasChoices("environment", "environmentId", "environment_id"),
    )
    created_at: datetime | None = None
    # Only in the create response; same secrecy rule as a secret key's token.
    signing_key: str | None = Field(default=None, repr=False, exclude=True)


class OriginRules(ApiModel):
    """Filtering rules of the ``2024-05-20`` API: an environment's origin allow/deny lists."""

    environment: str | None = Field(
        default=None,
        validation_alias=AliasChoices("environment", "environmentId", "environment_id"),
    )
    allowed_origins: list[str] = Field(default_factory=list)
    forbidden_origins: list[str] = Field(default_factory=list)


class FilteringRule(ApiModel):
    """An expression rule of the ``2025-11-20`` API."""

    id: str
    name: str | None = None
    expression: str | None = None
    action: str | None = None
    environment: str | None = Field(
        default=None,
        validation_alias=AliasChoices("environment", "environmentId", "environment_id"),
    )
    status: Status | None = None
    created_at: datetime | None = None


class Hello(ApiModel):
    """``GET /hello``: the body is undocumented, so everything is kept as it came."""

    model_config = ConfigDict(extra="allow", frozen=True)
