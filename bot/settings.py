"""Every setting fpbot reads, in one place.

Nothing else in the code reads ``os.environ``: a setting that is missing or malformed stops
start-up here with one line naming the variable, instead of a traceback later.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.store.url import sqlalchemy_url

DEFAULT_DATABASE_URL = "sqlite:///fpbot.sqlite3"


class SettingsError(Exception):
    """A setting is missing or malformed; ``str()`` is the one line to show the operator."""


class Settings(BaseSettings):
    """fpbot's configuration, read from the environment and a ``.env`` file."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    fp_management_api_key: SecretStr | None = None
    fp_management_api_url: str = "https://management-api.fpjs.io"
    fp_api_version: Literal["2024-05-20", "2025-11-20"] = "2024-05-20"
    fp_rate_limit: float = Field(default=5.0, gt=0)
    # Not in the interface table, but operators of large accounts want to tune them.
    fp_page_size: int = Field(default=100, ge=1, le=100)
    fp_cache_ttl: float = Field(default=5.0, ge=0)
    fp_timeout: float = Field(default=10.0, gt=0)
    fp_retry_budget: float = Field(default=10.0, ge=0)

    fpbot_policy: str = "fpbot.yml"
    # A plain str (the store and the migrations read it as a URL), but it may carry a password,
    # so it is kept out of ``repr()``/``str()`` like the SecretStr fields.
    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: SecretStr | None = None

    # ``GET /metrics`` asks for ``Authorization: Bearer <this>`` when set; open when unset.
    metrics_token: SecretStr | None = None

    host: str = "0.0.0.0"  # noqa: S104 — a server in a container listens on every interface
    port: int = Field(default=3000, ge=0, le=65535)  # 0: any free port (tests)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        if isinstance(value, str):
            return value.lower() or None
        return value

    @field_validator("slack_api_url", "fp_management_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        sqlalchemy_url(value)
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_url_is_unset(cls, value: object) -> object:
        # ``REDIS_URL=`` (an empty line in a .env file) meant "no Redis" before it was checked.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        # redis-py accepts only these; anything else would fail later, in Services.start, with a
        # traceback. The value may carry a password, so the message does not repeat it.
        if value is not None and not re.match(
            r"^(redis|rediss|unix)://\S+$", value.get_secret_value(), re.IGNORECASE
        ):
            raise ValueError("must be a URL starting with redis://, rediss:// or unix://")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The store's URL with the async driver fpbot uses."""
        return sqlalchemy_url(self.database_url)

    @property
    def has_credentials(self) -> bool:
        """Whether any real Slack or Fingerprint credential is configured."""
        return any(
            s is not None
            for s in (self.slack_bot_token, self.slack_app_token, self.fp_management_api_key)
        )

    def require_for_serving(self, *, socket: bool) -> None:
        """Raise `SettingsError` naming the first variable serving needs but lacks."""
        needed = ["SLACK_BOT_TOKEN", "FP_MANAGEMENT_API_KEY"]
        needed.append("SLACK_APP_TOKEN" if socket else "SLACK_SIGNING_SECRET")
        for name in needed:
            if getattr(self, name.lower()) is None:
                mode = "Socket Mode" if socket else "HTTP mode"
                raise SettingsError(f"{name} is required to serve in {mode} but is not set")


# Values safe to echo back in an error; every other one may hold a secret (tokens, URLs with
# passwords: DATABASE_URL, REDIS_URL), so only these are ever shown.
_SHOWABLE = frozenset(
    {
        "FP_API_VERSION",
        "FP_RATE_LIMIT",
        "FP_PAGE_SIZE",
        "FP_CACHE_TTL",
        "FP_TIMEOUT",
        "FP_RETRY_BUDGET",
        "PORT",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "HOST",
    }
)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        given = error.get("input")
        shown = f" (got {given!r})" if name in _SHOWABLE else ""
        raise SettingsError(f"{name} is invalid: {message}{shown}") from None
