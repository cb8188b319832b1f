"""No secret — the Management API key, a created key's token, a webhook's signing key, an
encryption key's tokens, a subdomain's webhook secret — ever reaches a log line, a repr, a
dump, an exception's text or the listing cache, whatever happens."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from bot.domain.secrets import is_secret_field
from bot.fingerprint import FingerprintError, KeyType, ManagementClient
from bot.fingerprint import models as fingerprint_models
from bot.fingerprint.cache import MemoryCache
from bot.fingerprint.models import ApiModel
from bot.log import REDACTED, get_logger, scrub
from sandbox.fingerprint import FakeFingerprint, StandInServer
from tests.fingerprint.fp_helpers import API_KEY, Recorder, make_client


async def test_no_secret_reaches_the_logs_over_a_whole_session(log_stream: io.StringIO) -> None:
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=12, seed=3)
    async with StandInServer(fake) as api:
        client = ManagementClient(api_key=api.key, base_url=api.url, rate_limit=1000.0)
        async with client:
            key = await client.create_api_key(type=KeyType.SECRET, name="Backend secret")
            hook = await client.create_webhook(url="https://example.com/signed")
            await client.list_api_keys()
            fake.faults.revoked = True
            with pytest.raises(FingerprintError) as caught:
                await client.list_webhooks()
            # Even a careless caller logging everything leaks nothing.
            log = get_logger("careless")
            log.error("created", key=repr(key), hook=repr(hook), error=caught.value)
            log.error("dump %s %s", key.model_dump(), hook.model_dump())
            log.error("client %r", client)
    secrets = {api.key, key.token, hook.signing_key}
    assert None not in secrets
    output = log_stream.getvalue()
    assert "fingerprint.response" in output and "correlation_id" in output
    for secret in secrets:
        assert secret and secret not in output
    assert api.key not in repr(client) and api.key not in str(caught.value)


async def test_an_error_message_echoing_the_key_is_scrubbed(log_stream: io.StringIO) -> None:
    recorder = Recorder(
        lambda r: httpx.Response(
            401, json={"error": {"code": "general.unauthorized", "message": f"bad key {API_KEY}"}}
        )
    )
    async with make_client(recorder) as client:
        with pytest.raises(FingerprintError) as caught:
            await client.hello()
    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.message
    assert API_KEY not in log_stream.getvalue()


async def test_log_lines_carry_the_context_of_the_call(log_stream: io.StringIO) -> None:
    not_found = {"error": {"code": "general.not-found", "message": "no such webhook"}}
    recorder = Recorder(lambda r: httpx.Response(404, json=not_found))
    async with make_client(recorder) as client:
        with pytest.raises(FingerprintError) as caught:
            await client.get_webhook("wh_1")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    failed = next(line for line in lines if line["event"] == "fingerprint.failed")
    assert failed["correlation_id"] == caught.value.correlation_id
    assert failed["operation"] == "GET /webhooks/{id}"
    assert failed["status"] == 404 and failed["attempt"] == 1 and "elapsed_ms" in failed


async def test_public_tokens_stay_readable_while_secret_tokens_are_scrubbed() -> None:
    # A public key's token is in every page that uses it: scrubbing it would only hide what
    # an operator needs, and crowd the redactor's bounded registry.
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=3, seed=5)
    async with StandInServer(fake) as api:
        client = ManagementClient(api_key=api.key, base_url=api.url, rate_limit=1000.0)
        async with client:
            created = await client.create_api_key(type=KeyType.SECRET, name="Backend secret")
            public = [k for k in await client.list_api_keys() if k.type is KeyType.PUBLIC]
    assert public and all(k.token for k in public)
    assert created.token is not None
    assert scrub(f"token {created.token}") == f"token {REDACTED}"
    for key in public:
        assert key.token is not None and scrub(key.token) == key.token


def test_every_secret_field_of_every_model_is_left_out_of_repr_and_dumps() -> None:
    """The one list of secret names decides: a model field with such a name never shows."""
    models = [
        m
        for m in vars(fingerprint_models).values()
        if isinstance(m, type) and issubclass(m, ApiModel) and m is not ApiModel
    ]
    secret_fields = [
        (model, name, info)
        for model in models
        for name, info in model.model_fields.items()
        if is_secret_field(name)
    ]
    assert {(m.__name__, n) for m, n, _ in secret_fields} >= {
        ("ApiKey", "token"),
        ("Webhook", "signing_key"),
        ("EncryptionKey", "token"),
        ("EncryptionKey", "previous_token"),
        ("EncryptionKey", "next_token"),
        ("Subdomain", "webhook_secret"),
    }
    for model, name, info in secret_fields:
        assert info.repr is False and info.exclude is True, f"{model.__name__}.{name}"


async def test_encryption_key_tokens_never_reach_the_cache_and_are_registered_at_once() -> None:
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=3, seed=4)
    async with StandInServer(fake) as api:
        client = ManagementClient(
            api_key=api.key, base_url=api.url, api_version="2025-11-20", rate_limit=1000.0
        )
        async with client:
            fresh = await client.list_encryption_keys()
            cached = await client.list_encryption_keys()
            cache = client._cache
            assert isinstance(cache, MemoryCache) and len(cache) == 1
            stored = json.dumps([entry for _, entry in cache._entries.values()])
    tokens = [t for k in fresh for t in (k.token, k.previous_token, k.next_token) if t]
    assert len(tokens) >= 6
    assert not [t for t in tokens if t in stored]
    assert all(k.token is None and k.next_token is None for k in cached)
    assert [k.id for k in cached] == [k.id for k in fresh]
    assert all(scrub(f"key {t}") == f"key {REDACTED}" for t in tokens)
