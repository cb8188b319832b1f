"""The stand-in Management API behaves as management-api.md describes the real one.

Everything goes over real HTTP on loopback (httpx against `StandInServer`), so what is
checked here is what fpbot's client will see: status codes, error codes, envelope, casing,
cursors, headers and the counters tests and benchmarks rely on.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.fingerprint.models import (
    ApiKey,
    Environment,
    FilteringRule,
    Hello,
    OriginRules,
    Webhook,
)
from sandbox.fingerprint import FakeFingerprint, StandInServer

V2024 = "2024-05-20"
V2025 = "2025-11-20"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SAMPLE_DIRS = (
    Path(__file__).resolve().parents[1] / "fingerprint" / "samples",
    Path("/work/shared/ref/samples/fingerprint"),
)


def headers(key: str, version: str | None = V2024) -> dict[str, str]:
    result = {"Authorization": f"Bearer {key}"}
    if version is not None:
        result["X-API-Version"] = version
    return result


@pytest.fixture
async def server() -> AsyncIterator[StandInServer]:
    """120 environments and a limiter loose enough to stay out of the way."""
    fake = FakeFingerprint(environments=120, rate_limit=1000, burst=1000)
    async with StandInServer(fake) as running:
        yield running


@pytest.fixture
async def client(server: StandInServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers(server.key), timeout=5
    ) as http:
        yield http


@pytest.fixture
async def limited() -> AsyncIterator[StandInServer]:
    """The documented default limiter: 5 requests/second, burst 5."""
    async with StandInServer(FakeFingerprint(api_keys=("key_a", "key_b"))) as running:
        yield running


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def violated(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "validation.failed"
    return {v["property"] for v in body["violations"]}


async def first_id(client: httpx.AsyncClient, path: str, **params: str) -> str:
    response = await client.get(path, params=params)
    return str(response.json()["data"][0]["id"])


def environment_ids(server: StandInServer) -> list[str]:
    return list(server.fake.workspace.environments)


# --------------------------------------------------------------------------------------------
# Gatekeeping


async def test_checks_run_in_order_auth_version_rate_route_validation(
    server: StandInServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        # Everything wrong at once: auth is judged first.
        assert error_of(await http.post("/nowhere", content=b"{")) == (
            401,
            "general.unauthorized",
        )
        # Authenticated, but without a version: the version is judged next.
        assert error_of(
            await http.post("/nowhere", headers=headers(server.key, None), content=b"{")
        ) == (400, "general.bad-request")
        # Authenticated and versioned, but over the rate: 429 before the route is looked at.
        server.fake.faults.force_429 = 1
        assert error_of(await http.post("/nowhere", headers=headers(server.key))) == (
            429,
            "rate-limit.exceeded",
        )
        # Then the route.
        assert error_of(await http.post("/nowhere", headers=headers(server.key))) == (
            404,
            "general.not-found",
        )
        # Then the body.
        bad = await http.post("/environments", headers=headers(server.key), json={"name": "x"})
        assert violated(bad) == {"name"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong_key", "fp_mgmt_sandbox_key", "Basic fp_mgmt_sandbox_key", "Bearer"],
)
async def test_missing_or_wrong_key_is_401_unauthorized(
    server: StandInServer, authorization: str | None
) -> None:
    sent = {"X-API-Version": V2024} | ({"Authorization": authorization} if authorization else {})
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/hello", headers=sent)
    assert error_of(response) == (401, "general.unauthorized")
    assert response.json()["error"]["message"] == "Invalid API key"


@pytest.mark.parametrize("version", [None, "", "2023-01-01", "latest"])
async def test_missing_or_unknown_version_is_400(
    server: StandInServer, version: str | None
) -> None:
    sent = headers(server.key, None) | ({"X-API-Version": version} if version is not None else {})
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/hello", headers=sent)
    assert error_of(response) == (400, "general.bad-request")


@pytest.mark.parametrize("version", [V2024, V2025])
async def test_hello_answers_for_both_versions(client: httpx.AsyncClient, version: str) -> None:
    response = await client.get("/hello", headers={"X-API-Version": version})
    assert response.status_code == 200
    Hello.model_validate(response.json()["data"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/environments/ae_x"),  # no GET by id
        ("PATCH", "/environments/ae_x"),  # update is POST
        ("PUT", "/api-keys/tok_x"),
        ("GET", "/workspaces"),
        ("GET", "/filtering-rules"),  # 2025-11-20 only
        ("POST", "/filtering-rules/bulk"),
    ],
)
async def test_unknown_routes_are_404_not_found(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert error_of(response) == (404, "general.not-found")


async def test_origin_list_routes_do_not_exist_in_2025(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/filtering-rules", json={"environment": "x"}, headers={"X-API-Version": V2025}
    )
    assert error_of(response) == (404, "general.not-found")


# --------------------------------------------------------------------------------------------
# Envelope and pagination


async def test_walking_120_environments_takes_12_pages_of_10(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    seen: list[str] = []
    cursors: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"cursor": cursor} if cursor else {}
        body = (await client.get("/environments", params=params)).json()
        pages += 1
        assert len(body["data"]) == 10
        seen += [item["id"] for item in body["data"]]
        cursor = body["metadata"]["pagination"]["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    assert pages == 12
    assert seen == environment_ids(server)
    assert len(set(cursors)) == len(cursors)


async def test_prev_cursor_goes_back_a_page_and_is_null_on_the_first(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/environments")).json()
    assert first["metadata"]["pagination"]["prev_cursor"] is None
    second = (
        await client.get(
            "/environments", params={"cursor": first["metadata"]["pagination"]["next_cursor"]}
        )
    ).json()
    back = (
        await client.get(
            "/environments", params={"cursor": second["metadata"]["pagination"]["prev_cursor"]}
        )
    ).json()
    assert [e["id"] for e in back["data"]] == [e["id"] for e in first["data"]]


async def test_a_cursor_survives_deletions_before_it(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    ids = environment_ids(server)
    page = (await client.get("/environments")).json()
    assert (await client.delete(f"/environments/{ids[9]}")).status_code == 204
    cursor = page["metadata"]["pagination"]["next_cursor"]
    following = (await client.get("/environments", params={"cursor": cursor})).json()
    assert following["data"][0]["id"] == ids[10]


@pytest.mark.parametrize(("limit", "expected"), [("1", 1), ("37", 37), ("100", 100)])
async def test_limit_sets_the_page_size(
    client: httpx.AsyncClient, limit: str, expected: int
) -> None:
    body = (await client.get("/environments", params={"limit": limit})).json()
    assert len(body["data"]) == expected


async def test_limit_zero_gives_an_empty_page_and_a_repeating_cursor(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/environments", params={"limit": "0"})).json()
    assert first["data"] == []
    cursor = first["metadata"]["pagination"]["next_cursor"]
    again = (await client.get("/environments", params={"limit": "0", "cursor": cursor})).json()
    assert again["metadata"]["pagination"]["next_cursor"] == cursor


@pytest.mark.parametrize("limit", ["101", "-1", "ten", ""])
async def test_a_bad_limit_is_400(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/environments", params={"limit": limit})
    assert error_of(response) == (400, "general.bad-request")


async def test_unknown_or_foreign_cursors_are_400(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get("/environments", params={"cursor": "page-2"})) == (
        400,
        "general.bad-request",
    )
    env_cursor = (await client.get("/environments")).json()["metadata"]["pagination"]["next_cursor"]
    response = await client.get("/api-keys", params={"cursor": env_cursor})
    assert error_of(response) == (400, "general.bad-request")


# --------------------------------------------------------------------------------------------
# Environments


async def test_environment_create_update_delete_answer_201_200_204(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/environments",
        json={"name": "Black Friday", "limitMode": "restrict", "limitValue": 500},
    )
    assert created.status_code == 201
    env = Environment.model_validate(created.json()["data"])
    assert env.id.startswith("ae_")
    assert env.limit_value == 500
    assert TIMESTAMP.match(created.json()["data"]["created_at"])

    updated = await client.post(f"/environments/{env.id}", json={"description": "Sale"})
    assert updated.status_code == 200
    assert updated.json()["data"]["description"] == "Sale"
    assert TIMESTAMP.match(updated.json()["data"]["updated_at"])

    deleted = await client.delete(f"/environments/{env.id}")
    assert deleted.status_code == 204
    assert deleted.content == b""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "ab"}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 42}, "name"),
        ({"name": "Valid", "description": "d" * 257}, "description"),
        ({"name": "Valid", "limit_mode": "sometimes"}, "limit_mode"),
        ({"name": "Valid", "limit_mode": "restrict"}, "limit_value"),
        ({"name": "Valid", "limit_mode": "notify", "limit_value": 0}, "limit_value"),
    ],
)
async def test_environment_field_errors_are_422_with_violations(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert field in violated(await client.post("/environments", json=body))


async def test_environment_description_of_256_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/environments", json={"name": "Edge", "description": "d" * 256})
    assert response.status_code == 201


async def test_the_default_environment_cannot_be_deleted(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    default = server.fake.workspace.default_environment
    assert default.name == "Production"
    response = await client.delete(f"/environments/{default.id}")
    assert error_of(response) == (409, "general.conflict")
    assert "default environment" in response.json()["error"]["message"]


async def test_an_environment_with_enabled_keys_cannot_be_deleted_until_they_are_disabled(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    staging = environment_ids(server)[1]
    refused = await client.delete(f"/environments/{staging}")
    assert error_of(refused) == (409, "general.conflict")
    assert "active API keys" in refused.json()["error"]["message"]
    keys = (await client.get("/api-keys", params={"environment": staging})).json()["data"]
    for key in keys:
        await client.patch(f"/api-keys/{key['id']}", json={"status": "disabled"})
    assert (await client.delete(f"/environments/{staging}")).status_code == 204
    left = (await client.get("/api-keys", params={"environment": staging})).json()["data"]
    assert left == []


async def test_unknown_environment_is_404_on_update_and_delete(client: httpx.AsyncClient) -> None:
    assert error_of(await client.post("/environments/ae_missing", json={"name": "abc"})) == (
        404,
        "general.not-found",
    )
    assert error_of(await client.delete("/environments/ae_missing")) == (404, "general.not-found")


async def test_a_body_that_is_not_a_json_object_is_400(client: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"[1, 2]"):
        response = await client.post(
            "/environments", content=content, headers={"Content-Type": "application/json"}
        )
        assert error_of(response) == (400, "general.bad-request")


# --------------------------------------------------------------------------------------------
# API keys


async def test_seed_has_keys_of_every_type_status_and_workspace_wide_ones(
    server: StandInServer,
) -> None:
    keys = server.fake.workspace.api_keys.values()
    assert {(k.type, k.status) for k in keys} == {
        (t, s) for t in ("public", "secret", "proxy") for s in ("enabled", "disabled")
    }
    assert any(k.environment is None and k.type == "secret" for k in keys)
    assert any(k.environment is None and k.type == "proxy" for k in keys)
    assert len(server.fake.workspace.environments) == 120


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"type": "secret"}, lambda k: k["type"] == "secret"),
        ({"status": "disabled"}, lambda k: k["status"] == "disabled"),
        ({"type": "public", "status": "enabled"}, lambda k: k["type"] == "public"),
    ],
)
async def test_api_key_list_filters(
    client: httpx.AsyncClient, params: dict[str, str], check: Any
) -> None:
    data = (await client.get("/api-keys", params=params | {"limit": "100"})).json()["data"]
    assert data
    assert all(check(k) for k in data)


async def test_api_key_list_filters_by_environment(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod = environment_ids(server)[0]
    data = (await client.get("/api-keys", params={"environment": prod})).json()["data"]
    assert data
    assert {k["environment"] for k in data} == {prod}


async def test_a_bad_filter_value_is_400(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get("/api-keys", params={"type": "root"}))[0] == 400
    assert error_of(await client.get("/webhooks", params={"status": "on"}))[0] == 400


async def test_a_secret_token_is_returned_only_by_create(client: httpx.AsyncClient) -> None:
    created = await client.post("/api-keys", json={"type": "secret", "name": "Rotation 2"})
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["id"].startswith("tok_")
    assert data["token"]
    assert data["environment"] is None  # secret without an environment: workspace-wide
    fetched = (await client.get(f"/api-keys/{data['id']}")).json()["data"]
    assert "token" not in fetched
    listed = (await client.get("/api-keys", params={"limit": "100"})).json()["data"]
    mine = next(k for k in listed if k["id"] == data["id"])
    assert "token" not in mine
    assert data["token"] not in json.dumps(listed)


async def test_public_tokens_are_listed_and_secret_and_proxy_tokens_never(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get("/api-keys", params={"limit": "100"})).json()["data"]
    for key in listed:
        assert ("token" in key) == (key["type"] == "public"), key


async def test_a_public_key_without_environment_goes_to_the_default_one(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    created = await client.post("/api-keys", json={"type": "public", "name": "Widget"})
    assert created.json()["data"]["environment"] == server.fake.workspace.default_environment.id
    assert created.json()["data"]["token"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No type"}, "type"),
        ({"type": "root", "name": "Bad type"}, "type"),
        ({"type": "public"}, "name"),
        ({"type": "public", "name": "ab"}, "name"),
        ({"type": "public", "name": "Okay", "description": "ab"}, "description"),
        ({"type": "public", "name": "Okay", "description": "d" * 256}, "description"),
        ({"type": "public", "name": "Okay", "environment": "ae_missing"}, "environment"),
        ({"type": "public", "name": "Okay", "rate_limit": 0.05}, "rate_limit"),
    ],
)
async def test_api_key_field_errors_are_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert field in violated(await client.post("/api-keys", json=body))


async def test_patching_a_key_accepts_camel_case_and_sets_disabled_at(
    client: httpx.AsyncClient,
) -> None:
    key_id = await first_id(client, "/api-keys", status="enabled")
    response = await client.patch(
        f"/api-keys/{key_id}", json={"status": "disabled", "rateLimit": 2.5, "name": "Renamed"}
    )
    assert response.status_code == 200
    key = ApiKey.model_validate(response.json()["data"])
    assert key.rate_limit == 2.5
    assert key.name == "Renamed"
    assert key.disabled_at is not None
    enabled = await client.patch(f"/api-keys/{key_id}", json={"status": "enabled"})
    assert enabled.json()["data"]["disabledAt"] is None


async def test_a_token_cannot_be_changed(client: httpx.AsyncClient) -> None:
    key_id = await first_id(client, "/api-keys")
    assert "token" in violated(await client.patch(f"/api-keys/{key_id}", json={"token": "new"}))


async def test_deleting_a_key_is_204_then_404(client: httpx.AsyncClient) -> None:
    key_id = await first_id(client, "/api-keys")
    assert (await client.delete(f"/api-keys/{key_id}")).status_code == 204
    assert error_of(await client.get(f"/api-keys/{key_id}")) == (404, "general.not-found")
    assert error_of(await client.patch(f"/api-keys/{key_id}", json={})) == (
        404,
        "general.not-found",
    )


# --------------------------------------------------------------------------------------------
# Casing


async def test_2024_answers_one_key_in_camel_case_and_lists_in_snake_case(
    client: httpx.AsyncClient,
) -> None:
    key_id = await first_id(client, "/api-keys")
    listed = (await client.get("/api-keys")).json()["data"][0]
    single = (await client.get(f"/api-keys/{key_id}")).json()["data"]
    assert {"rate_limit", "created_at", "disabled_at"} <= listed.keys()
    assert {"rateLimit", "createdAt", "disabledAt"} <= single.keys()
    assert not {"rate_limit", "created_at"} & single.keys()
    assert ApiKey.model_validate(single) == ApiKey.model_validate(listed)


async def test_2025_answers_snake_case_everywhere(client: httpx.AsyncClient) -> None:
    v2025 = {"X-API-Version": V2025}
    key_id = await first_id(client, "/api-keys")
    single = (await client.get(f"/api-keys/{key_id}", headers=v2025)).json()["data"]
    created = (
        await client.post("/api-keys", json={"type": "proxy", "name": "Edge"}, headers=v2025)
    ).json()["data"]
    for body in (single, created):
        assert {"rate_limit", "created_at", "disabled_at"} <= body.keys()
        assert not any(re.search("[A-Z]", k) for k in body)


# --------------------------------------------------------------------------------------------
# Plan limits


@pytest.mark.parametrize(
    ("limit_status", "code"), [(409, "general.conflict"), (400, "general.bad-request")]
)
async def test_plan_limits_answer_409_or_400_with_the_same_message(
    client: httpx.AsyncClient, server: StandInServer, limit_status: int, code: str
) -> None:
    workspace = server.fake.workspace
    workspace.limits.api_keys = len(workspace.api_keys)
    workspace.limits.webhooks = len(workspace.webhooks)
    server.fake.faults.limit_status = limit_status
    key = await client.post("/api-keys", json={"type": "public", "name": "One more"})
    hook = await client.post("/webhooks", json={"url": "https://one.more.example/hook"})
    assert error_of(key) == (limit_status, code)
    assert (
        key.json()["error"]["message"]
        == f"Max limit for api keys reached: {len(workspace.api_keys)}"
    )
    assert error_of(hook) == (limit_status, code)
    assert "Max limit for webhooks reached" in hook.json()["error"]["message"]


async def test_default_plan_limits_are_10_keys_5_webhooks_15_rules_and_the_seed_fits(
    server: StandInServer,
) -> None:
    from sandbox.fingerprint import PlanLimits

    assert PlanLimits() == PlanLimits(api_keys=10, webhooks=5, filtering_rules=15)
    workspace = server.fake.workspace
    assert workspace.limits.api_keys == len(workspace.api_keys) + 10
    assert workspace.limits.webhooks == len(workspace.webhooks) + 5


async def test_rule_plan_limit_applies_to_expression_rules(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.workspace.limits.filtering_rules = len(server.fake.workspace.expression_rules)
    response = await client.post(
        "/filtering-rules",
        json={"name": "Extra", "expression": 'ip == "1.2.3.4"', "action": "block"},
        headers={"X-API-Version": V2025},
    )
    assert error_of(response) == (409, "general.conflict")


# --------------------------------------------------------------------------------------------
# Webhooks


async def test_webhook_signing_key_only_in_the_create_response(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/webhooks", json={"url": "https://hooks.example.net/fp", "description": "New"}
    )
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["id"].startswith("wh_")
    assert data["signing_key"]
    assert data["verified"] is False
    fetched = (await client.get(f"/webhooks/{data['id']}")).json()["data"]
    listed = (await client.get("/webhooks")).json()["data"]
    assert "signing_key" not in fetched
    assert data["signing_key"] not in json.dumps(listed)
    Webhook.model_validate(fetched)


@pytest.mark.parametrize("url", ["http://insecure.example.com/hook", "ftp://x.example", "hooks"])
async def test_webhook_url_must_be_https(client: httpx.AsyncClient, url: str) -> None:
    assert "url" in violated(await client.post("/webhooks", json={"url": url}))


async def test_webhook_update_verification_filters_and_delete(client: httpx.AsyncClient) -> None:
    hook_id = await first_id(client, "/webhooks", status="enabled")
    patched = await client.patch(f"/webhooks/{hook_id}", json={"url": "https://moved.invalid/x"})
    assert patched.status_code == 200
    assert patched.json()["data"]["verified"] is False
    failed = await client.post(f"/webhooks/{hook_id}/verification")
    assert failed.status_code == 200
    assert failed.json()["data"]["verified"] is False
    await client.patch(f"/webhooks/{hook_id}", json={"url": "https://moved.example/x"})
    verified = await client.post(f"/webhooks/{hook_id}/verification")
    assert verified.json()["data"]["verified"] is True
    disabled = (await client.get("/webhooks", params={"status": "disabled"})).json()["data"]
    assert disabled
    assert all(w["status"] == "disabled" for w in disabled)
    assert (await client.delete(f"/webhooks/{hook_id}")).status_code == 204
    assert error_of(await client.post(f"/webhooks/{hook_id}/verification"))[0] == 404


# --------------------------------------------------------------------------------------------
# Filtering rules


async def test_2024_origin_lists_are_replaced_then_patched(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    env = environment_ids(server)[2]
    replaced = await client.post(
        "/filtering-rules",
        json={"environment": env, "allowedOrigins": ["https://a.example", "*.b.example"]},
    )
    assert replaced.status_code == 200
    rules = OriginRules.model_validate(replaced.json()["data"])
    assert rules.allowed_origins == ["https://a.example", "*.b.example"]
    assert rules.forbidden_origins == []
    patched = await client.patch(
        "/filtering-rules",
        json={
            "environment": env,
            "add": {"forbidden_origins": ["https://c.example"]},
            "remove": {"allowed_origins": ["*.b.example"]},
        },
    )
    assert patched.json()["data"] == {
        "environment": env,
        "allowed_origins": ["https://a.example"],
        "forbidden_origins": ["https://c.example"],
    }


async def test_2024_origin_lists_refuse_bad_input(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    env = environment_ids(server)[2]
    assert "environment" in violated(await client.post("/filtering-rules", json={}))
    both = {
        "environment": env,
        "allowed_origins": ["x.example"],
        "forbidden_origins": ["x.example"],
    }
    assert "forbidden_origins" in violated(await client.post("/filtering-rules", json=both))
    bad = {"environment": env, "allowed_origins": ["not an origin"]}
    assert "allowed_origins" in violated(await client.post("/filtering-rules", json=bad))


async def test_2025_expression_rules_lifecycle(client: httpx.AsyncClient) -> None:
    v2025 = {"X-API-Version": V2025}
    listed = await client.get("/filtering-rules", headers=v2025)
    assert listed.status_code == 200
    assert "metadata" not in listed.json()  # not paginated
    assert len(listed.json()["data"]) == 3
    created = await client.post(
        "/filtering-rules",
        json={"name": "Block bots", "expression": 'user_agent == "bot"', "action": "block"},
        headers=v2025,
    )
    assert created.status_code == 201
    rule = FilteringRule.model_validate(created.json()["data"])
    updated = await client.post(
        f"/filtering-rules/{rule.id}", json={"status": "disabled"}, headers=v2025
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["status"] == "disabled"
    fetched = await client.get(f"/filtering-rules/{rule.id}", headers=v2025)
    assert fetched.json()["data"]["status"] == "disabled"
    assert (await client.delete(f"/filtering-rules/{rule.id}", headers=v2025)).status_code == 204
    assert error_of(await client.get(f"/filtering-rules/{rule.id}", headers=v2025))[0] == 404


async def test_2025_bulk_creates_all_or_nothing(client: httpx.AsyncClient) -> None:
    v2025 = {"X-API-Version": V2025}
    good = {"name": "Good", "expression": 'country == "FR"', "action": "allow"}
    bad = {"name": "Bad", "expression": "country = FR", "action": "allow"}
    refused = await client.post("/filtering-rules/bulk", json={"rules": [good, bad]}, headers=v2025)
    assert violated(refused) == {"rules[1].expression"}
    assert len((await client.get("/filtering-rules", headers=v2025)).json()["data"]) == 3
    accepted = await client.post(
        "/filtering-rules/bulk", json={"rules": [good, good]}, headers=v2025
    )
    assert accepted.status_code == 201
    assert len(accepted.json()["data"]) == 2


async def test_2025_rule_test_evaluates_an_expression(client: httpx.AsyncClient) -> None:
    v2025 = {"X-API-Version": V2025}
    expression = 'country == "FR" and ip != "10.0.0.1" or country == "DE"'
    for facts, matched in (
        ({"country": "FR", "ip": "10.0.0.2"}, True),
        ({"country": "FR", "ip": "10.0.0.1"}, False),
        ({"country": "DE"}, True),
    ):
        response = await client.post(
            "/filtering-rules/test", json={"expression": expression, "input": facts}, headers=v2025
        )
        assert response.json()["data"]["matched"] is matched
    broken = {"expression": "country FR"}
    assert "expression" in violated(
        await client.post("/filtering-rules/test", json=broken, headers=v2025)
    )


# --------------------------------------------------------------------------------------------
# Rate limiter


async def test_the_bucket_lets_a_burst_of_5_through_then_429s_with_retry_after(
    limited: StandInServer,
) -> None:
    async with httpx.AsyncClient(base_url=limited.url, headers=headers("key_a")) as http:
        answers = await asyncio.gather(*(http.get("/hello") for _ in range(10)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 5 + [429] * 5
    throttled = [r for r in answers if r.status_code == 429]
    assert all(r.headers["Retry-After"] == "1" for r in throttled)
    assert throttled[0].json() == {
        "error": {"code": "rate-limit.exceeded", "message": "You are sending too many requests"}
    }
    assert limited.fake.rejected_429 == 5
    assert limited.fake.max_in_window(1.0) == 5
    assert limited.fake.max_in_window(1.0, statuses_excluding_429=False) == 10


async def test_429_without_retry_after_when_the_knob_says_so(limited: StandInServer) -> None:
    limited.fake.faults.retry_after = None
    async with httpx.AsyncClient(base_url=limited.url, headers=headers("key_a")) as http:
        answers = await asyncio.gather(*(http.get("/hello") for _ in range(7)))
    throttled = [r for r in answers if r.status_code == 429]
    assert len(throttled) == 2
    assert all("Retry-After" not in r.headers for r in throttled)


async def test_the_bucket_refills_at_the_rate_and_is_per_key(limited: StandInServer) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as http:
        for _ in range(5):
            assert (await http.get("/hello", headers=headers("key_a"))).status_code == 200
        assert (await http.get("/hello", headers=headers("key_a"))).status_code == 429
        assert (await http.get("/hello", headers=headers("key_b"))).status_code == 200
        await asyncio.sleep(0.25)  # 5/s: one token back after 0.2 s
        assert (await http.get("/hello", headers=headers("key_a"))).status_code == 200


async def test_requests_refused_before_the_limiter_do_not_spend_tokens(
    limited: StandInServer,
) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as http:
        for _ in range(5):
            assert (await http.get("/hello", headers=headers("key_a", None))).status_code == 400
        assert (await http.get("/hello", headers=headers("key_a"))).status_code == 200


async def test_a_paced_client_stays_within_burst_plus_rate(limited: StandInServer) -> None:
    limited.fake.rate_limit = 50
    limited.fake.burst = 5
    async with httpx.AsyncClient(base_url=limited.url, headers=headers("key_a")) as http:
        for _ in range(20):
            await http.get("/hello")
            await asyncio.sleep(0.02)
    assert limited.fake.rejected_429 == 0
    assert limited.fake.max_in_window(0.2) <= 5 + 50 * 0.2


# --------------------------------------------------------------------------------------------
# Fault knobs


async def test_latency_delays_every_answer(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.latency = 0.2
    started = time.monotonic()
    assert (await client.get("/hello")).status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_error_rate_one_gives_503_with_retry_after_or_500(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.error_rate = 1.0
    server.fake.faults.error_retry_after = 2.5
    unavailable = await client.post("/environments", json={"name": "Never made"})
    assert error_of(unavailable) == (503, "general.unavailable")
    assert unavailable.headers["Retry-After"] == "2.5"
    assert not any(e.name == "Never made" for e in server.fake.workspace.environments.values())
    server.fake.faults.error_status = 500
    failed = await client.get("/hello")
    assert error_of(failed) == (500, "general.internal-server-error")
    assert "Retry-After" not in failed.headers


async def test_error_rate_is_a_share_of_requests(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.error_rate = 0.5
    statuses = [(await client.get("/hello")).status_code for _ in range(60)]
    assert 15 <= statuses.count(503) <= 45
    assert set(statuses) == {200, 503}


@pytest.mark.parametrize("retry_after", [3.0, None])
async def test_force_429_refuses_the_next_n_requests(
    client: httpx.AsyncClient, server: StandInServer, retry_after: float | None
) -> None:
    server.fake.faults.force_429 = 3
    server.fake.faults.retry_after = retry_after
    answers = [await client.get("/hello") for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 429, 200]
    assert answers[0].headers.get("Retry-After") == ("3" if retry_after else None)
    assert server.fake.faults.force_429 == 0


async def test_hang_holds_answers_until_the_knob_is_cleared(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.hang = True
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/hello", timeout=0.3)
    pending = asyncio.create_task(client.get("/hello"))
    await asyncio.sleep(0.2)
    assert not pending.done()
    server.fake.faults.hang = False
    assert (await pending).status_code == 200


async def test_a_revoked_key_gets_401_everywhere(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.revoked = True
    for path in ("/hello", "/environments", "/api-keys"):
        assert error_of(await client.get(path)) == (401, "general.unauthorized")
    server.fake.reset_faults()
    assert (await client.get("/hello")).status_code == 200


# --------------------------------------------------------------------------------------------
# Counters and control endpoints


async def test_count_matches_method_exact_path_prefix_and_status(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    key_id = await first_id(client, "/api-keys")
    await client.get(f"/api-keys/{key_id}")
    await client.get("/api-keys/tok_missing")
    await client.post("/api-keys", json={"type": "public", "name": "Counted"})
    fake = server.fake
    assert fake.count() == 4
    assert fake.count("GET", "/api-keys") == 1
    assert fake.count("get", "/api-keys/*") == 2
    assert fake.count(path="/api-keys*") == 4
    assert fake.count(status=404) == 1
    assert fake.count("POST", "/api-keys", 201) == 1
    recorded = fake.requests[0]
    assert (recorded.method, recorded.path, recorded.query, recorded.status) == (
        "GET",
        "/api-keys",
        {},
        200,
    )


async def test_control_endpoints_need_no_auth_and_are_not_counted(server: StandInServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        faults = (await http.get("/_sandbox/faults")).json()
        assert faults["retry_after"] == 1.0
        assert faults["limit_status"] == 409
        merged = await http.post("/_sandbox/faults", json={"latency": 0.05, "force_429": 2})
        assert merged.json()["latency"] == 0.05
        assert merged.json()["hang"] is False
        assert server.fake.faults.force_429 == 2
        assert (await http.post("/_sandbox/faults", json={"nonsense": 1})).status_code == 400
        assert (await http.post("/_sandbox/faults", json={"error_status": 418})).status_code == 400
        assert server.fake.faults.latency == 0.05  # a refused update changes nothing
        await http.get("/hello", headers=headers(server.key))
        stats = (await http.get("/_sandbox/stats")).json()
        assert stats["requests"] == 1
        assert stats["rejected_429"] == 1
        assert stats["by_status"] == {"429": 1}
        assert stats["max_in_window"] == 0
        reset = (await http.post("/_sandbox/reset-faults")).json()
        assert reset["latency"] == 0 and reset["force_429"] == 0
        assert (await http.post("/_sandbox/reset-stats")).json()["requests"] == 0
    assert server.fake.count() == 0


# --------------------------------------------------------------------------------------------
# Shapes the client reads


def _sample(name: str) -> Any:
    for directory in SAMPLE_DIRS:
        if (directory / name).exists():
            return json.loads((directory / name).read_text())
    pytest.skip(f"sample {name} not available")


async def test_answers_have_the_samples_keys_and_parse_with_the_client_models(
    client: httpx.AsyncClient,
) -> None:
    v2025 = {"X-API-Version": V2025}
    envs = (await client.get("/environments", headers=v2025)).json()
    sample_envs = _sample("environments-list-2025.json")
    assert envs.keys() == sample_envs.keys()
    assert envs["data"][0].keys() == sample_envs["data"][0].keys()
    assert envs["metadata"]["pagination"].keys() == sample_envs["metadata"]["pagination"].keys()
    Environment.model_validate(envs["data"][0])

    keys = (await client.get("/api-keys", headers=v2025)).json()
    assert keys["data"][0].keys() == _sample("api-keys-list-2025.json")["data"][0].keys()
    created = (
        await client.post("/api-keys", json={"type": "secret", "name": "Shape"}, headers=v2025)
    ).json()
    assert created["data"].keys() == _sample("api-key-create-secret-2025.json")["data"].keys()
    assert ApiKey.model_validate(created["data"]).token

    key_id = keys["data"][0]["id"]
    camel = (await client.get(f"/api-keys/{key_id}")).json()["data"]
    assert _sample("api-key-item-get-camel.json").keys() <= camel.keys()
    snake = (await client.get("/api-keys")).json()["data"][0]
    assert _sample("api-key-item-list-snake.json").keys() <= snake.keys()

    refused = await client.get("/hello", headers={"Authorization": "Bearer nope"})
    assert refused.json() == _sample("error-unauthorized.json")


async def test_timestamps_are_utc_with_milliseconds_and_z(client: httpx.AsyncClient) -> None:
    for path in ("/environments", "/api-keys", "/webhooks"):
        for item in (await client.get(path)).json()["data"]:
            assert TIMESTAMP.match(item["created_at"]), item


# --------------------------------------------------------------------------------------------
# Seed and CLI


def test_the_seed_is_deterministic_and_sized_by_its_parameter() -> None:
    one, two = FakeFingerprint(environments=40), FakeFingerprint(environments=40)
    assert list(one.workspace.environments) == list(two.workspace.environments)
    assert [k.token for k in one.workspace.api_keys.values()] == [
        k.token for k in two.workspace.api_keys.values()
    ]
    assert list(FakeFingerprint(seed=2).workspace.environments) != list(one.workspace.environments)
    assert len(FakeFingerprint().workspace.environments) == 32
    assert len(FakeFingerprint(environments=1000).workspace.environments) == 1000
    defaults = [e for e in one.workspace.environments.values() if e.is_default]
    assert [e.name for e in defaults] == ["Production"]


def test_the_cli_prints_its_url_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.fingerprint", "--port", "0", "--environments", "12"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(
            f"{url}/environments", headers=headers("fp_mgmt_sandbox_key"), timeout=5
        )
        assert len(response.json()["data"]) == 10
        assert response.json()["metadata"]["pagination"]["next_cursor"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
