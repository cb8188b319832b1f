"""Settings: defaults, the URL forms operators use, one clear line for a bad
value, secrets kept as SecretStr."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.__main__ import main
from bot.settings import Settings, SettingsError, load_settings
from bot.store.url import sqlalchemy_url

VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable of the developer's shell and no .env file leaks into a test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.fp_management_api_url == "https://management-api.fpjs.io"
    assert settings.fp_api_version == "2024-05-20"
    assert settings.fp_rate_limit == 5
    assert settings.fp_page_size == 100
    assert settings.fpbot_policy == "fpbot.yml"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.log_level == "INFO"
    assert not settings.has_credentials


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP_RATE_LIMIT", "20")
    monkeypatch.setenv("FP_API_VERSION", "2025-11-20")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.fp_rate_limit == 20
    assert settings.fp_api_version == "2025-11-20"
    assert settings.log_level == "DEBUG"


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FP_MANAGEMENT_API_KEY=from-dotenv-file\n")
    key = load_settings().fp_management_api_key
    assert key is not None and key.get_secret_value() == "from-dotenv-file"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/fp", "postgresql+asyncpg://u:p@db:5432/fp"),
        ("postgresql://u:p@db/fp", "postgresql+asyncpg://u:p@db/fp"),
        ("postgresql+psycopg://u@db/fp", "postgresql+asyncpg://u@db/fp"),
        ("sqlite:///var/fpbot.sqlite3", "sqlite+aiosqlite:///var/fpbot.sqlite3"),
        ("postgres://u:p@db/fp?sslmode=require", "postgresql+asyncpg://u:p@db/fp?ssl=require"),
    ],
    ids=["heroku postgres://", "postgresql://", "another driver", "sqlite", "heroku sslmode"],
)
def test_database_urls_map_to_fpbots_drivers(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected


def test_a_database_url_in_the_environment_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://user:pw@host/db")
    assert load_settings().sqlalchemy_url == "postgresql+asyncpg://user:pw@host/db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("FP_RATE_LIMIT", "-1"),
        ("FP_API_VERSION", "2023-01-01"),
        ("DATABASE_URL", "mysql://db/fp"),
        ("SLACK_API_URL", "not a url"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_a_malformed_value_stops_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{name} is invalid")
    assert "\n" not in message


def test_a_malformed_secret_is_named_but_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-not-a-bot-token")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("SLACK_BOT_TOKEN is invalid")
    assert "xoxp-user-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "password"),
    [
        ("DATABASE_URL", "mysql://fpbot:hunter2-db-pass@db/fp", "hunter2-db-pass"),
        ("DATABASE_URL", "fpbot:hunter2-db-pass@db://fp", "hunter2-db-pass"),
        ("DATABASE_URL", "fpbot:hunter2-db-pass@db/fp", "hunter2-db-pass"),
        ("SLACK_API_URL", "ftp://user:slack-proxy-pass@proxy/api", "slack-proxy-pass"),
    ],
    ids=["unsupported scheme", "garbage before ://", "no scheme", "a URL that is not http"],
)
def test_a_rejected_url_is_named_but_its_password_is_not_printed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    password: str,
) -> None:
    monkeypatch.setenv(name, value)

    assert main(["check"]) == 2

    printed = capsys.readouterr()
    assert printed.err.startswith(f"fpbot: {name} is invalid")
    assert password not in printed.err + printed.out


def test_a_rejected_plain_value_is_still_echoed_to_help_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FP_RATE_LIMIT", "fast")
    with pytest.raises(SettingsError, match=r"FP_RATE_LIMIT is invalid: .* \(got 'fast'\)"):
        load_settings()


@pytest.mark.parametrize(
    "value",
    ["localhost:6379", "127.0.0.1", "http://:redis-pass@cache:6379/0", "redis//cache:6379"],
)
def test_a_malformed_redis_url_stops_serve_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("REDIS_URL", value)

    assert main(["serve"]) == 2

    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        "fpbot: REDIS_URL is invalid: must be a URL starting with redis://, rediss:// or unix://"
    ]
    assert printed.out == ""


@pytest.mark.parametrize(
    "value",
    ["redis://localhost:6379/0", "rediss://:pw@cache.example:6380", "unix:///run/redis.sock"],
)
def test_the_redis_url_forms_redis_accepts_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REDIS_URL", value)
    redis_url = load_settings().redis_url
    assert redis_url is not None and redis_url.get_secret_value() == value


def test_an_empty_redis_url_means_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    assert load_settings().redis_url is None


def test_the_database_password_is_never_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://fpbot:hunter2-db-pass@db:5432/fp")
    settings = load_settings()

    assert "hunter2-db-pass" not in repr(settings) and "hunter2-db-pass" not in str(settings)
    assert settings.sqlalchemy_url == "postgresql+asyncpg://fpbot:hunter2-db-pass@db:5432/fp"


def test_secrets_are_secretstr_and_never_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-1-secret-bot",
        "SLACK_SIGNING_SECRET": "signing-secret-value",
        "SLACK_APP_TOKEN": "xapp-1-secret-app",
        "FP_MANAGEMENT_API_KEY": "management-key-value",
        "REDIS_URL": "redis://:redis-password@localhost:6379/0",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    for name, value in values.items():
        field = getattr(settings, name.lower())
        assert isinstance(field, SecretStr)
        assert field.get_secret_value() == value
        assert value not in repr(settings) and value not in str(settings)


def test_serving_names_the_first_missing_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-secret-bot")
    monkeypatch.setenv("FP_MANAGEMENT_API_KEY", "management-key-value")
    settings = load_settings()
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        settings.require_for_serving(socket=False)
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        settings.require_for_serving(socket=True)
