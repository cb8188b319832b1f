"""Secrets created by a change: to the requester, by direct message, once — and nowhere else.

A secret or proxy key's token and a webhook's signing key are shown by Fingerprint only when
they are created. fpbot hands them to the requester privately the moment they arrive and keeps
no copy: not in a channel, a thread, an ephemeral, a log line or the database. If the direct
message cannot be delivered, the new key is disabled and the failure reported, because an
unreachable secret is useless. Everything runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import State
from sandbox.fingerprint import FakeFingerprint
from sandbox.run import BOT_TOKEN, SIGNING_SECRET
from sandbox.slack import FakeSlack
from tests.scenarios.change_helpers import (
    APPROVER_1,
    FAST_SETTINGS,
    REQUESTER,
    Desk,
    button_ids,
    database_holds,
    everything,
    public_messages,
    status_of,
)
from tests.scenarios.conftest import BOTH_VERSIONS, StackFactory

#: Every scenario here runs under both Management API versions.
pytestmark = BOTH_VERSIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fpbot.sqlite3"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def desk(make_stack: StackFactory, database_url: str) -> AsyncIterator[Desk]:
    async with make_stack(database_url=database_url, **FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


UNREACHABLE_HOOK = "https://hooks.example.net/unreachable"


def env_id(fp: FakeFingerprint, name: str) -> str:
    return next(e.id for e in fp.workspace.environments.values() if e.name == name)


def key_named(fp: FakeFingerprint, name: str) -> str:
    return next(k.id for k in fp.workspace.api_keys.values() if k.name == name)


def secrets_of(fp: FakeFingerprint) -> list[str]:
    """Every secret the account holds: secret and proxy tokens, webhook signing keys."""
    tokens = [k.token for k in fp.workspace.api_keys.values() if k.type != "public"]
    return tokens + [h.signing_key for h in fp.workspace.webhooks.values()]


def messages_holding(slack: FakeSlack, secret: str) -> list[str]:
    return [f"{m.channel}/{m.ts}" for m in slack.messages() if secret in everything(m)]


async def nowhere_but_the_dm(desk: Desk, secret: str, database_url: str, logs: io.StringIO) -> None:
    """The secret is in exactly one message, the requester's DM, and in no other place."""
    dm_channel = desk.slack.dm_channel(REQUESTER)
    assert messages_holding(desk.slack, secret) == [
        f"{m.channel}/{m.ts}" for m in desk.slack.dms(REQUESTER) if secret in everything(m)
    ]
    [delivery] = [m for m in desk.slack.dms(REQUESTER) if secret in everything(m)]
    assert delivery.channel == dm_channel
    assert secret not in delivery.text, "the secret is in the notification preview"
    posts = [c for c in desk.slack.calls("chat.postMessage") if secret in str(c.args)]
    assert len(posts) == 1, "the secret was sent more than once"
    assert not any(
        secret in everything(m) for m in public_messages(desk.slack, except_dms_of=[REQUESTER])
    )
    assert secret not in logs.getvalue()
    assert await database_holds(database_url, [secret]) == []


