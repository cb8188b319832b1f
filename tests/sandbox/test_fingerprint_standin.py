"""The stand-in Management API behaves as the real one does.

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
    Webhook,
)
from sandbox.fingerprint import FakeFingerprint, StandInServer
from tests.fingerprint.fp_helpers import sample

V2024 = "2024-05-20"
V2025 = "2025-11-20"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


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
        ("GET", "/filtering-rules/tr_x"),  # 2025-11-20 only
        ("POST", "/filtering-rules/bulk"),
        ("GET", "/encryption-keys"),
        ("POST", "/subdomains"),
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
# Filtering rules, 2024-05-20: origin lists


async def test_2024_origin_lists_are_replaced_then_patched(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    env = environment_ids(server)[2]
    replaced = await client.post(
        "/filtering-rules",
        json={"environment": env, "allow": ["https://a.example", "*.b.example"], "deny": ["*"]},
    )
    assert replaced.status_code == 200
    assert replaced.json() == {
        "data": [
            {
                "type": "origin",
                "environment": env,
                "allow": ["https://a.example", "*.b.example"],
                "deny": ["*"],
            }
        ]
    }
    patched = await client.patch(
        "/filtering-rules",
        json={"environment": env, "permission": "allow", "op": "remove", "items": ["*.b.example"]},
    )
    [rules] = patched.json()["data"]
    assert (rules["allow"], rules["deny"]) == (["https://a.example"], ["*"])
    added = await client.patch(
        "/filtering-rules",
        json={"environment": env, "permission": "allow", "op": "add", "items": ["c.example"]},
    )
    assert added.json()["data"][0]["allow"] == ["https://a.example", "c.example"]
    read = await client.get("/filtering-rules", params={"environment": env})
    assert read.json() == added.json()


async def test_2024_emptying_a_list_removes_the_rules_and_both_empty_does_too(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    staging = environment_ids(server)[1]  # seeded with an allow list of one origin
    emptied = await client.patch(
        "/filtering-rules",
        json={
            "environment": staging,
            "permission": "allow",
            "op": "remove",
            "items": ["https://staging.example.com"],
        },
    )
    assert emptied.json()["data"][0] | {"environment": "-"} == {
        "type": "origin",
        "environment": "-",
        "allow": [],
        "deny": [],
    }
    assert staging not in server.fake.workspace.origin_rules
    prod = environment_ids(server)[0]
    cleared = await client.post(
        "/filtering-rules", json={"environment": prod, "allow": [], "deny": []}
    )
    assert cleared.status_code == 200 and prod not in server.fake.workspace.origin_rules


async def test_2024_a_patch_adding_to_the_other_list_is_refused(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod = environment_ids(server)[0]  # seeded with a deny list
    refused = await client.patch(
        "/filtering-rules",
        json={"environment": prod, "permission": "allow", "op": "add", "items": ["x.example"]},
    )
    assert violated(refused) == {"permission"}
    added = await client.patch(
        "/filtering-rules",
        json={"environment": prod, "permission": "deny", "op": "add", "items": ["x.example"]},
    )
    assert added.json()["data"][0]["allow"] == ["*"]
    assert "x.example" in added.json()["data"][0]["deny"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"environment", "allow", "deny"}),
        ({"environment": "ae_missing", "allow": [], "deny": []}, {"environment"}),
        ({"allow": ["a.example"], "deny": []}, {"environment", "deny"}),
        ({"allow": ["a.example"], "deny": ["b.example"]}, {"environment", "allow", "deny"}),
        ({"allow": ["*", "a.example"], "deny": ["*"]}, {"environment", "allow"}),
        ({"allow": ["not an origin"], "deny": ["*"]}, {"environment", "allow"}),
        ({"allow": ["*"], "deny": []}, {"environment", "allow"}),
    ],
    ids=["nothing", "unknown env", "no star", "two lists", "star and more", "bad", "star alone"],
)
async def test_2024_origin_lists_refuse_bad_input(
    client: httpx.AsyncClient, server: StandInServer, body: dict[str, Any], fields: set[str]
) -> None:
    env = environment_ids(server)[2]
    sent = body if "environment" in body or not body else {"environment": env, **body}
    expected = fields if sent is body else fields - {"environment"}
    assert violated(await client.post("/filtering-rules", json=sent)) == expected


async def test_2024_patch_needs_every_field(client: httpx.AsyncClient) -> None:
    refused = await client.patch("/filtering-rules", json={"op": "grow", "items": ["*"]})
    assert violated(refused) == {"environment", "permission", "op", "items"}


async def test_2024_reading_origin_lists_is_inferred_and_can_be_switched_off(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    everything = (await client.get("/filtering-rules")).json()["data"]
    assert {entry["environment"] for entry in everything} == set(server.fake.workspace.origin_rules)
    none_here = environment_ids(server)[5]
    one = (await client.get("/filtering-rules", params={"environment": none_here})).json()
    assert one == {"data": [{"type": "origin", "environment": none_here, "allow": [], "deny": []}]}
    assert "environment" in violated(
        await client.get("/filtering-rules", params={"environment": "ae_missing"})
    )
    server.fake.faults.origin_rules_unreadable = True
    assert error_of(await client.get("/filtering-rules")) == (404, "general.not-found")


async def test_2024_named_origins_count_against_the_rule_limit(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    workspace = server.fake.workspace
    workspace.limits.filtering_rules = sum(len(v) for v in workspace.origin_rules.values()) + 1
    env = environment_ids(server)[3]
    two = {"environment": env, "allow": ["a.example", "b.example"], "deny": ["*"]}
    refused = await client.post("/filtering-rules", json=two)
    assert error_of(refused) == (400, "general.bad-request")
    assert refused.json()["error"]["message"] == (
        f"Max limit for filtering rules reached: {workspace.limits.filtering_rules}"
    )
    one = {"environment": env, "allow": ["a.example"], "deny": ["*"]}
    assert (await client.post("/filtering-rules", json=one)).status_code == 200


# --------------------------------------------------------------------------------------------
# Filtering rules, 2025-11-20: expression rules

V2025_HEADERS = {"X-API-Version": V2025}


def rule_body(env: str, name: str = "Deny curl", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "environment": env,
        "expression": 'http.user_agent.string startsWith "curl/"',
        "action": "deny",
        **extra,
    }


async def order_of(client: httpx.AsyncClient, env: str) -> list[str]:
    listed = await client.get(
        "/filtering-rules", params={"environment": env}, headers=V2025_HEADERS
    )
    return [rule["name"] for rule in listed.json()["data"]]


async def test_2025_expression_rules_lifecycle(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    listed = await client.get("/filtering-rules", headers=V2025_HEADERS)
    assert listed.status_code == 200
    assert "metadata" not in listed.json()  # not paginated
    assert len(listed.json()["data"]) == 3
    env = environment_ids(server)[1]
    created = await client.post("/filtering-rules", json=rule_body(env), headers=V2025_HEADERS)
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["id"].startswith("tr_") and data["deny_with"] == "Forbidden"
    assert data["status"] == "enabled" and data["updated_at"] is None
    rule = FilteringRule.model_validate(data)
    updated = await client.post(
        f"/filtering-rules/{rule.id}",
        json={"id": rule.id, "status": "disabled"},
        headers=V2025_HEADERS,
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["status"] == "disabled"
    assert TIMESTAMP.match(updated.json()["data"]["updated_at"])
    # The MCP server sends no id in the body; that is accepted too.
    renamed = await client.post(
        f"/filtering-rules/{rule.id}", json={"name": "Deny curls"}, headers=V2025_HEADERS
    )
    assert renamed.json()["data"]["name"] == "Deny curls"
    fetched = await client.get(f"/filtering-rules/{rule.id}", headers=V2025_HEADERS)
    assert fetched.json()["data"]["status"] == "disabled"
    deleted = await client.delete(f"/filtering-rules/{rule.id}", headers=V2025_HEADERS)
    assert deleted.status_code == 204
    assert (
        error_of(await client.get(f"/filtering-rules/{rule.id}", headers=V2025_HEADERS))[0] == 404
    )


async def test_2025_rule_list_filters_by_environment_status_and_part_of_a_name(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod = environment_ids(server)[0]
    by_env = await client.get(
        "/filtering-rules", params={"environment": prod}, headers=V2025_HEADERS
    )
    assert [r["name"] for r in by_env.json()["data"]] == ["Allow the office", "Deny crawlers"]
    by_name = await client.get("/filtering-rules", params={"name": "CRAWL"}, headers=V2025_HEADERS)
    assert [r["name"] for r in by_name.json()["data"]] == ["Deny crawlers"]
    disabled = await client.get(
        "/filtering-rules", params={"status": "disabled"}, headers=V2025_HEADERS
    )
    assert disabled.json()["data"] == []


async def test_2025_placement_puts_a_rule_in_the_order_and_an_update_moves_it(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod = environment_ids(server)[0]
    first = await client.post(
        "/filtering-rules",
        json=rule_body(prod, "First", placement={"position": 0}),
        headers=V2025_HEADERS,
    )
    assert await order_of(client, prod) == ["First", "Allow the office", "Deny crawlers"]
    office = server.fake.workspace.rule_order[prod][1]
    await client.post(
        "/filtering-rules",
        json=rule_body(prod, "Second", placement={"after": office}),
        headers=V2025_HEADERS,
    )
    assert await order_of(client, prod) == ["First", "Allow the office", "Second", "Deny crawlers"]
    await client.post(
        f"/filtering-rules/{first.json()['data']['id']}",
        json={"placement": {"position": 99}},
        headers=V2025_HEADERS,
    )
    assert (await order_of(client, prod))[-1] == "First"
    await client.post(
        f"/filtering-rules/{first.json()['data']['id']}",
        json={"placement": {"before": office}},
        headers=V2025_HEADERS,
    )
    assert (await order_of(client, prod))[0] == "First"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"placement": {"position": -1}}, "placement.position"),
        ({"placement": {"position": 0, "after": "tr_x"}}, "placement"),
        ({"placement": {"after": "tr_missing"}}, "placement.after"),
        ({"action": "block"}, "action"),
        ({"deny_with": "Go away"}, "deny_with"),
        ({"expression": 'country == "FR"'}, "expression"),
        ({"expression": "http.request.ip =="}, "expression"),
        ({"environment": None}, "environment"),
        ({"name": "ab"}, "name"),
    ],
)
async def test_2025_rule_field_errors_are_422(
    client: httpx.AsyncClient, server: StandInServer, extra: dict[str, Any], field: str
) -> None:
    body = rule_body(environment_ids(server)[0], **extra)
    response = await client.post("/filtering-rules", json=body, headers=V2025_HEADERS)
    assert field in violated(response)


async def test_2025_an_update_with_another_id_in_the_body_is_refused(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    rule_id = next(iter(server.fake.workspace.expression_rules))
    response = await client.post(
        f"/filtering-rules/{rule_id}", json={"id": "tr_other"}, headers=V2025_HEADERS
    )
    assert violated(response) == {"id"}


async def test_2025_bulk_merge_updates_by_name_and_adds_the_rest_all_or_nothing(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod = environment_ids(server)[0]
    good = {"name": "Deny crawlers", "expression": "http.user_agent.is_ai_bot", "action": "deny"}
    new = {
        "name": "Allow partners",
        "expression": "http.request.ip == '198.51.100.1'",
        "action": "allow",
    }
    bad = {"name": "Bad", "expression": "country = FR", "action": "allow"}
    refused = await client.post(
        "/filtering-rules/bulk",
        json={"environment": prod, "rules": [good, bad]},
        headers=V2025_HEADERS,
    )
    assert violated(refused) == {"rules[1].expression"}
    assert await order_of(client, prod) == ["Allow the office", "Deny crawlers"]
    merged = await client.post(
        "/filtering-rules/bulk",
        json={"environment": prod, "rules": [good, new], "mode": "merge"},
        headers=V2025_HEADERS,
    )
    assert merged.status_code == 201
    assert [r["name"] for r in merged.json()["data"]] == ["Deny crawlers", "Allow partners"]
    assert await order_of(client, prod) == ["Allow the office", "Deny crawlers", "Allow partners"]
    crawlers = next(r for r in merged.json()["data"] if r["name"] == "Deny crawlers")
    assert crawlers["expression"] == "http.user_agent.is_ai_bot"


async def test_2025_bulk_overwrite_replaces_the_environments_rules_in_order(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    prod, qa = environment_ids(server)[0], environment_ids(server)[3]
    rules = [
        {"name": "Two", "expression": "sdk.platform.is_ios", "action": "deny"},
        {"name": "One", "expression": "true", "action": "allow", "placement": {"position": 5}},
    ]
    replaced = await client.post(
        "/filtering-rules/bulk",
        json={"environment": prod, "rules": rules, "mode": "overwrite"},
        headers=V2025_HEADERS,
    )
    assert replaced.status_code == 201
    assert await order_of(client, prod) == ["Two", "One"]
    assert await order_of(client, qa) == ["Allow the QA app"]
    twice = await client.post(
        "/filtering-rules/bulk",
        json={"environment": prod, "rules": [rules[0], rules[0]], "mode": "overwrite"},
        headers=V2025_HEADERS,
    )
    assert violated(twice) == {"rules[1].name"}
    emptied = await client.post(
        "/filtering-rules/bulk",
        json={"environment": prod, "rules": [], "mode": "overwrite"},
        headers=V2025_HEADERS,
    )
    assert emptied.json()["data"] == [] and await order_of(client, prod) == []


TEST_CASES = [
    ("a crawler hits the deny rule", "1708102555327.NLOjmg", None, "deny"),
    ("the office is allowed by the first rule", "1708102555328.Xb2kQp", None, "allow"),
    (
        "no rule matches: allowed",
        None,
        {"ip": "198.51.100.9", "userAgent": "Mozilla/5.0 Firefox/133.0", "sdkPlatform": "js"},
        "allow",
    ),
]


@pytest.mark.parametrize(
    ("request_id", "payload", "result"),
    [c[1:] for c in TEST_CASES],
    ids=[c[0] for c in TEST_CASES],
)
async def test_2025_rule_test_takes_the_first_matching_rule_of_the_environment(
    client: httpx.AsyncClient,
    server: StandInServer,
    request_id: str | None,
    payload: dict[str, Any] | None,
    result: str,
) -> None:
    body: dict[str, Any] = {"environment": environment_ids(server)[0]}
    if request_id:
        body["test_request_id"] = request_id
    if payload:
        body["test_request_payload"] = payload
    answer = await client.post("/filtering-rules/test", json=body, headers=V2025_HEADERS)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["result"] == result
    assert data["deny_with"] == ("Forbidden" if result == "deny" else None)
    matched = {"deny": "http.user_agent.is_crawler_bot || http.user_agent.is_ai_bot"}
    office = "http.request.ip in cidr('192.0.2.0/24')"
    expected = matched.get(result, office if request_id else None)
    assert data["triggered_rule"] == expected


async def test_2025_rule_test_of_given_rules_in_their_order_and_its_errors(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    rules = [
        {"expression": "sdk.platform.is_android", "action": "allow"},
        {"expression": "true", "action": "deny", "deny_with": "Forbidden"},
    ]
    payload = {"sdkPlatform": "android", "appPackageName": "com.example.qa"}
    answer = await client.post(
        "/filtering-rules/test",
        json={"rules": rules, "test_request_payload": payload},
        headers=V2025_HEADERS,
    )
    assert answer.json()["data"] == {
        "result": "allow",
        "deny_with": None,
        "triggered_rule": "sdk.platform.is_android",
    }
    broken = await client.post(
        "/filtering-rules/test",
        json={"rules": [{"expression": "nonsense(", "action": "deny"}]},
        headers=V2025_HEADERS,
    )
    assert violated(broken) == {"rules[0].expression", "test_request_payload"}
    unknown = await client.post(
        "/filtering-rules/test",
        json={"environment": environment_ids(server)[0], "test_request_id": "nope"},
        headers=V2025_HEADERS,
    )
    assert violated(unknown) == {"test_request_id"}
    no_env = await client.post(
        "/filtering-rules/test", json={"test_request_id": "nope"}, headers=V2025_HEADERS
    )
    assert "environment" in violated(no_env)


async def test_2025_the_bare_test_result_knob_drops_the_envelope(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.bare_test_result = True
    answer = await client.post(
        "/filtering-rules/test",
        json={"rules": [{"expression": "true", "action": "deny"}], "test_request_payload": {}},
        headers=V2025_HEADERS,
    )
    assert answer.json() == {"result": "deny", "deny_with": "Forbidden", "triggered_rule": "true"}


async def test_2025_the_rule_limit_is_400_naming_the_limit(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.workspace.limits.filtering_rules = len(server.fake.workspace.expression_rules)
    env = environment_ids(server)[0]
    refused = await client.post("/filtering-rules", json=rule_body(env), headers=V2025_HEADERS)
    assert error_of(refused) == (400, "general.bad-request")
    limit = server.fake.workspace.limits.filtering_rules
    assert refused.json()["error"]["message"] == f"Max limit for filtering rules reached: {limit}"
    bulk = await client.post(
        "/filtering-rules/bulk",
        json={"environment": env, "rules": [rule_body(env, "Another")]},
        headers=V2025_HEADERS,
    )
    assert error_of(bulk) == (400, "general.bad-request")
    server.fake.faults.limit_status = 409
    again = await client.post("/filtering-rules", json=rule_body(env), headers=V2025_HEADERS)
    assert error_of(again) == (409, "general.conflict")


# --------------------------------------------------------------------------------------------
# Encryption keys (2025-11-20)


async def test_every_environment_has_one_encryption_key_listed_with_its_tokens(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        body = (await client.get("/encryption-keys", params=params, headers=V2025_HEADERS)).json()
        seen += body["data"]
        cursor = body["metadata"]["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 120 and len({k["environment"] for k in seen}) == 120
    assert all(k["token"] and k["next_token"] for k in seen)
    assert seen[0]["status"] == "enabled" and seen[0]["previous_token"]
    assert seen[5]["status"] == "disabled" and seen[5]["previous_token"] is None
    enabled = await client.get(
        "/encryption-keys", params={"status": "enabled", "limit": "100"}, headers=V2025_HEADERS
    )
    assert len(enabled.json()["data"]) == 2
    prod = environment_ids(server)[0]
    one = await client.get("/encryption-keys", params={"environment": prod}, headers=V2025_HEADERS)
    assert [k["environment"] for k in one.json()["data"]] == [prod]
    assert (
        error_of(
            await client.get("/encryption-keys", params={"status": "on"}, headers=V2025_HEADERS)
        )[0]
        == 400
    )


async def test_a_new_environment_gets_an_inactive_key_and_loses_it_with_the_environment(
    client: httpx.AsyncClient,
) -> None:
    env = (await client.post("/environments", json={"name": "Sealed"})).json()["data"]["id"]
    keys = await client.get("/encryption-keys", params={"environment": env}, headers=V2025_HEADERS)
    [key] = keys.json()["data"]
    assert key["status"] == "disabled" and key["last_activated_at"] is None
    assert (await client.delete(f"/environments/{env}")).status_code == 204
    gone = await client.get(f"/encryption-keys/{key['id']}", headers=V2025_HEADERS)
    assert error_of(gone) == (404, "general.not-found")


async def test_an_encryption_key_is_renamed_activated_and_deactivated(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    key_id = list(server.fake.workspace.encryption_keys)[7]
    patched = await client.patch(
        f"/encryption-keys/{key_id}",
        json={"name": "Sealed results", "description": "for the backend", "status": "enabled"},
        headers=V2025_HEADERS,
    )
    data = patched.json()["data"]
    assert (data["name"], data["status"]) == ("Sealed results", "enabled")
    assert TIMESTAMP.match(data["last_activated_at"])
    disabled = await client.patch(
        f"/encryption-keys/{key_id}", json={"status": "disabled"}, headers=V2025_HEADERS
    )
    assert TIMESTAMP.match(disabled.json()["data"]["last_deactivated_at"])
    refused = await client.patch(
        f"/encryption-keys/{key_id}", json={"token": "mine", "status": "on"}, headers=V2025_HEADERS
    )
    assert violated(refused) == {"token", "status"}


async def test_rotate_moves_next_to_current_to_previous_and_revert_undoes_it(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    key_id = list(server.fake.workspace.encryption_keys)[3]
    before = (await client.get(f"/encryption-keys/{key_id}", headers=V2025_HEADERS)).json()["data"]
    refused = await client.post(f"/encryption-keys/{key_id}/revert", headers=V2025_HEADERS)
    assert error_of(refused) == (409, "general.conflict")
    rotated = (await client.post(f"/encryption-keys/{key_id}/rotate", headers=V2025_HEADERS)).json()
    after = rotated["data"]
    assert after["previous_token"] == before["token"]
    assert after["token"] == before["next_token"]
    assert after["next_token"] not in (before["token"], before["next_token"])
    assert TIMESTAMP.match(after["last_rotated_at"])
    twice = (await client.post(f"/encryption-keys/{key_id}/rotate", headers=V2025_HEADERS)).json()
    back = (await client.post(f"/encryption-keys/{key_id}/revert", headers=V2025_HEADERS)).json()
    assert {k: back["data"][k] for k in ("previous_token", "token", "next_token")} == {
        "previous_token": after["previous_token"],
        "token": after["token"],
        "next_token": twice["data"]["token"],
    }
    back = (await client.post(f"/encryption-keys/{key_id}/revert", headers=V2025_HEADERS)).json()
    assert (back["data"]["previous_token"], back["data"]["token"]) == (None, before["token"])


# --------------------------------------------------------------------------------------------
# Subdomains (2025-11-20)


async def test_subdomains_are_created_listed_verified_and_deleted(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/subdomains", json={"subdomain": "Metrics.Shop.Example.NET."}, headers=V2025_HEADERS
    )
    assert created.status_code == 201
    data = created.json()["data"]
    assert re.fullmatch(r"certv2_[A-Za-z0-9]{14}", data["id"])
    assert data["subdomain"] == "metrics.shop.example.net" and data["status"] == "pending"
    assert data["webhook_secret"] and data["webhook_url"] is None
    records = data["dns_records"]
    assert records["verification"]["host"] == "_acme-challenge.metrics.shop.example.net"
    assert {r["status"] for r in records["routing"]} == {"pending_validation"}
    assert records["caa"]["type"] == "CAA"
    listed = (await client.get("/subdomains", headers=V2025_HEADERS)).json()
    item = next(s for s in listed["data"] if s["id"] == data["id"])
    assert item.keys() == {"id", "subdomain", "status", "created_at", "updated_at"}
    assert listed.keys() == sample("list-page1-of-2-subdomains-2025.json").keys()
    fetched = (await client.get(f"/subdomains/{data['id']}", headers=V2025_HEADERS)).json()
    assert "webhook_secret" not in fetched["data"] and "dns_records" in fetched["data"]
    verified = await client.post(f"/subdomains/{data['id']}/verify", headers=V2025_HEADERS)
    assert verified.status_code == 200
    assert verified.json()["data"]["status"] == "active"
    assert verified.json()["data"]["dns_records"]["verification"]["status"] == "validated"
    deleted = await client.delete(f"/subdomains/{data['id']}", headers=V2025_HEADERS)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = await client.get(f"/subdomains/{data['id']}", headers=V2025_HEADERS)
    assert error_of(gone) == (404, "general.not-found")


async def test_a_subdomain_that_does_not_resolve_stays_pending(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/subdomains", json={"subdomain": "fp.nowhere.invalid"}, headers=V2025_HEADERS
    )
    subdomain_id = created.json()["data"]["id"]
    verified = await client.post(f"/subdomains/{subdomain_id}/verify", headers=V2025_HEADERS)
    assert verified.json()["data"]["status"] == "pending"
    routing = verified.json()["data"]["dns_records"]["routing"]
    assert {r["status"] for r in routing} == {"pending_validation"}


async def test_subdomain_errors_are_those_the_cli_expects(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    invalid = await client.post(
        "/subdomains", json={"subdomain": "mgmt_key_1"}, headers=V2025_HEADERS
    )
    assert violated(invalid) == {"subdomain"}
    assert (
        invalid.json()["error"]["violations"][0]["message"] == "mgmt_key_1 is not a valid hostname"
    )
    duplicate = await client.post(
        "/subdomains", json={"subdomain": "metrics.example.com"}, headers=V2025_HEADERS
    )
    assert duplicate.json() == {
        "error": {"code": "general.conflict", "message": "Subdomain already exists"}
    }
    limit = server.fake.workspace.limits.subdomains = len(server.fake.workspace.subdomains)
    limited = await client.post(
        "/subdomains", json={"subdomain": "fp.more.example.com"}, headers=V2025_HEADERS
    )
    assert limited.status_code == 400
    assert limited.json() == {
        "error": {
            "code": "general.bad-request",
            "message": f"Max limit for subdomains reached: {limit}",
        }
    }
    server.fake.faults.subdomains_disabled = True
    off = await client.get("/subdomains", headers=V2025_HEADERS)
    assert error_of(off) == (503, "general.unavailable")
    assert off.json() == sample("error-unavailable.json")


def test_the_default_subdomain_limit_is_the_one_in_thesample() -> None:
    assert sample("error-limit-reached-400.json")["error"]["message"].endswith(
        f": {FakeFingerprint().workspace.limits.subdomains}"
    )


# --------------------------------------------------------------------------------------------
# Webhooks, environments and API keys: the fields added with 2025-11-20


@pytest.mark.parametrize("version", [V2024, V2025])
async def test_webhooks_are_created_disabled_moved_and_verified_in_both_versions(
    client: httpx.AsyncClient, server: StandInServer, version: str
) -> None:
    sent = {"X-API-Version": version}
    created = await client.post(
        "/webhooks",
        json={"url": "https://hooks.example.net/x", "status": "disabled"},
        headers=sent,
    )
    hook = created.json()["data"]
    assert hook["status"] == "disabled" and TIMESTAMP.match(hook["last_disabled_at"])
    assert hook["last_enabled_at"] is None and hook["legacy"] is False
    staging = environment_ids(server)[1]
    moved = await client.patch(
        f"/webhooks/{hook['id']}", json={"environment": staging, "status": "enabled"}, headers=sent
    )
    assert moved.json()["data"]["environment"] == staging
    assert TIMESTAMP.match(moved.json()["data"]["last_enabled_at"])
    wrong = await client.patch(
        f"/webhooks/{hook['id']}", json={"environment": "ae_missing"}, headers=sent
    )
    assert violated(wrong) == {"environment"}
    verified = await client.post(f"/webhooks/{hook['id']}/verification", headers=sent)
    assert verified.status_code == 200 and verified.json()["data"]["verified"] is True


@pytest.mark.parametrize("version", [V2024, V2025])
async def test_environment_limits_are_updated_and_validated(
    client: httpx.AsyncClient, server: StandInServer, version: str
) -> None:
    sent = {"X-API-Version": version}
    env = environment_ids(server)[4]  # limit_mode none
    missing = await client.post(
        f"/environments/{env}", json={"limit_mode": "restrict"}, headers=sent
    )
    assert violated(missing) == {"limit_value"}
    bad = await client.post(
        f"/environments/{env}", json={"limit_mode": "notify", "limit_value": 0}, headers=sent
    )
    assert violated(bad) == {"limit_value"}
    ok = await client.post(
        f"/environments/{env}", json={"limitMode": "notify", "limitValue": 5000}, headers=sent
    )
    assert (ok.json()["data"]["limit_mode"], ok.json()["data"]["limit_value"]) == ("notify", 5000)
    off = await client.post(f"/environments/{env}", json={"limit_mode": "none"}, headers=sent)
    assert (off.json()["data"]["limit_mode"], off.json()["data"]["limit_value"]) == ("none", None)


@pytest.mark.parametrize("status", [422, 400])
async def test_api_key_rate_limit_and_description_refusals_come_as_422_or_400(
    client: httpx.AsyncClient, server: StandInServer, status: int
) -> None:
    server.fake.faults.key_validation_status = status
    key_id = await first_id(client, "/api-keys")
    refused = await client.patch(
        f"/api-keys/{key_id}", json={"rate_limit": 0.05, "description": "ab"}
    )
    assert refused.status_code == status
    assert {v["property"] for v in refused.json()["error"]["violations"]} == {
        "rate_limit",
        "description",
    }
    if status == 400:
        assert refused.json()["error"]["code"] == "general.bad-request"
        assert "can't be updated" in refused.json()["error"]["message"]
    accepted = await client.patch(
        f"/api-keys/{key_id}", json={"rate_limit": 0.1, "description": "Slow on purpose"}
    )
    assert accepted.json()["data"]["rateLimit"] == 0.1


# --------------------------------------------------------------------------------------------
# Casing knob, plan limits as given, and outside changes


async def test_the_camel_case_knob_answers_everything_in_camel_case(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.camel_case = True
    for version in (V2024, V2025):
        body = (await client.get("/environments", headers={"X-API-Version": version})).json()
        assert {"createdAt", "limitMode"} <= body["data"][0].keys()
        assert body["metadata"]["pagination"].keys() == {"nextCursor", "prevCursor"}
    keys = (await client.get("/encryption-keys", headers=V2025_HEADERS)).json()["data"]
    assert {"nextToken", "lastRotatedAt"} <= keys[0].keys()


async def test_the_terse_creates_knob_answers_a_key_create_as_the_cli_fixtures_do(
    client: httpx.AsyncClient, server: StandInServer
) -> None:
    server.fake.faults.terse_creates = True
    answer = await client.post(
        "/api-keys", json={"type": "secret", "name": "Billing"}, headers=V2025_HEADERS
    )
    assert answer.status_code == 201
    assert answer.json()["data"].keys() == {"id", "type", "status", "token"}


async def test_plan_limits_can_be_given_as_the_plan_has_them() -> None:
    from sandbox.fingerprint import PlanLimits

    fake = FakeFingerprint(plan_limits=PlanLimits())
    assert fake.workspace.limits == PlanLimits(api_keys=10, webhooks=5, filtering_rules=15)
    assert len(fake.workspace.api_keys) > fake.workspace.limits.api_keys  # the seed exceeds it


OUTSIDE_CHANGES = [
    ("rename an environment", "environments", "update", 2, {"name": "Renamed in dashboard"}),
    ("enable a key", "api-keys", "update", 3, {"status": "enabled"}),
    ("unverify a webhook", "webhooks", "set", 0, {"verified": False}),
    ("disable a rule", "filtering-rules", "update", 0, {"status": "disabled"}),
    ("activate an encryption key", "encryption-keys", "update", 9, {"status": "enabled"}),
    ("time a subdomain out", "subdomains", "set", 1, {"status": "timed_out"}),
]


@pytest.mark.parametrize(
    ("resource", "op", "index", "fields"),
    [c[1:] for c in OUTSIDE_CHANGES],
    ids=[c[0] for c in OUTSIDE_CHANGES],
)
async def test_an_outside_change_edits_the_workspace_without_auth_or_a_trace(
    server: StandInServer, resource: str, op: str, index: int, fields: dict[str, Any]
) -> None:
    workspace = server.fake.workspace
    collection = {
        "environments": workspace.environments,
        "api-keys": workspace.api_keys,
        "webhooks": workspace.webhooks,
        "filtering-rules": workspace.expression_rules,
        "encryption-keys": workspace.encryption_keys,
        "subdomains": workspace.subdomains,
    }[resource]
    record_id = list(collection)[index]
    server.fake.faults.force_429 = 5  # an outside change is not an API call
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post(
            "/_sandbox/outside-change",
            json={"resource": resource, "op": op, "id": record_id, "fields": fields},
        )
    assert answer.status_code == 200, answer.text
    for name, value in fields.items():
        assert answer.json()["data"][name] == value
        assert getattr(collection[record_id], name) == value
    assert server.fake.count() == 0 and server.fake.faults.force_429 == 5


async def test_outside_changes_create_delete_rotate_and_refuse_like_the_dashboard(
    server: StandInServer,
) -> None:
    workspace = server.fake.workspace
    async with httpx.AsyncClient(base_url=server.url) as http:

        async def change(**body: Any) -> httpx.Response:
            return await http.post("/_sandbox/outside-change", json=body)

        hook_id = next(iter(workspace.webhooks))
        made = await change(
            resource="api-keys", op="create", fields={"type": "secret", "name": "Dash"}
        )
        assert made.status_code == 200 and "token" not in made.json()["data"]
        assert (
            await change(resource="api-keys", op="delete", id=made.json()["data"]["id"])
        ).json() == {"data": None}
        key_id = next(iter(workspace.encryption_keys))
        rotated = await change(resource="encryption-keys", op="rotate", id=key_id)
        assert rotated.json()["data"]["token"] == workspace.encryption_keys[key_id].token
        prod = environment_ids(server)[0]
        origins = await change(
            resource="origin-rules", op="update", id=prod, fields={"allow": [], "deny": []}
        )
        assert origins.json()["data"]["allow"] == [] and prod not in workspace.origin_rules
        # The same, in process, for tests that hold the fake.
        renamed = server.fake.outside_change("webhooks", "update", hook_id, description="Dash")
        assert renamed["description"] == workspace.webhooks[hook_id].description == "Dash"
        default = await change(resource="environments", op="delete", id=prod)
        assert error_of(default) == (409, "general.conflict")
        invalid = await change(resource="environments", op="update", id=prod, fields={"name": "x"})
        assert violated(invalid) == {"name"}
        assert error_of(await change(resource="planets", op="update", id="x"))[0] == 400
        assert error_of(await change(resource="webhooks", op="set", id="wh_x"))[0] == 404
        hook = next(iter(workspace.webhooks))
        fixed = await change(resource="webhooks", op="set", id=hook, fields={"id": "wh_new"})
        assert error_of(fixed)[0] == 400
        assert error_of(await change(resource="webhooks", op="update"))[0] == 400
        not_json = await http.post("/_sandbox/outside-change", content=b"[1]")
        assert error_of(not_json)[0] == 400


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
        assert faults["limit_status"] == 400
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


async def test_answers_have_the_samples_keys_and_parse_with_the_client_models(
    client: httpx.AsyncClient,
) -> None:
    v2025 = {"X-API-Version": V2025}
    envs = (await client.get("/environments", headers=v2025)).json()
    sample_envs = sample("environments-list-2025.json")
    assert envs.keys() == sample_envs.keys()
    assert envs["data"][0].keys() == sample_envs["data"][0].keys()
    assert envs["metadata"]["pagination"].keys() == sample_envs["metadata"]["pagination"].keys()
    Environment.model_validate(envs["data"][0])

    keys = (await client.get("/api-keys", headers=v2025)).json()
    assert keys["data"][0].keys() == sample("api-keys-list-2025.json")["data"][0].keys()
    created = (
        await client.post("/api-keys", json={"type": "secret", "name": "Shape"}, headers=v2025)
    ).json()
    assert created["data"].keys() == sample("api-key-create-secret-2025.json")["data"].keys()
    assert ApiKey.model_validate(created["data"]).token

    key_id = keys["data"][0]["id"]
    camel = (await client.get(f"/api-keys/{key_id}")).json()["data"]
    assert sample("api-key-item-get-camel.json").keys() <= camel.keys()
    snake = (await client.get("/api-keys")).json()["data"][0]
    assert sample("api-key-item-list-snake.json").keys() <= snake.keys()

    refused = await client.get("/hello", headers={"Authorization": "Bearer nope"})
    assert refused.json() == sample("error-unauthorized.json")


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
