"""The client against the stand-in Management API over real loopback HTTP: every resource in
both API versions (a resource of one version only is refused unsent under the other), both
casings, the errors the API really sends, plan limits, faults, and the rate budget as the
server counts it."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.fingerprint import (
    DENY_WITH_FORBIDDEN,
    Conflict,
    DnsRecordStatus,
    Environment,
    KeyType,
    LimitMode,
    ManagementClient,
    NotFound,
    OriginRulesUnreadable,
    Placement,
    PlanLimitReached,
    RateLimited,
    RuleAction,
    RuleSpec,
    SampleRequest,
    Status,
    SubdomainStatus,
    Timeout,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WrongApiVersion,
)
from bot.log import REDACTED, scrub
from sandbox.fingerprint import FakeFingerprint, StandInServer

V2024, V2025 = "2024-05-20", "2025-11-20"
VERSIONS = [V2024, V2025]


@pytest.fixture
async def fast_api() -> AsyncIterator[StandInServer]:
    """A stand-in whose rate limit does not get in the way of functional tests."""
    fake = FakeFingerprint(rate_limit=1000.0, burst=1000, environments=32, seed=1)
    async with StandInServer(fake) as api:
        yield api


@pytest.fixture
async def api() -> AsyncIterator[StandInServer]:
    """The stand-in as the real API: 5 requests/s per key, bursts of 5."""
    fake = FakeFingerprint(rate_limit=5.0, burst=5, environments=32, seed=1)
    async with StandInServer(fake) as server:
        yield server


def client_for(api: StandInServer, **options: Any) -> ManagementClient:
    options.setdefault("rate_limit", 1000.0)
    options.setdefault("retry_budget", 3.0)
    return ManagementClient(api_key=api.key, base_url=api.url, **options)


@pytest.mark.parametrize("version", VERSIONS)
async def test_environments_lifecycle(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version, page_size=10) as client:
        envs = await client.list_environments()
        assert len(envs) == 32 and len({e.id for e in envs}) == 32
        assert fast_api.fake.count("GET", "/environments") == 4
        created = await client.create_environment("Staging EU", description="for tests")
        assert isinstance(created, Environment) and created.description == "for tests"
        renamed = await client.update_environment(created.id, name="Staging EU 2")
        assert renamed.name == "Staging EU 2"
        assert fast_api.fake.count("POST", f"/environments/{created.id}") == 1
        assert "Staging EU 2" in {e.name for e in await client.list_environments()}
        await client.delete_environment(created.id)
        assert created.id not in {e.id for e in await client.list_environments()}
        with pytest.raises(NotFound):
            await client.delete_environment(created.id)


@pytest.mark.parametrize("version", VERSIONS)
async def test_api_keys_lifecycle_reads_both_casings(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version) as client:
        keys = await client.list_api_keys()
        secrets_enabled = await client.list_api_keys(type=KeyType.SECRET, status=Status.ENABLED)
        assert secrets_enabled and all(
            k.type is KeyType.SECRET and k.status is Status.ENABLED for k in secrets_enabled
        )
        # 2024-05-20 answers single keys in camelCase: the model reads them all the same.
        got = await client.get_api_key(keys[0].id)
        assert got.rate_limit == keys[0].rate_limit and got.created_at == keys[0].created_at
        env = (await client.list_environments())[0]
        created = await client.create_api_key(
            type=KeyType.SECRET, name="CI key", environment=env.id
        )
        assert created.token and created.environment == env.id
        updated = await client.update_api_key(created.id, status=Status.DISABLED, rate_limit=2.5)
        assert updated.status is Status.DISABLED and updated.rate_limit == 2.5
        await client.delete_api_key(created.id)
        with pytest.raises(NotFound):
            await client.get_api_key(created.id)


@pytest.mark.parametrize("version", VERSIONS)
async def test_webhooks_lifecycle(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version) as client:
        before = await client.list_webhooks()
        hook = await client.create_webhook(url="https://example.com/fp", description="alerts")
        assert hook.signing_key
        assert (await client.get_webhook(hook.id)).url == "https://example.com/fp"
        await client.verify_webhook(hook.id)
        assert fast_api.fake.count("POST", f"/webhooks/{hook.id}/verification") == 1
        disabled = await client.update_webhook(hook.id, status=Status.DISABLED)
        assert disabled.status is Status.DISABLED
        assert len(await client.list_webhooks()) == len(before) + 1
        assert hook.id in {h.id for h in await client.list_webhooks(status=Status.DISABLED)}
        await client.delete_webhook(hook.id)
        assert len(await client.list_webhooks()) == len(before)


@pytest.mark.parametrize("version", VERSIONS)
async def test_origin_lists_of_2024_05_20(fast_api: StandInServer, version: str) -> None:
    fake = fast_api.fake
    prod, _, env, *_ = fake.workspace.environments
    async with client_for(fast_api, api_version=version) as client:
        if version == V2025:
            for call in (
                client.origin_rules(env),
                client.replace_origin_rules(env, allow=["a.example"], deny=["*"]),
                client.patch_origin_rules(env, permission="deny", op="add", items=["x"]),
            ):
                with pytest.raises(WrongApiVersion):
                    await call
            assert fake.count() == 0
            return
        seeded = await client.origin_rules(prod)
        assert seeded.allow == ["*"] and "https://evil.example" in seeded.deny
        assert (await client.origin_rules(env)).allow == []
        rules = await client.replace_origin_rules(env, allow=["https://a.example"], deny=["*"])
        assert (rules.type, rules.environment) == ("origin", env)
        assert (rules.allow, rules.deny) == (["https://a.example"], ["*"])
        rules = await client.patch_origin_rules(
            env, permission="allow", op="add", items=["https://c.example"]
        )
        assert rules.allow == ["https://a.example", "https://c.example"]
        rules = await client.patch_origin_rules(
            env, permission="allow", op="remove", items=["https://a.example", "https://c.example"]
        )
        assert (rules.allow, rules.deny) == ([], [])
        assert (await client.origin_rules(env)) == rules
        with pytest.raises(ValidationFailed) as caught:
            await client.replace_origin_rules(env, allow=["a.example"], deny=[])
        assert {v.property for v in caught.value.violations} == {"deny"}
        with pytest.raises(ValidationFailed):
            await client.origin_rules("ae_missing")
        fake.faults.origin_rules_unreadable = True
        with pytest.raises(OriginRulesUnreadable) as unreadable:
            await client.origin_rules(env)
        assert unreadable.value.status == 404


@pytest.mark.parametrize("version", VERSIONS)
async def test_expression_rules_of_2025_11_20(fast_api: StandInServer, version: str) -> None:
    fake = fast_api.fake
    prod, _, _, qa, *_ = fake.workspace.environments
    async with client_for(fast_api, api_version=version) as client:
        if version == V2024:
            with pytest.raises(WrongApiVersion):
                await client.list_filtering_rules()
            with pytest.raises(WrongApiVersion):
                await client.test_filtering_rules(environment=prod, test_request_id="x")
            assert fake.count() == 0
            return
        before = await client.list_filtering_rules()
        assert [(r.environment, r.position) for r in before] == [(prod, 0), (prod, 1), (qa, 0)]
        first = await client.create_filtering_rule(
            name="Deny curl",
            environment=prod,
            expression='http.user_agent.string startsWith "curl/"',
            action=RuleAction.DENY,
            placement=Placement(position=0),
        )
        assert first.deny_with == DENY_WITH_FORBIDDEN and first.status is Status.ENABLED
        listed = await client.list_filtering_rules(environment=prod)
        assert (listed[0].id, listed[0].position) == (first.id, 0)
        assert (await client.get_filtering_rule(first.id)).expression.startswith("http.user")
        moved = await client.update_filtering_rule(
            first.id, name="Deny curl and wget", placement=Placement(after=listed[-1].id)
        )
        assert moved.name == "Deny curl and wget" and moved.updated_at is not None
        assert (await client.list_filtering_rules(environment=prod))[-1].position == 2
        assert [r.name for r in await client.list_filtering_rules(name="CURL")] == [moved.name]
        disabled = await client.list_filtering_rules(status=Status.DISABLED)
        assert disabled == []
        merged = await client.bulk_filtering_rules(
            qa,
            [
                RuleSpec("Allow the QA app", "sdk.platform.is_android", RuleAction.ALLOW),
                RuleSpec("Deny the rest", "true", RuleAction.DENY, deny_with="Forbidden"),
            ],
        )
        assert [r.name for r in merged] == ["Allow the QA app", "Deny the rest"]
        assert len(await client.list_filtering_rules(environment=qa)) == 2
        crawler = await client.test_filtering_rules(
            environment=prod, test_request_id="1708102555327.NLOjmg"
        )
        assert crawler.result is RuleAction.DENY and crawler.deny_with == "Forbidden"
        curl = await client.test_filtering_rules(
            environment=prod, request=SampleRequest(ip="198.51.100.1", user_agent="curl/8.5")
        )
        assert (curl.result, curl.triggered_rule) == (RuleAction.DENY, moved.expression)
        proposed = await client.test_filtering_rules(
            rules=[RuleSpec("Only iOS", "sdk.platform.is_ios", RuleAction.ALLOW)],
            request=SampleRequest(sdk_platform="android", headers={"User-Agent": ["okhttp"]}),
        )
        assert (proposed.result, proposed.triggered_rule) == (RuleAction.ALLOW, None)
        fake.faults.bare_test_result = True
        bare = await client.test_filtering_rules(
            environment=qa, test_request_id="1708102555329.aNdr01"
        )
        assert bare.result is RuleAction.ALLOW and bare.triggered_rule == "sdk.platform.is_android"
        replaced = await client.bulk_filtering_rules(
            qa, [RuleSpec("Only", "false", RuleAction.DENY)], mode="overwrite"
        )
        assert [r.name for r in await client.list_filtering_rules(environment=qa)] == ["Only"]
        await client.delete_filtering_rule(replaced[0].id)
        with pytest.raises(NotFound):
            await client.get_filtering_rule(replaced[0].id)
        with pytest.raises(ValidationFailed) as caught:
            await client.create_filtering_rule(
                name="Broken",
                environment=prod,
                expression="country == 'FR'",
                action=RuleAction.DENY,
            )
        assert [v.property for v in caught.value.violations] == ["expression"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_encryption_keys_of_2025_11_20(
    fast_api: StandInServer, version: str, log_stream: io.StringIO
) -> None:
    fake = fast_api.fake
    async with client_for(fast_api, api_version=version, page_size=10) as client:
        if version == V2024:
            with pytest.raises(WrongApiVersion):
                await client.list_encryption_keys()
            with pytest.raises(WrongApiVersion):
                await client.rotate_encryption_key("tok_x")
            assert fake.count() == 0
            return
        keys = await client.list_encryption_keys()
        assert len(keys) == 32 and fake.count("GET", "/encryption-keys") == 4
        enabled = await client.list_encryption_keys(status=Status.ENABLED)
        assert len(enabled) == 2 and all(k.status is Status.ENABLED for k in enabled)
        key = keys[5]
        assert key.token and key.next_token and key.previous_token is None
        activated = await client.update_encryption_key(
            key.id, status=Status.ENABLED, description="Sealed results"
        )
        assert activated.status is Status.ENABLED and activated.last_activated_at is not None
        rotated = await client.rotate_encryption_key(key.id)
        assert (rotated.previous_token, rotated.token) == (key.token, key.next_token)
        reverted = await client.revert_encryption_key(key.id)
        assert (reverted.token, reverted.next_token) == (key.token, key.next_token)
        with pytest.raises(Conflict):
            await client.revert_encryption_key(key.id)
        assert (await client.get_encryption_key(key.id)).token == key.token
        with pytest.raises(NotFound):
            await client.get_encryption_key("tok_missing")
    tokens = {t for k in keys for t in (k.token, k.next_token, k.previous_token) if t}
    tokens |= {rotated.next_token or ""}
    output = log_stream.getvalue() + repr(keys) + repr(rotated) + str(rotated.model_dump())
    assert not [t for t in tokens if t in output]
    assert all(scrub(t) == REDACTED for t in tokens)


@pytest.mark.parametrize("version", VERSIONS)
async def test_subdomains_of_2025_11_20(
    fast_api: StandInServer, version: str, log_stream: io.StringIO
) -> None:
    fake = fast_api.fake
    async with client_for(fast_api, api_version=version, page_size=1) as client:
        if version == V2024:
            with pytest.raises(WrongApiVersion):
                await client.create_subdomain("fp.example.net")
            assert fake.count() == 0
            return
        seeded = await client.list_subdomains()
        assert [s.status for s in seeded] == [SubdomainStatus.ACTIVE, SubdomainStatus.PENDING]
        assert fake.count("GET", "/subdomains") == 2
        created = await client.create_subdomain("fp.shop.example.net")
        assert created.id.startswith("certv2_") and created.webhook_secret
        assert created.dns_records is not None and created.dns_records.caa is not None
        routing = created.dns_records.routing
        assert [r.status for r in routing] == [DnsRecordStatus.PENDING_VALIDATION]
        verified = await client.verify_subdomain(created.id)
        assert verified.status is SubdomainStatus.ACTIVE and verified.webhook_secret is None
        assert (await client.get_subdomain(created.id)).status is SubdomainStatus.ACTIVE
        with pytest.raises(Conflict):
            await client.create_subdomain("fp.shop.example.net")
        with pytest.raises(ValidationFailed) as caught:
            await client.create_subdomain("not a host")
        assert [v.property for v in caught.value.violations] == ["subdomain"]
        await client.delete_subdomain(created.id)
        with pytest.raises(NotFound):
            await client.get_subdomain(created.id)
        fake.faults.subdomains_disabled = True
        fake.clear_requests()
        with pytest.raises(Unavailable):
            await client.create_subdomain("fp.other.example.net")
        assert fake.count() == 1, "a create is not retried after a 503"
    secret = created.webhook_secret
    assert secret not in log_stream.getvalue() + repr(created) + str(created.model_dump())
    assert scrub(secret) == REDACTED


@pytest.mark.parametrize("version", VERSIONS)
async def test_environment_limits_in_both_versions(fast_api: StandInServer, version: str) -> None:
    async with client_for(fast_api, api_version=version) as client:
        env = await client.create_environment(
            "Capped", limit_mode=LimitMode.RESTRICT, limit_value=1000
        )
        assert (env.limit_mode, env.limit_value) == (LimitMode.RESTRICT, 1000)
        env = await client.update_environment(env.id, limit_mode=LimitMode.NOTIFY, limit_value=5)
        assert (env.limit_mode, env.limit_value) == (LimitMode.NOTIFY, 5)
        env = await client.update_environment(env.id, limit_mode=LimitMode.NONE)
        assert (env.limit_mode, env.limit_value) == (LimitMode.NONE, None)
        with pytest.raises(ValidationFailed) as caught:
            await client.update_environment(env.id, limit_mode=LimitMode.RESTRICT)
        assert [v.property for v in caught.value.violations] == ["limit_value"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("status", [422, 400])
async def test_api_key_rate_limit_and_description_in_both_versions(
    fast_api: StandInServer, version: str, status: int
) -> None:
    fast_api.fake.faults.key_validation_status = status
    async with client_for(fast_api, api_version=version) as client:
        key = (await client.list_api_keys())[0]
        updated = await client.update_api_key(key.id, rate_limit=0.5, description="Half a request")
        assert (updated.rate_limit, updated.description) == (0.5, "Half a request")
        with pytest.raises(ValidationFailed) as caught:
            await client.update_api_key(key.id, rate_limit=0.01)
    assert caught.value.status == status
    assert [v.property for v in caught.value.violations] == ["rate_limit"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_webhook_status_environment_and_verification_in_both_versions(
    fast_api: StandInServer, version: str
) -> None:
    staging = list(fast_api.fake.workspace.environments)[1]
    async with client_for(fast_api, api_version=version) as client:
        hook = await client.create_webhook(
            url="https://hooks.example.net/fp", status=Status.DISABLED
        )
        assert hook.status is Status.DISABLED and hook.verified is False
        moved = await client.update_webhook(hook.id, environment=staging, status=Status.ENABLED)
        assert moved.environment == staging and moved.last_enabled_at is not None
        verified = await client.verify_webhook(hook.id)
        assert verified is not None and verified.verified is True
        await client.update_webhook(hook.id, url="https://gone.invalid/fp")
        failed = await client.verify_webhook(hook.id)
        assert failed is not None and failed.verified is False


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_answer_reads_the_same_in_camel_case(
    fast_api: StandInServer, version: str
) -> None:
    async def snapshot() -> list[Any]:
        async with client_for(fast_api, api_version=version, cache_ttl=0, page_size=7) as client:
            taken: list[Any] = [
                await client.list_environments(),
                await client.list_api_keys(),
                await client.list_webhooks(),
            ]
            if version == V2024:
                prod = taken[0][0].id
                taken.append(await client.origin_rules(prod))
            else:
                taken.append(await client.list_filtering_rules())
                keys = await client.list_encryption_keys()
                taken += [[k.model_dump() | {"token": k.token} for k in keys]]
                taken.append(await client.list_subdomains())
                taken.append(await client.get_subdomain(taken[-1][0].id))
                taken.append(
                    await client.test_filtering_rules(
                        environment=taken[0][0].id, test_request_id="1708102555327.NLOjmg"
                    )
                )
            return taken

    snake = await snapshot()
    fast_api.fake.faults.camel_case = True
    assert await snapshot() == snake


@pytest.mark.parametrize("limit_status", [400, 409])
async def test_every_plan_limit_is_recognised_as_400_or_409(
    fast_api: StandInServer, limit_status: int
) -> None:
    fake = fast_api.fake
    fake.faults.limit_status = limit_status
    limits = fake.workspace.limits
    limits.api_keys, limits.webhooks = len(fake.workspace.api_keys), len(fake.workspace.webhooks)
    limits.filtering_rules = len(fake.workspace.expression_rules)
    limits.subdomains = len(fake.workspace.subdomains)
    prod = next(iter(fake.workspace.environments))
    async with client_for(fast_api, api_version=V2025) as client:
        calls = [
            client.create_api_key(type=KeyType.PUBLIC, name="One more"),
            client.create_webhook(url="https://one.more.example/hook"),
            client.create_filtering_rule(
                name="One more", environment=prod, expression="true", action=RuleAction.DENY
            ),
            client.create_subdomain("fp.one.more.example"),
        ]
        for call in calls:
            with pytest.raises(PlanLimitReached) as caught:
                await call
            assert caught.value.status == limit_status
            assert "Max limit for" in caught.value.message


async def test_an_outside_change_is_seen_by_the_next_read(fast_api: StandInServer) -> None:
    async with (
        client_for(fast_api, cache_ttl=0) as client,
        httpx.AsyncClient(base_url=fast_api.url) as admin,
    ):
        env = (await client.list_environments())[3]
        await admin.post(
            "/_sandbox/outside-change",
            json={
                "resource": "environments",
                "op": "update",
                "id": env.id,
                "fields": {"name": "Renamed in the dashboard"},
            },
        )
        again = next(e for e in await client.list_environments() if e.id == env.id)
    assert again.name == "Renamed in the dashboard"


async def test_hello_answers(fast_api: StandInServer) -> None:
    async with client_for(fast_api) as client:
        await client.hello()


async def test_a_revoked_key_is_unauthorized(fast_api: StandInServer) -> None:
    fast_api.fake.faults.revoked = True
    async with client_for(fast_api) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.list_environments()
    assert caught.value.code == "general.unauthorized"


async def test_validation_errors_carry_violations(fast_api: StandInServer) -> None:
    async with client_for(fast_api) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.create_webhook(url="http://not-https.example")
    assert caught.value.violations and caught.value.violations[0].property == "url"


@pytest.mark.parametrize("limit_status", [400, 409])
async def test_a_plan_limit_is_recognised_as_400_or_409(
    fast_api: StandInServer, limit_status: int
) -> None:
    fast_api.fake.faults.limit_status = limit_status
    async with client_for(fast_api) as client:
        with pytest.raises(PlanLimitReached) as caught:
            for number in range(20):
                await client.create_webhook(url=f"https://example.com/{number}")
    assert caught.value.status == limit_status


@pytest.mark.parametrize("retry_after", [0.3, None], ids=["Retry-After", "no header"])
async def test_forced_429s_are_retried_until_they_pass(
    fast_api: StandInServer, retry_after: float | None
) -> None:
    fast_api.fake.faults.force_429 = 2
    fast_api.fake.faults.retry_after = retry_after
    async with client_for(fast_api) as client:
        started = time.monotonic()
        await client.hello()
    assert fast_api.fake.rejected_429 == 2 and fast_api.fake.count("GET", "/hello") == 3
    if retry_after is not None:
        assert time.monotonic() - started >= 2 * retry_after


async def test_a_retry_after_longer_than_the_budget_fails_fast(fast_api: StandInServer) -> None:
    fast_api.fake.faults.force_429 = 1
    fast_api.fake.faults.retry_after = 30
    async with client_for(fast_api, retry_budget=10) as client:
        with pytest.raises(RateLimited) as caught:
            await client.hello()
    assert caught.value.retry_after == 30


async def test_a_503_then_success(fast_api: StandInServer) -> None:
    fake = fast_api.fake
    fake.faults.error_rate = 1.0
    fake.faults.error_status = 503

    async def heal() -> None:
        while fake.count(status=503) == 0:  # noqa: ASYNC110 — the fake has no event to wait on
            await asyncio.sleep(0.005)
        fake.reset_faults()

    async with client_for(fast_api) as client:
        _, envs = await asyncio.gather(heal(), client.list_environments())
    assert len(envs) == 32
    assert fake.count(status=503) == 1


async def test_503s_beyond_the_budget_surface_as_unavailable(fast_api: StandInServer) -> None:
    fast_api.fake.faults.error_rate = 1.0
    async with client_for(fast_api, retry_budget=0.5) as client:
        with pytest.raises(Unavailable):
            await client.list_environments()


async def test_a_hanging_server_raises_timeout(fast_api: StandInServer) -> None:
    fast_api.fake.faults.hang = True
    async with client_for(fast_api, timeout=0.3, retry_budget=0) as client:
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            await client.list_environments()
    assert time.monotonic() - started < 1.0
    assert caught.value.operation == "GET /environments"
    fast_api.fake.faults.hang = False


async def test_fifty_concurrent_listings_walk_the_pages_once(fast_api: StandInServer) -> None:
    fast_api.fake.faults.latency = 0.02
    async with client_for(fast_api, page_size=10) as client:
        results = await asyncio.gather(*(client.list_environments() for _ in range(50)))
    assert all(len(r) == 32 for r in results)
    assert fast_api.fake.count("GET", "/environments") == 4


async def test_a_write_invalidates_the_cached_listing(fast_api: StandInServer) -> None:
    async with client_for(fast_api, cache_ttl=60) as client:
        first = await client.list_environments()
        await client.list_environments()
        assert fast_api.fake.count("GET", "/environments") == 1
        created = await client.create_environment("Fresh one")
        after = await client.list_environments()
    assert fast_api.fake.count("GET", "/environments") == 2
    assert len(after) == len(first) + 1 and created.id in {e.id for e in after}


async def test_concurrent_calls_never_exceed_five_per_second(api: StandInServer) -> None:
    """The literal budget: distinct calls (no coalescing) at 5/s, counted by the server."""
    keys = [k.id for k in await _listing_at_full_speed(api)]
    async with client_for(api, rate_limit=5.0) as client:
        await asyncio.gather(*(client.get_api_key(keys[i % len(keys)]) for i in range(12)))
    assert api.fake.rejected_429 == 0
    assert api.fake.max_in_window(1.0) <= 5


async def test_one_hundred_concurrent_calls_stay_under_a_faster_limit() -> None:
    """The same property at 25/s so that 100 calls take 4 s, not 20."""
    fake = FakeFingerprint(rate_limit=25.0, burst=25, environments=32, seed=1)
    async with StandInServer(fake) as api, client_for(api, rate_limit=25.0) as client:
        fake.faults.latency = 0.02
        await asyncio.gather(*(client.hello() for _ in range(100)))
    assert fake.count("GET", "/hello") == 100
    assert fake.rejected_429 == 0
    assert fake.max_in_window(1.0) <= 25


async def _listing_at_full_speed(api: StandInServer) -> list[Any]:
    """Read the keys without spending the budget the test is about to measure."""
    fake = api.fake
    saved = fake.rate_limit, fake.burst
    fake.rate_limit, fake.burst = 1000.0, 1000
    async with client_for(api) as client:
        keys = await client.list_api_keys()
    fake.rate_limit, fake.burst = saved
    fake.clear_requests()
    return keys
