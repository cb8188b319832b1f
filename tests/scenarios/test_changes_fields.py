"""Fields nobody could set before, under both Management API versions: an environment's
monthly usage limit, an API key's rate limit and description, a webhook's status at creation,
its URL, description and environment, and its verification — each a change request from the
command to what the stand-in holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain import State
from sandbox.fingerprint import FakeFingerprint
from tests.scenarios.change_helpers import APPROVER_1, FAST_SETTINGS, Desk, everything
from tests.scenarios.conftest import BOTH_VERSIONS, StackFactory

#: Every scenario here runs under both Management API versions.
pytestmark = BOTH_VERSIONS


@pytest.fixture
async def desk(make_stack: StackFactory) -> AsyncIterator[Desk]:
    async with make_stack(**FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


def env_id(fp: FakeFingerprint, name: str) -> str:
    return next(e.id for e in fp.workspace.environments.values() if e.name == name)


def key_named(fp: FakeFingerprint, name: str) -> str:
    return next(k.id for k in fp.workspace.api_keys.values() if k.name == name)


async def approved(desk: Desk, request_id: str) -> State:
    await desk.click(request_id, user=APPROVER_1)
    return (await desk.settled(request_id)).state


async def test_an_environments_usage_limit_is_set_and_lifted(desk: Desk) -> None:
    fp = desk.fingerprint
    staging = fp.workspace.environments[env_id(fp, "Staging")]
    request_id = await desk.request("envs limit Staging notify 250000")
    card = everything(desk.approval(request_id))
    assert "no limit" in card and "notify at 250,000 requests a month" in card
    assert await approved(desk, request_id) is State.SUCCEEDED
    assert (staging.limit_mode, staging.limit_value) == ("notify", 250000)
    assert fp.count(method="POST", path=f"/environments/{staging.id}") == 1

    lifted = await desk.request(f"envs limit {staging.id} none")
    assert await approved(desk, lifted) is State.SUCCEEDED
    assert staging.limit_mode == "none"
    same = await desk.command(f"envs limit {staging.id} none")
    assert "already has no limit" in same


async def test_a_limit_without_its_number_is_a_usage_error(desk: Desk) -> None:
    answer = await desk.command("envs limit Staging restrict")
    assert "needs the number of requests per month" in answer
    assert "envs limit &lt;env_id&gt;" in answer


async def test_an_api_keys_rate_limit_and_description_are_changed(desk: Desk) -> None:
    fp = desk.fingerprint
    key = fp.workspace.api_keys[key_named(fp, "Backend events")]
    limited = await desk.request(f"keys rate-limit {key.id} 2.5")
    assert "2.5 requests/second" in everything(desk.approval(limited))
    assert await approved(desk, limited) is State.SUCCEEDED
    assert key.rate_limit == 2.5

    described = await desk.request(f"keys describe {key.id} Feeds the events pipeline")
    assert await approved(desk, described) is State.SUCCEEDED
    assert key.description == "Feeds the events pipeline"
    assert fp.count(method="PATCH", path=f"/api-keys/{key.id}") == 2

    too_slow = await desk.command(f"keys rate-limit {key.id} 0.01")
    assert "0.1" in too_slow


async def test_a_key_is_created_with_its_description(desk: Desk) -> None:
    fp = desk.fingerprint
    request_id = await desk.request("keys create public Landing pages --description For the CMS")
    assert await approved(desk, request_id) is State.SUCCEEDED
    made = fp.workspace.api_keys[key_named(fp, "Landing pages")]
    assert made.description == "For the CMS"


async def test_a_webhook_is_created_disabled_then_moved_and_verified(desk: Desk) -> None:
    fp = desk.fingerprint
    url = "https://hooks.example.net/later"
    created = await desk.request(f"webhooks create {url} --status disabled")
    assert await approved(desk, created) is State.SUCCEEDED
    hook = next(h for h in fp.workspace.webhooks.values() if h.url == url)
    assert hook.status == "disabled"

    staging = env_id(fp, "Staging")
    moved = await desk.request(
        f"webhooks update {hook.id} --url https://hooks.example.net/now "
        "--description Moved to the new host --env Staging"
    )
    card = everything(desk.approval(moved))
    assert "https://hooks.example.net/now" in card and "Staging" in card
    assert await approved(desk, moved) is State.SUCCEEDED
    assert (hook.url, hook.description, hook.environment) == (
        "https://hooks.example.net/now",
        "Moved to the new host",
        staging,
    )
    nothing = await desk.command(f"webhooks update {hook.id} --env Staging")
    assert "nothing would change" in nothing

    verified = await desk.request(f"webhooks verify {hook.id}")
    assert await approved(desk, verified) is State.SUCCEEDED
    assert fp.count(method="POST", path=f"/webhooks/{hook.id}/verification") == 1
    assert "verified" in everything(desk.thread(verified)[-1])
