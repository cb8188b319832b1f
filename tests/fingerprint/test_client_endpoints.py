"""Every endpoint: the request that leaves (method, path, query, body, headers) and the typed
answer that comes back, in both casings the API uses."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bot.fingerprint import (
    ApiKey,
    Environment,
    FilteringRule,
    Hello,
    KeyType,
    OriginRules,
    Status,
    Webhook,
)
from tests.fingerprint.fp_helpers import API_KEY, Recorder, make_client, page, sample

ENV = {"id": "ae_1", "name": "Production", "created_at": "2024-01-01T00:00:00.000Z"}
KEY = {"id": "tok_1", "name": "web", "type": "public", "status": "enabled"}
HOOK = {"id": "wh_1", "url": "https://example.com/hook", "status": "enabled"}
RULE = {"id": "fr_1", "name": "block bots", "expression": "bot == true", "action": "block"}
ORIGINS = {"environment": "ae_1", "allowed_origins": ["https://a.com"], "forbidden_origins": []}


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
    if (
        path == "/filtering-rules"
        and method in ("POST", "PATCH")
        and "environment" in json.loads(request.content)
        and "expression" not in json.loads(request.content)
    ):
        return {"data": ORIGINS}
    if path == "/filtering-rules" and method == "GET":
        return {"data": [RULE]}
    if path == "/filtering-rules/bulk":
        return httpx.Response(201, json={"data": [RULE, {**RULE, "id": "fr_2"}]})
    if path == "/filtering-rules/test":
        return {"data": {"matched": True}}
    return {"data": RULE}


# (call, expected method, path, query, body, result check)
ENDPOINTS: list[tuple[str, Any, str, str, dict[str, str], Any, Any]] = [
    ("hello", lambda c: c.hello(), "GET", "/hello", {}, None, Hello),
    (
        "list envs",
        lambda c: c.list_environments(),
        "GET",
        "/environments",
        {"limit": "100"},
        None,
        list,
    ),
    (
        "create env",
        lambda c: c.create_environment("Staging", description="eu"),
        "POST",
        "/environments",
        {},
        {"name": "Staging", "description": "eu"},
        Environment,
    ),
    (
        "update env",
        lambda c: c.update_environment("ae_1", name="Prod"),
        "POST",
        "/environments/ae_1",
        {},
        {"name": "Prod"},
        Environment,
    ),
    (
        "delete env",
        lambda c: c.delete_environment("ae_1"),
        "DELETE",
        "/environments/ae_1",
        {},
        None,
        type(None),
    ),
    (
        "list keys",
        lambda c: c.list_api_keys(type=KeyType.SECRET, status=Status.ENABLED, environment="ae_1"),
        "GET",
        "/api-keys",
        {"type": "secret", "status": "enabled", "environment": "ae_1", "limit": "100"},
        None,
        list,
    ),
    ("get key", lambda c: c.get_api_key("tok_1"), "GET", "/api-keys/tok_1", {}, None, ApiKey),
    (
        "create key",
        lambda c: c.create_api_key(type=KeyType.PUBLIC, name="web", environment="ae_1"),
        "POST",
        "/api-keys",
        {},
        {"type": "public", "name": "web", "environment": "ae_1"},
        ApiKey,
    ),
    (
        "update key",
        lambda c: c.update_api_key("tok_1", status=Status.DISABLED, rate_limit=2.5),
        "PATCH",
        "/api-keys/tok_1",
        {},
        {"status": "disabled", "rate_limit": 2.5},
        ApiKey,
    ),
    (
        "delete key",
        lambda c: c.delete_api_key("tok_1"),
        "DELETE",
        "/api-keys/tok_1",
        {},
        None,
        type(None),
    ),
    (
        "list hooks",
        lambda c: c.list_webhooks(status=Status.DISABLED),
        "GET",
        "/webhooks",
        {"status": "disabled", "limit": "100"},
        None,
        list,
    ),
    ("get hook", lambda c: c.get_webhook("wh_1"), "GET", "/webhooks/wh_1", {}, None, Webhook),
    (
        "create hook",
        lambda c: c.create_webhook(url="https://example.com/hook"),
        "POST",
        "/webhooks",
        {},
        {"url": "https://example.com/hook"},
        Webhook,
    ),
    (
        "update hook",
        lambda c: c.update_webhook("wh_1", description="new"),
        "PATCH",
        "/webhooks/wh_1",
        {},
        {"description": "new"},
        Webhook,
    ),
    (
        "delete hook",
        lambda c: c.delete_webhook("wh_1"),
        "DELETE",
        "/webhooks/wh_1",
        {},
        None,
        type(None),
    ),
    (
        "verify hook",
        lambda c: c.verify_webhook("wh_1"),
        "POST",
        "/webhooks/wh_1/verification",
        {},
        None,
        type(None),
    ),
    (
        "replace origins",
        lambda c: c.replace_origin_rules(
            "ae_1", allowed_origins=["https://a.com"], forbidden_origins=[]
        ),
        "POST",
        "/filtering-rules",
        {},
        {"environment": "ae_1", "allowed_origins": ["https://a.com"], "forbidden_origins": []},
        OriginRules,
    ),
    (
        "patch origins",
        lambda c: c.patch_origin_rules(
            "ae_1", add_allowed=["https://b.com"], remove_forbidden=["https://c.com"]
        ),
        "PATCH",
        "/filtering-rules",
        {},
        {
            "environment": "ae_1",
            "add": {"allowed_origins": ["https://b.com"], "forbidden_origins": []},
            "remove": {"allowed_origins": [], "forbidden_origins": ["https://c.com"]},
        },
        OriginRules,
    ),
    ("list rules", lambda c: c.list_filtering_rules(), "GET", "/filtering-rules", {}, None, list),
    (
        "get rule",
        lambda c: c.get_filtering_rule("fr_1"),
        "GET",
        "/filtering-rules/fr_1",
        {},
        None,
        FilteringRule,
    ),
    (
        "create rule",
        lambda c: c.create_filtering_rule(name="r", expression="x", action="block"),
        "POST",
        "/filtering-rules",
        {},
        {"name": "r", "expression": "x", "action": "block"},
        FilteringRule,
    ),
    (
        "update rule",
        lambda c: c.update_filtering_rule("fr_1", name="renamed"),
        "POST",
        "/filtering-rules/fr_1",
        {},
        {"name": "renamed"},
        FilteringRule,
    ),
    (
        "delete rule",
        lambda c: c.delete_filtering_rule("fr_1"),
        "DELETE",
        "/filtering-rules/fr_1",
        {},
        None,
        type(None),
    ),
    (
        "bulk rules",
        lambda c: c.bulk_filtering_rules([{"name": "a"}, {"name": "b"}]),
        "POST",
        "/filtering-rules/bulk",
        {},
        {"rules": [{"name": "a"}, {"name": "b"}]},
        list,
    ),
    (
        "test rule",
        lambda c: c.test_filtering_rule({"expression": "x", "input": {}}),
        "POST",
        "/filtering-rules/test",
        {},
        {"expression": "x", "input": {}},
        dict,
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "result_type"),
    [e[1:] for e in ENDPOINTS],
    ids=[e[0] for e in ENDPOINTS],
)
async def test_each_endpoint_sends_the_documented_request_and_returns_a_model(
    call: Any, method: str, path: str, query: dict[str, str], body: Any, result_type: type
) -> None:
    recorder = Recorder(answer_for)
    async with make_client(recorder, api_version="2025-11-20") as client:
        result = await call(client)
    assert isinstance(result, result_type)
    [request] = recorder.requests
    assert (request.method, request.url.path) == (method, path)
    assert dict(request.url.params) == query
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["X-API-Version"] == "2025-11-20"
    assert re.fullmatch(r"fp-[0-9a-f]{12}", request.headers["X-Request-Id"])
    if body is None:
        assert request.content in (b"", b"null")
    else:
        assert json.loads(request.content) == body


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
