"""Every endpoint: the request that leaves (method, path, query, body, headers) and the typed
answer that comes back, in both casings the API uses; a call of the other API version is
refused before anything is sent."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bot.fingerprint import (
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
    WrongApiVersion,
)
from tests.fingerprint.fp_helpers import API_KEY, Recorder, make_client, page, sample

ENV = {"id": "ae_1", "name": "Production", "created_at": "2024-01-01T00:00:00.000Z"}
KEY = {"id": "tok_1", "name": "web", "type": "public", "status": "enabled"}
HOOK = {"id": "wh_1", "url": "https://example.com/hook", "status": "enabled"}
RULE = {"id": "tr_1", "name": "block bots", "expression": "true", "action": "deny"}
ORIGINS = {"type": "origin", "environment": "ae_1", "allow": ["a.com"], "deny": ["*"]}
ENC = {"id": "tok_enc", "name": "Sealed", "status": "enabled", "token": "enc_token_current"}
SUB = {"id": "certv2_1", "subdomain": "fp.example.com", "status": "pending"}
V2024, V2025 = "2024-05-20", "2025-11-20"


def answer_for(request: httpx.Request) -> Any:
    """A plausible answer for each route: a list page, one object, or nothing."""
    path, method = request.url.path, request.method
    if method == "DELETE":
        return httpx.Response(204)
    if path.endswith("/verification"):
        return httpx.Response(202)
    if path == "/hello":
        return {"data": {"message": "hello"}}
    if path == "/environments" and method == "GET":
        return page([ENV])
    if path.startswith("/environments"):
        return {"data": ENV}
    if path == "/api-keys" and method == "GET":
        return page([KEY])
    if path.startswith("/api-keys"):
        return {"data": KEY}
    if path == "/webhooks" and method == "GET":
        return page([HOOK])
    if path.startswith("/webhooks"):
        return {"data": HOOK}
    if path == "/encryption-keys":
        return page([ENC])
    if path.startswith("/encryption-keys"):
        return {"data": ENC}
    if path == "/subdomains" and method == "GET":
        return page([SUB])
    if path.startswith("/subdomains"):
        return httpx.Response(201 if method == "POST" else 200, json={"data": SUB})
    if request.headers["X-API-Version"] == V2024:
        return {"data": [ORIGINS]}
    if path == "/filtering-rules" and method == "GET":
        return {"data": [RULE]}
    if path == "/filtering-rules/bulk":
        return httpx.Response(201, json={"data": [RULE, {**RULE, "id": "tr_2"}]})
    if path == "/filtering-rules/test":
        return {"data": {"result": "deny", "deny_with": "Forbidden", "triggered_rule": "true"}}
    return {"data": RULE}


SPEC = RuleSpec(name="Deny all", expression="true", action=RuleAction.DENY)

# (id, call, version, expected method, path, query, body, result type)
ENDPOINTS: list[tuple[str, Any, str, str, str, dict[str, str], Any, Any]] = [
    ("hello", lambda c: c.hello(), V2024, "GET", "/hello", {}, None, Hello),
    (
        "list envs",
        lambda c: c.list_environments(),
        V2024,
        "GET",
        "/environments",
        {"limit": "100"},
        None,
        list,
    ),
    (
        "create env",
        lambda c: c.create_environment(
            "Staging", description="eu", limit_mode=LimitMode.NOTIFY, limit_value=1000
        ),
        V2025,
        "POST",
        "/environments",
        {},
        {"name": "Staging", "description": "eu", "limit_mode": "notify", "limit_value": 1000},
        Environment,
    ),
    (
        "update env",
        lambda c: c.update_environment("ae_1", name="Prod", limit_mode=LimitMode.NONE),
        V2024,
        "POST",
        "/environments/ae_1",
        {},
        {"name": "Prod", "limit_mode": "none"},
        Environment,
    ),
    (
        "delete env",
        lambda c: c.delete_environment("ae_1"),
        V2025,
        "DELETE",
        "/environments/ae_1",
        {},
        None,
        type(None),
    ),
    (
        "list keys",
        lambda c: c.list_api_keys(type=KeyType.SECRET, status=Status.ENABLED, environment="ae_1"),
        V2024,
        "GET",
        "/api-keys",
        {"type": "secret", "status": "enabled", "environment": "ae_1", "limit": "100"},
        None,
        list,
    ),
    (
        "get key",
        lambda c: c.get_api_key("tok_1"),
        V2025,
        "GET",
        "/api-keys/tok_1",
        {},
        None,
        ApiKey,
    ),
    (
        "create key",
        lambda c: c.create_api_key(type=KeyType.PUBLIC, name="web", environment="ae_1"),
        V2024,
        "POST",
        "/api-keys",
        {},
        {"type": "public", "name": "web", "environment": "ae_1"},
        ApiKey,
    ),
    (
        "update key",
        lambda c: c.update_api_key(
            "tok_1", status=Status.DISABLED, rate_limit=2.5, description="slow"
        ),
        V2025,
        "PATCH",
        "/api-keys/tok_1",
        {},
        {"status": "disabled", "rate_limit": 2.5, "description": "slow"},
        ApiKey,
    ),
    (
        "delete key",
        lambda c: c.delete_api_key("tok_1"),
        V2024,
        "DELETE",
        "/api-keys/tok_1",
        {},
        None,
        type(None),
    ),
    (
        "list hooks",
        lambda c: c.list_webhooks(status=Status.DISABLED),
        V2025,
        "GET",
        "/webhooks",
        {"status": "disabled", "limit": "100"},
        None,
        list,
    ),
    (
        "get hook",
        lambda c: c.get_webhook("wh_1"),
        V2024,
        "GET",
        "/webhooks/wh_1",
        {},
        None,
        Webhook,
    ),
    (
        "create hook",
        lambda c: c.create_webhook(url="https://example.com/hook", status=Status.DISABLED),
        V2025,
        "POST",
        "/webhooks",
        {},
        {"url": "https://example.com/hook", "status": "disabled"},
        Webhook,
    ),
    (
        "update hook",
        lambda c: c.update_webhook("wh_1", description="new", environment="ae_2"),
        V2024,
        "PATCH",
        "/webhooks/wh_1",
        {},
        {"description": "new", "environment": "ae_2"},
        Webhook,
    ),
    (
        "delete hook",
        lambda c: c.delete_webhook("wh_1"),
        V2025,
        "DELETE",
        "/webhooks/wh_1",
        {},
        None,
        type(None),
    ),
    (
        "verify hook",
        lambda c: c.verify_webhook("wh_1"),
        V2024,
        "POST",
        "/webhooks/wh_1/verification",
        {},
        None,
        type(None),
    ),
    (
        "read origins",
        lambda c: c.origin_rules("ae_1"),
        V2024,
        "GET",
        "/filtering-rules",
        {"environment": "ae_1"},
        None,
        OriginRules,
    ),
    (
        "replace origins",
        lambda c: c.replace_origin_rules("ae_1", allow=["a.com"], deny=["*"]),
        V2024,
        "POST",
        "/filtering-rules",
        {},
        {"environment": "ae_1", "allow": ["a.com"], "deny": ["*"]},
        OriginRules,
    ),
    (
        "patch origins",
        lambda c: c.patch_origin_rules("ae_1", permission="allow", op="add", items=["b.com"]),
        V2024,
        "PATCH",
        "/filtering-rules",
        {},
        {"environment": "ae_1", "permission": "allow", "op": "add", "items": ["b.com"]},
        OriginRules,
    ),
    (
        "list rules",
        lambda c: c.list_filtering_rules(environment="ae_1", status=Status.ENABLED, name="bot"),
        V2025,
        "GET",
        "/filtering-rules",
        {"environment": "ae_1", "status": "enabled", "name": "bot"},
        None,
        list,
    ),
    (
        "get rule",
        lambda c: c.get_filtering_rule("tr_1"),
        V2025,
        "GET",
        "/filtering-rules/tr_1",
        {},
        None,
        FilteringRule,
    ),
    (
        "create rule",
        lambda c: c.create_filtering_rule(
            name="r",
            environment="ae_1",
            expression="true",
            action=RuleAction.DENY,
            deny_with="Forbidden",
            placement=Placement(position=0),
        ),
        V2025,
        "POST",
        "/filtering-rules",
        {},
        {
            "name": "r",
            "environment": "ae_1",
            "expression": "true",
            "action": "deny",
            "deny_with": "Forbidden",
            "placement": {"position": 0},
        },
        FilteringRule,
    ),
    (
        "update rule",
        lambda c: c.update_filtering_rule(
            "tr_1", name="renamed", placement=Placement(after="tr_0")
        ),
        V2025,
        "POST",
        "/filtering-rules/tr_1",
        {},
        {"id": "tr_1", "name": "renamed", "placement": {"after": "tr_0"}},
        FilteringRule,
    ),
    (
        "delete rule",
        lambda c: c.delete_filtering_rule("tr_1"),
        V2025,
        "DELETE",
        "/filtering-rules/tr_1",
        {},
        None,
        type(None),
    ),
    (
        "bulk rules",
        lambda c: c.bulk_filtering_rules("ae_1", [SPEC], mode="overwrite"),
        V2025,
        "POST",
        "/filtering-rules/bulk",
        {},
        {
            "environment": "ae_1",
            "rules": [{"name": "Deny all", "expression": "true", "action": "deny"}],
            "mode": "overwrite",
        },
        list,
    ),
    (
        "test rules",
        lambda c: c.test_filtering_rules(
            rules=[SPEC],
            request=SampleRequest(ip="192.0.2.1", user_agent="curl/8", sdk_platform="js"),
        ),
        V2025,
        "POST",
        "/filtering-rules/test",
        {},
        {
            "rules": [{"expression": "true", "action": "deny"}],
            "test_request_payload": {
                "ip": "192.0.2.1",
                "userAgent": "curl/8",
                "sdkPlatform": "js",
            },
        },
        RuleTestResult,
    ),
    (
        "list encryption keys",
        lambda c: c.list_encryption_keys(status=Status.ENABLED, environment="ae_1"),
        V2025,
        "GET",
        "/encryption-keys",
        {"status": "enabled", "environment": "ae_1", "limit": "100"},
        None,
        list,
    ),
    (
        "get encryption key",
        lambda c: c.get_encryption_key("tok_enc"),
        V2025,
        "GET",
        "/encryption-keys/tok_enc",
        {},
        None,
        EncryptionKey,
    ),
    (
        "update encryption key",
        lambda c: c.update_encryption_key("tok_enc", status=Status.DISABLED, name="Old"),
        V2025,
        "PATCH",
        "/encryption-keys/tok_enc",
        {},
        {"status": "disabled", "name": "Old"},
        EncryptionKey,
    ),
    (
        "rotate encryption key",
        lambda c: c.rotate_encryption_key("tok_enc"),
        V2025,
        "POST",
        "/encryption-keys/tok_enc/rotate",
        {},
        None,
        EncryptionKey,
    ),
    (
        "revert encryption key",
        lambda c: c.revert_encryption_key("tok_enc"),
        V2025,
        "POST",
        "/encryption-keys/tok_enc/revert",
        {},
        None,
        EncryptionKey,
    ),
    (
        "list subdomains",
        lambda c: c.list_subdomains(),
        V2025,
        "GET",
        "/subdomains",
        {"limit": "100"},
        None,
        list,
    ),
    (
        "get subdomain",
        lambda c: c.get_subdomain("certv2_1"),
        V2025,
        "GET",
        "/subdomains/certv2_1",
        {},
        None,
        Subdomain,
    ),
    (
        "create subdomain",
        lambda c: c.create_subdomain("fp.example.com"),
        V2025,
        "POST",
        "/subdomains",
        {},
        {"subdomain": "fp.example.com"},
        Subdomain,
    ),
    (
        "verify subdomain",
        lambda c: c.verify_subdomain("certv2_1"),
        V2025,
        "POST",
        "/subdomains/certv2_1/verify",
        {},
        None,
        Subdomain,
    ),
    (
        "delete subdomain",
        lambda c: c.delete_subdomain("certv2_1"),
        V2025,
        "DELETE",
        "/subdomains/certv2_1",
        {},
        None,
        type(None),
    ),
]


@pytest.mark.parametrize(
    ("call", "version", "method", "path", "query", "body", "result_type"),
    [e[1:] for e in ENDPOINTS],
    ids=[e[0] for e in ENDPOINTS],
)
async def test_each_endpoint_sends_the_documented_request_and_returns_a_model(
    call: Any,
    version: str,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    result_type: type,
) -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder, api_version=version) as client:
        result = await call(client)
    assert isinstance(result, result_type)
    [request] = recorder.requests
    assert (request.method, request.url.path) == (method, path)
    assert dict(request.url.params) == query
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["X-API-Version"] == version
    assert re.fullmatch(r"fp-[0-9a-f]{12}", request.headers["X-Request-Id"])
    if body is None:
        assert request.content in (b"", b"null")
    else:
        assert json.loads(request.content) == body


ONE_VERSION_ONLY = [
    (e[0], e[1], V2024 if e[2] == V2025 else V2025)
    for e in ENDPOINTS
    if "origins" in e[0] or any(w in e[0] for w in ("rule", "encryption", "subdomain"))
]


@pytest.mark.parametrize(
    ("call", "version"), [e[1:] for e in ONE_VERSION_ONLY], ids=[e[0] for e in ONE_VERSION_ONLY]
)
async def test_a_call_of_the_other_version_is_refused_unsent(call: Any, version: str) -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder, api_version=version) as client:
        with pytest.raises(WrongApiVersion) as caught:
            await call(client)
    assert recorder.requests == []
    assert version in caught.value.message and caught.value.operation


def test_an_unknown_api_version_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="2024-05-20, 2025-11-20"):
        make_client(Recorder(answer_for), api_version="2023-01-01")


async def test_each_call_has_its_own_correlation_id() -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder, cache_ttl=0) as client:
        await client.hello()
        await client.hello()
    ids = {r.headers["X-Request-Id"] for r in recorder.requests}
    assert len(ids) == 2


async def test_ids_are_escaped_into_the_path_so_they_cannot_change_the_route() -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder) as client:
        await client.get_api_key("../environments?x=1")
    assert recorder.requests[0].url.raw_path == b"/api-keys/..%2Fenvironments%3Fx%3D1"


async def test_the_default_version_is_2024_05_20() -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder) as client:
        await client.hello()
    assert recorder.requests[0].headers["X-API-Version"] == "2024-05-20"


async def test_real_2025_samples_are_read_as_they_are() -> None:
    answers = {
        "/environments": sample("environments-list-2025.json"),
        "/api-keys": sample("api-keys-list-2025.json"),
    }
    recorder = Recorder(lambda r: answers[r.url.path])
    async with make_client(recorder, api_version="2025-11-20") as client:
        [env] = await client.list_environments()
        [key] = await client.list_api_keys()
    assert env.id == "env-1" and env.limit_value == 0 and env.updated_at is None
    assert key.id == "key-1" and key.rate_limit == 10 and key.environment is None


async def test_a_key_reads_the_same_in_snake_case_and_camel_case() -> None:
    # The same key came back snake_case from the list and camelCase from GET /api-keys/{id}.
    snake, camel = sample("api-key-item-list-snake.json"), sample("api-key-item-get-camel.json")
    recorder = Recorder(lambda r: page([snake]) if r.url.path == "/api-keys" else camel)
    async with make_client(recorder) as client:
        [listed] = await client.list_api_keys()
        got = await client.get_api_key("tok_0cj")
    assert listed == got
    assert got.rate_limit == 5 and got.created_at is not None and got.disabled_at is None


async def test_a_create_answered_with_200_and_an_empty_description_is_accepted() -> None:
    recorder = Recorder(lambda r: sample("api-key-create-secret-2025.json"))
    async with make_client(recorder) as client:
        key = await client.create_api_key(type=KeyType.SECRET, name="New Key")
    assert key.token == "sec_xxx_visible_at_creation"
    assert key.description == ""


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_writes_accept_200_201_and_204(status: int) -> None:
    recorder = Recorder(
        lambda r: httpx.Response(status) if status == 204 else httpx.Response(status, json={})
    )
    async with make_client(recorder) as client:
        assert await client.delete_environment("ae_1") is None


async def test_hello_keeps_an_undocumented_body_as_it_came() -> None:
    recorder = Recorder(lambda r: {"data": {"message": "Hello!", "workspace": "w1"}})
    async with make_client(recorder) as client:
        hello = await client.hello()
    assert hello.model_extra == {"message": "Hello!", "workspace": "w1"}