async def test_a_new_secret_keys_token_reaches_the_requester_by_dm_only_once(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    request_id = await desk.request(
        f"keys create secret Billing backend --env {env_id(fp, 'Staging')}"
    )
    await desk.click(request_id, user=APPROVER_1)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    assert fp.count(method="POST", path="/api-keys") == 1
    created = fp.workspace.api_keys[key_named(fp, "Billing backend")]
    assert created.type == "secret" and created.status == "enabled"
    [delivery] = [m for m in desk.slack.dms(REQUESTER) if created.token in everything(m)]
    assert created.id in everything(delivery)
    assert "only time it will be shown" in everything(delivery)
    await nowhere_but_the_dm(desk, created.token, database_url, log_buffer)


async def test_a_new_webhooks_signing_key_reaches_the_requester_by_dm_only_once(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    url = "https://hooks.example.net/billing"
    request_id = await desk.request(f"webhooks create {url}")
    await desk.click(request_id, user=APPROVER_1)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    hook = next(h for h in fp.workspace.webhooks.values() if h.url == url)
    assert hook.status == "enabled"
    await nowhere_but_the_dm(desk, hook.signing_key, database_url, log_buffer)


@pytest.mark.parametrize(
    ("command", "kind"),
    [("keys create proxy Edge proxy", "key"), (f"webhooks create {UNREACHABLE_HOOK}", "webhook")],
    ids=["proxy key", "webhook"],
)
async def test_an_undeliverable_secret_leaves_the_new_key_or_webhook_disabled_and_is_reported(
    desk: Desk, database_url: str, log_buffer: io.StringIO, command: str, kind: str
) -> None:
    fp = desk.fingerprint
    request_id = await desk.request(command)
    desk.slack.faults.fail_dm = True
    await desk.click(request_id, user=APPROVER_1)
    failed = await desk.settled(request_id, dm=False)

    assert failed.state is State.FAILED
    if kind == "key":
        key = fp.workspace.api_keys[key_named(fp, "Edge proxy")]
        made, status, secret, path = key.id, key.status, key.token, "/api-keys"
    else:
        hook = next(h for h in fp.workspace.webhooks.values() if h.url == UNREACHABLE_HOOK)
        made, status, secret, path = hook.id, hook.status, hook.signing_key, "/webhooks"
    assert status == "disabled"
    assert fp.count(method="POST", path=path) == 1
    assert fp.count(method="PATCH", path=f"{path}/{made}") == 1
    assert "could not be delivered" in (failed.error or "")
    assert "unreachable secret is useless" in (failed.error or "")
    assert "*Failed*" in status_of(desk.approval(request_id))
    assert button_ids(desk.approval(request_id)) == []
    [alert] = desk.alerts()
    assert request_id in everything(alert) and "could not be delivered" in everything(alert)
    assert desk.slack.dms(REQUESTER) == []
    assert messages_holding(desk.slack, secret) == []
    assert secret not in log_buffer.getvalue()
    assert await database_holds(database_url, [secret]) == []


async def test_rotating_a_secret_key_replaces_it_in_place_and_disables_the_old_one(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    old = fp.workspace.api_keys[key_named(fp, "Backend events")]
    request_id = await desk.request(f"keys rotate {old.id}")
    await desk.click(request_id, user=APPROVER_1)
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED
    [new] = [k for k in fp.workspace.api_keys.values() if k.name.startswith("Backend events (")]
    assert new.name.startswith("Backend events (rotated ")
    assert (new.type, new.environment, new.status) == ("secret", old.environment, "enabled")
    assert old.status == "disabled"
    assert fp.count(method="POST", path="/api-keys") == 1
    assert fp.count(method="PATCH", path=f"/api-keys/{old.id}") == 1
    assert fp.count(method="PATCH", path=f"/api-keys/{new.id}") == 0
    assert new.id in status_of(desk.approval(request_id))
    await nowhere_but_the_dm(desk, new.token, database_url, log_buffer)


async def test_a_rotation_whose_token_cannot_be_delivered_leaves_the_old_key_working(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    old = fp.workspace.api_keys[key_named(fp, "Dev backend")]
    request_id = await desk.request(f"keys rotate {old.id}")
    desk.slack.faults.fail_dm = True
    await desk.click(request_id, user=APPROVER_1)
    failed = await desk.settled(request_id, dm=False)

    assert failed.state is State.FAILED
    [new] = [k for k in fp.workspace.api_keys.values() if k.name.startswith("Dev backend (")]
    assert new.status == "disabled" and old.status == "enabled"
    assert fp.count(method="PATCH", path=f"/api-keys/{old.id}") == 0
    assert "untouched" in (failed.error or "")
    [alert] = desk.alerts()
    assert request_id in everything(alert)


async def test_no_secret_reaches_a_channel_a_log_line_or_the_database(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    """A morning of changes with secrets, then one scan of everything fpbot wrote."""
    fp = desk.fingerprint
    flows = [
        "keys create secret Reporting export",
        "keys create proxy Edge gateway",
        f"keys rotate {key_named(fp, 'Workspace reporting')}",
        "webhooks create https://hooks.example.net/scan",
        "keys create public Landing page",
    ]
    for text in flows:
        request_id = await desk.request(text)
        await desk.click(request_id, user=APPROVER_1)
        assert (await desk.settled(request_id)).state is State.SUCCEEDED
    await desk.command("keys", user=REQUESTER)
    await desk.command("webhooks", user=REQUESTER)
    await desk.command("audit 50", user="U0AUDITOR")

    secrets = secrets_of(fp)
    delivered = [s for s in secrets if messages_holding(desk.slack, s)]
    assert len(delivered) == 4  # two created keys, one replacement, one webhook
    for secret in secrets:
        assert not any(
            secret in everything(m) for m in public_messages(desk.slack, except_dms_of=[REQUESTER])
        )
    logs = log_buffer.getvalue()
    assert "change_request" in logs  # the logs were captured
    credentials = [fp.api_keys[0], BOT_TOKEN, SIGNING_SECRET]
    assert [s for s in [*secrets, *credentials] if s in logs] == []
    assert await database_holds(database_url, [*secrets, *credentials]) == []
