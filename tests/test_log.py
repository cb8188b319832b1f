"""The redacting log pipeline: secrets are scrubbed from every line, whether they come from
fpbot's own events, exception text or third-party stdlib loggers."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

import bot.log
from bot.log import REDACTED, configure_logging, get_logger, register_secret, scrub


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", buffer)
    yield buffer
    configure_logging("WARNING", "json", io.StringIO())


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcDEF123.456-xyz", "abcDEF123.456-xyz"),
        ("auth basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("token xoxb-123-456-abcdefABCDEF in text", "xoxb-123-456-abcdefABCDEF"),
        ("user token xoxp-1-2-3-zzz", "xoxp-1-2-3-zzz"),
        ("app token xapp-1-A01-123-abcdef", "xapp-1-A01-123-abcdef"),
        ("posting to https://hooks.slack.com/commands/T1/123/abc", "/commands/T1/123/abc"),
        ("response_url=https%3A%2F%2Fhooks.slack.com%2Fx&x=1", "https%3A%2F%2Fhooks"),
        ('{"response_url": "https://example.com/x"}', "https://example.com/x"),
        ("postgresql://fpbot:hunter2secret@db/fp", "hunter2secret"),
    ],
    ids=[
        "bearer",
        "basic",
        "bot token",
        "user token",
        "app token",
        "response_url bare",
        "response_url form",
        "response_url json",
        "url password",
    ],
)
def test_known_shapes_of_secrets_are_scrubbed(text: str, secret: str) -> None:
    scrubbed = scrub(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_a_registered_secret_is_scrubbed_wherever_it_appears() -> None:
    register_secret("mgmt-key-without-any-shape-42")
    assert scrub("key=mgmt-key-without-any-shape-42!") == f"key={REDACTED}!"


def test_short_values_are_not_registered_so_ordinary_words_survive() -> None:
    register_secret("abc")
    assert scrub("abc def") == "abc def"


def test_secret_keys_are_redacted_whatever_they_hold(stream: io.StringIO) -> None:
    get_logger("t").info("event", token="plain", authorization="x", signing_key="k", name="ok")
    [line] = lines(stream)
    assert line["token"] == line["authorization"] == line["signing_key"] == REDACTED
    assert line["name"] == "ok"


def test_registered_secrets_inside_exception_text_are_scrubbed(stream: io.StringIO) -> None:
    register_secret("sk_live_registered_value_99")
    try:
        raise RuntimeError("upstream rejected sk_live_registered_value_99")
    except RuntimeError:
        get_logger("t").exception("call failed")
    get_logger("t").error("failure", error=RuntimeError("echo sk_live_registered_value_99"))
    output = stream.getvalue()
    assert "sk_live_registered_value_99" not in output
    assert "call failed" in output and "RuntimeError" in output


def test_stdlib_loggers_of_libraries_are_scrubbed_too(stream: io.StringIO) -> None:
    register_secret("stdlib-registered-secret-7")
    logging.getLogger("slack_bolt.App").warning(
        "bad signature for body token=xoxb-9-9-leak response_url=https://hooks.slack.com/a/b"
    )
    logging.getLogger("some.lib").error("saw %s", "stdlib-registered-secret-7")
    output = stream.getvalue()
    for secret in ("xoxb-9-9-leak", "hooks.slack.com/a/b", "stdlib-registered-secret-7"):
        assert secret not in output
    assert {line["logger"] for line in lines(stream)} == {"slack_bolt.App", "some.lib"}


def test_nested_values_are_scrubbed(stream: io.StringIO) -> None:
    get_logger("t").info(
        "nested", payload={"inner": ["Bearer abcdefgh1234"], "response_url": "https://x.y/z"}
    )
    output = stream.getvalue()
    assert "abcdefgh1234" not in output and "https://x.y/z" not in output


def test_bound_context_appears_on_every_line(stream: io.StringIO) -> None:
    log = get_logger("t", request_id="fp-0123456789ab", user="U1")
    log.info("one")
    log.info("two")
    assert all(line["request_id"] == "fp-0123456789ab" for line in lines(stream))


def test_a_socket_mode_ticket_is_scrubbed(stream: io.StringIO) -> None:
    # slack_sdk logs apps.connections.open's answer at DEBUG; its URL connects as the app.
    url = "wss://wss-primary.slack.com/link/?ticket=5d9f2c1a-live-ticket&app_id=A0FPBOT"
    logging.getLogger("slack_sdk.socket_mode").error("connecting to %s", url)
    output = stream.getvalue()
    assert "5d9f2c1a-live-ticket" not in output
    assert "app_id=A0FPBOT" in output


# ── a long-running process: many registered values ───────────────────────────────────────


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> bot.log._KnownSecrets:
    """A registry of its own, remembering at most 200 values, so other tests are untouched."""
    registry = bot.log._KnownSecrets(200)
    monkeypatch.setattr(bot.log, "_known_secrets", registry)
    return registry


def test_the_registry_is_bounded_and_never_forgets_the_configured_credentials(
    known: bot.log._KnownSecrets,
) -> None:
    register_secret("configured-management-key", permanent=True)
    tokens = [f"tok-{i:05d}-listed" for i in range(1000)]
    for token in tokens:
        register_secret(token)
        register_secret(token)  # seen again in the next listing: not a second entry

    assert len(known) == 200 + 1
    assert scrub(f"key configured-management-key, newest {tokens[-1]}") == (
        f"key {REDACTED}, newest {REDACTED}"
    )
    assert scrub(f"oldest {tokens[0]}") == f"oldest {tokens[0]}", "forgotten, memory is bounded"


def test_a_value_seen_again_is_remembered_longer(known: bot.log._KnownSecrets) -> None:
    register_secret("created-secret-token")
    for i in range(199):
        register_secret(f"public-token-{i:04d}")
    register_secret("created-secret-token")  # seen again: now the most recent
    register_secret("public-token-x-9999")

    assert scrub("created-secret-token") == REDACTED
    assert scrub("public-token-0000") == "public-token-0000"


@pytest.mark.parametrize("count", [3, 150], ids=["few registered", "many registered"])
def test_a_secret_containing_another_is_replaced_whole_whatever_the_order(
    known: bot.log._KnownSecrets, count: int
) -> None:
    for i in range(count):
        register_secret(f"unrelated-value-{i:04d}")
    register_secret("sk_live_12")
    register_secret("sk_live_1234567890")
    register_secret("xyz-sk_live_1234567890-suffix")

    assert scrub("a sk_live_1234567890 b sk_live_12 c") == f"a {REDACTED} b {REDACTED} c"
    assert scrub("[xyz-sk_live_1234567890-suffix]") == f"[{REDACTED}]"
    assert scrub("no secret here at all") == "no secret here at all"


def test_scrubbing_stays_fast_with_the_registry_full(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each log line scrubs several strings; with ten thousand registered values searching for
    # each one would cost milliseconds per string.
    registry = bot.log._KnownSecrets(bot.log.MAX_KNOWN_SECRETS)
    monkeypatch.setattr(bot.log, "_known_secrets", registry)
    values = [f"v{i:06d}-{'x' * 20}" for i in range(bot.log.MAX_KNOWN_SECRETS + 50)]
    for value in values:
        register_secret(value)
    line = "GET /api-keys?limit=100 took 12ms user=U0VIEWER request_id=fpb-1234567890ab " * 25

    started = time.perf_counter()
    for _ in range(200):
        scrub(line)
    elapsed = time.perf_counter() - started

    assert len(registry) == bot.log.MAX_KNOWN_SECRETS
    assert scrub(f"<{values[-1]}>") == f"<{REDACTED}>"
    assert elapsed < 0.4, f"{elapsed / 200 * 1e6:.0f} µs per 2 KB string"
