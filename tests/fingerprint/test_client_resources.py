"""The resources added for the whole Management API, against a mock transport: the shapes
each may come in, what is retried and what never is, and the real samples of subdomains."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.fingerprint import (
    PLAN_LIMITS,
    Conflict,
    DnsRecordStatus,
    InvalidResponse,
    NotFound,
    OriginRulesUnreadable,
    PlanLimitReached,
    RuleAction,
    RuleSpec,
    Status,
    SubdomainStatus,
    Unavailable,
    ValidationFailed,
)
from tests.fingerprint.fp_helpers import Recorder, make_client, page, sample

V2024, V2025 = "2024-05-20", "2025-11-20"


# --------------------------------------------------------------------------- origin lists

ORIGIN_SHAPES = {
    "documented list": {
        "data": [
            {"type": "origin", "environment": "ae_2", "allow": ["*"], "deny": ["x.com"]},
            {"type": "origin", "environment": "ae_1", "allow": ["a.com"], "deny": ["*"]},
        ]
    },
    "one object, old names": {
        "data": {"environment": "ae_1", "allowed_origins": ["a.com"], "forbidden_origins": ["*"]}
    },
    "camelCase old names": {"data": {"allowedOrigins": ["a.com"], "forbiddenOrigins": ["*"]}},
}


@pytest.mark.parametrize("body", ORIGIN_SHAPES.values(), ids=ORIGIN_SHAPES.keys())
async def test_origin_lists_read_in_every_shape_seen(body: dict[str, Any]) -> None:
    recorder = Recorder(lambda r: body)
    async with make_client(recorder, api_version=V2024) as client:
        rules = await client.origin_rules("ae_1")
    assert (rules.environment, rules.allow, rules.deny) == ("ae_1", ["a.com"], ["*"])


async def test_an_environment_missing_from_the_answer_has_no_origin_rules() -> None:
    recorder = Recorder(lambda r: {"data": [{"environment": "ae_9", "allow": None, "deny": []}]})
    async with make_client(recorder, api_version=V2024) as client:
        rules = await client.origin_rules("ae_1")
    assert (rules.environment, rules.allow, rules.deny) == ("ae_1", [], [])


async def test_origin_rules_that_are_not_objects_are_an_invalid_response() -> None:
    recorder = Recorder(lambda r: {"data": ["a.com"]})
    async with make_client(recorder, api_version=V2024) as client:
        with pytest.raises(InvalidResponse):
            await client.replace_origin_rules("ae_1", allow=["a.com"], deny=["*"])


@pytest.mark.parametrize("status", [404, 405])
async def test_a_missing_read_route_says_the_rules_cannot_be_read_back(status: int) -> None:
    body = {"error": {"code": "general.not-found", "message": "Route not found"}}
    recorder = Recorder(lambda r: httpx.Response(status, json=body))
    async with make_client(recorder, api_version=V2024) as client:
        with pytest.raises(OriginRulesUnreadable) as caught:
            await client.origin_rules("ae_1")
    assert caught.value.status == status
    assert "cannot read" in caught.value.message
    assert caught.value.correlation_id == recorder.requests[0].headers["X-Request-Id"]
    assert not isinstance(caught.value, NotFound), "not 'no such resource'"


async def test_an_unknown_environment_is_a_validation_failure_not_unreadable_rules() -> None:
    body = sample("error-validation-failed.json")
    recorder = Recorder(lambda r: httpx.Response(422, json=body))
    async with make_client(recorder, api_version=V2024) as client:
        with pytest.raises(ValidationFailed):
            await client.origin_rules("ae_missing")


# ------------------------------------------------------------------------- expression rules

RULES = [
    {"id": "tr_a", "environment": "ae_1", "expression": "true", "action": "allow"},
    {"id": "tr_b", "environment": "ae_2", "expression": "true", "action": "deny"},
    {"id": "tr_c", "environment": "ae_1", "expression": "false", "action": "deny"},
]


async def test_an_unfiltered_listing_gives_each_rule_its_place_in_its_environment() -> None:
    recorder = Recorder(lambda r: {"data": RULES})
    async with make_client(recorder, api_version=V2025) as client:
        rules = await client.list_filtering_rules()
    assert [(r.id, r.position) for r in rules] == [("tr_a", 0), ("tr_b", 0), ("tr_c", 1)]


async def test_a_listing_filtered_by_status_or_name_gives_no_positions() -> None:
    recorder = Recorder(lambda r: {"data": RULES[2:]})
    async with make_client(recorder, api_version=V2025) as client:
        rules = await client.list_filtering_rules(status=Status.ENABLED)
    assert [r.position for r in rules] == [None]


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"result": "deny", "deny_with": "Forbidden", "triggered_rule": "true"}},
        {"result": "deny", "deny_with": "Forbidden", "triggered_rule": "true"},
        {"data": {"result": "deny", "denyWith": "Forbidden", "triggeredRule": "true"}},
    ],
    ids=["under data (docs)", "top level (MCP)", "camelCase"],
)
async def test_a_rule_test_result_reads_under_data_or_at_the_top(body: dict[str, Any]) -> None:
    recorder = Recorder(lambda r: body)
    async with make_client(recorder, api_version=V2025) as client:
        result = await client.test_filtering_rules(environment="ae_1", test_request_id="req_1")
    assert (result.result, result.deny_with, result.triggered_rule) == (
        RuleAction.DENY,
        "Forbidden",
        "true",
    )


async def test_a_rule_test_with_no_match_allows() -> None:
    body = {"data": {"result": "allow", "deny_with": None, "triggered_rule": None}}
    recorder = Recorder(lambda r: body)
    async with make_client(recorder, api_version=V2025) as client:
        result = await client.test_filtering_rules(environment="ae_1", test_request_id="req_1")
    assert result.result is RuleAction.ALLOW and result.triggered_rule is None


# ---------------------------------------------------------------------------- retries

OK = {"data": {"id": "x_1", "name": "n", "url": "https://e.com", "subdomain": "a.b.c"}}
RESULT = {"data": {"result": "allow", "deny_with": None, "triggered_rule": None}}
ORIGINS = {"data": [{"environment": "ae_1", "allow": [], "deny": []}]}


def failing_once(status: int, answer: Any = OK) -> Recorder:
    answers = [httpx.Response(status)]
    return Recorder(lambda r: answers.pop(0) if answers else answer)


NEVER_RETRIED = {
    "rotate encryption key": lambda c: c.rotate_encryption_key("tok_1"),
    "revert encryption key": lambda c: c.revert_encryption_key("tok_1"),
    "create subdomain": lambda c: c.create_subdomain("fp.example.com"),
    "delete subdomain": lambda c: c.delete_subdomain("certv2_1"),
    "create rule": lambda c: c.create_filtering_rule(
        name="r", environment="ae_1", expression="true", action=RuleAction.DENY
    ),
    "delete rule": lambda c: c.delete_filtering_rule("tr_1"),
    "bulk rules": lambda c: c.bulk_filtering_rules(
        "ae_1", [RuleSpec("r", "true", RuleAction.DENY)], mode="overwrite"
    ),
}
RETRIED: dict[str, tuple[Any, str, Any]] = {
    "update encryption key": (
        lambda c: c.update_encryption_key("tok_1", status=Status.ENABLED),
        V2025,
        OK,
    ),
    "update rule": (lambda c: c.update_filtering_rule("tr_1", status=Status.DISABLED), V2025, OK),
    "verify subdomain": (lambda c: c.verify_subdomain("certv2_1"), V2025, OK),
    "verify webhook": (lambda c: c.verify_webhook("wh_1"), V2024, OK),
    "test rules": (
        lambda c: c.test_filtering_rules(environment="ae_1", test_request_id="r"),
        V2025,
        RESULT,
    ),
    "list encryption keys": (lambda c: c.list_encryption_keys(), V2025, page([])),
    "get subdomain": (lambda c: c.get_subdomain("certv2_1"), V2025, OK),
    "replace origin lists": (
        lambda c: c.replace_origin_rules("ae_1", allow=[], deny=[]),
        V2024,
        ORIGINS,
    ),
    "patch origin lists": (
        lambda c: c.patch_origin_rules("ae_1", permission="deny", op="remove", items=["x"]),
        V2024,
        ORIGINS,
    ),
}


@pytest.mark.parametrize("call", NEVER_RETRIED.values(), ids=NEVER_RETRIED.keys())
async def test_creates_deletes_rotations_and_bulk_writes_are_never_retried_after_a_5xx(
    call: Any,
) -> None:
    recorder = failing_once(503)
    async with make_client(recorder, api_version=V2025) as client:
        with pytest.raises(Unavailable):
            await call(client)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("call", "version", "answer"), RETRIED.values(), ids=RETRIED.keys())
async def test_reads_absolute_updates_and_harmless_repeats_are_retried_after_a_5xx(
    call: Any, version: str, answer: Any
) -> None:
    recorder = failing_once(502, answer)
    async with make_client(recorder, api_version=version) as client:
        await call(client)
    assert len(recorder.requests) == 2


async def test_a_rotation_drops_the_cached_encryption_key_listing() -> None:
    key = {"id": "tok_1", "name": "k", "status": "enabled", "token": "enc_current_token"}
    recorder = Recorder(lambda r: page([key]) if r.method == "GET" else {"data": key})
    async with make_client(recorder, api_version=V2025, cache_ttl=60) as client:
        await client.list_encryption_keys()
        await client.list_encryption_keys()
        await client.rotate_encryption_key("tok_1")
        await client.list_encryption_keys()
    assert [r.method for r in recorder.requests] == ["GET", "POST", "GET"]


# ---------------------------------------------------------------------------- subdomains


async def test_the_subdomain_sample_walks_to_its_second_page() -> None:
    second = {
        "data": [{"id": "certv2_2", "subdomain": "fp.example.org", "status": "active"}],
        "metadata": {"pagination": {"next_cursor": None, "prev_cursor": "page-1"}},
    }
    recorder = Recorder(
        lambda r: (
            second if r.url.params.get("cursor") else sample("list-page1-of-2-subdomains-2025.json")
        )
    )
    async with make_client(recorder, api_version=V2025) as client:
        subdomains = await client.list_subdomains()
    assert [(s.id, s.status) for s in subdomains] == [
        ("certv2_1234567890abcd", SubdomainStatus.PENDING),
        ("certv2_2", SubdomainStatus.ACTIVE),
    ]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "page-2"]
    assert subdomains[0].dns_records is None and subdomains[0].updated_at is not None


async def test_a_full_subdomain_reads_its_dns_records() -> None:
    full = {
        "id": "certv2_1",
        "subdomain": "metrics.example.com",
        "status": "pending",
        "webhook_url": None,
        "dns_records": {
            "verification": {
                "type": "CNAME",
                "host": "_acme-challenge.metrics.example.com",
                "value": "validation.fpjs.io",
                "status": "validated",
            },
            "routing": [
                {
                    "type": "A",
                    "host": "metrics.example.com",
                    "value": "1.2.3.4",
                    "status": "pending_validation",
                }
            ],
        },
    }
    recorder = Recorder(lambda r: {"data": full})
    async with make_client(recorder, api_version=V2025) as client:
        subdomain = await client.get_subdomain("certv2_1")
    records = subdomain.dns_records
    assert records is not None and records.verification is not None
    assert records.verification.status is DnsRecordStatus.VALIDATED
    assert [r.status for r in records.routing] == [DnsRecordStatus.PENDING_VALIDATION]
    assert records.caa is None


@pytest.mark.parametrize("status", [400, 409])
async def test_the_subdomain_limit_is_a_plan_limit_as_400_or_409(status: int) -> None:
    recorder = Recorder(
        lambda r: httpx.Response(status, json=sample("error-limit-reached-400.json"))
    )
    async with make_client(recorder, api_version=V2025) as client:
        with pytest.raises(PlanLimitReached):
            await client.create_subdomain("fp.example.com")


async def test_a_duplicate_subdomain_is_a_conflict_not_a_plan_limit() -> None:
    body = {"error": {"code": "general.conflict", "message": "Subdomain already exists"}}
    recorder = Recorder(lambda r: httpx.Response(409, json=body))
    async with make_client(recorder, api_version=V2025) as client:
        with pytest.raises(Conflict) as caught:
            await client.create_subdomain("fp.example.com")
    assert not isinstance(caught.value, PlanLimitReached)


async def test_an_invalid_subdomain_names_the_property_and_hides_the_key() -> None:
    recorder = Recorder(lambda r: httpx.Response(422, json=sample("error-validation-failed.json")))
    async with make_client(recorder, api_version=V2025) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.create_subdomain("mgmt_key_1")
    assert [v.property for v in caught.value.violations] == ["subdomain"]


def test_the_default_plan_limits_are_the_documented_ones() -> None:
    assert (PLAN_LIMITS.api_keys, PLAN_LIMITS.webhooks, PLAN_LIMITS.filtering_rules) == (
        10,
        5,
        15,
    )
    assert PLAN_LIMITS.subdomains == 50
