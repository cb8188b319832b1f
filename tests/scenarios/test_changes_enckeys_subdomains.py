"""Encryption keys and custom subdomains (Management API ``2025-11-20``), from `/fp` to the
account: listings, each change by approval, key material to the requester's DMs only, the DNS
records a subdomain needs shown to the requester — and, under ``2024-05-20``, a clear refusal
naming the version these need.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands import RotateEncKey
from bot.domain import State
from bot.render import ids
from bot.render.forms import form_callback
from sandbox.fingerprint import FakeFingerprint
from sandbox.fingerprint.state import EncryptionKey
from tests.scenarios.change_helpers import (
    APPROVALS,
    APPROVER_1,
    FAST_SETTINGS,
    OPS,
    REQUESTER,
    WAIT,
    Desk,
    database_holds,
    everything,
    public_messages,
)
from tests.scenarios.conftest import API_2024, API_2025, StackFactory

ONLY_2025 = pytest.mark.parametrize("api_version", [API_2025], indirect=True)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/fpbot.sqlite3"


@pytest.fixture
async def desk(make_stack: StackFactory, database_url: str) -> AsyncIterator[Desk]:
    async with make_stack(database_url=database_url, **FAST_SETTINGS) as sandbox:
        yield Desk.of(sandbox)
        assert sandbox.slack.violations == []


def enckey_of(fp: FakeFingerprint, env_name: str) -> EncryptionKey:
    env = next(e.id for e in fp.workspace.environments.values() if e.name == env_name)
    return next(k for k in fp.workspace.encryption_keys.values() if k.environment == env)


async def approved(desk: Desk, request_id: str) -> State:
    await desk.click(request_id, user=APPROVER_1)
    return (await desk.settled(request_id)).state


async def only_in_the_dm(desk: Desk, secret: str, database_url: str, logs: io.StringIO) -> None:
    """The token is in exactly one message, the requester's DM, and in no other place."""
    held = [m for m in desk.slack.dms(REQUESTER) if secret in everything(m)]
    assert len(held) == 1 and secret not in held[0].text
    others = public_messages(desk.slack, except_dms_of=[REQUESTER])
    assert not any(secret in everything(m) for m in others)
    assert secret not in logs.getvalue()
    assert await database_holds(database_url, [secret]) == []


@ONLY_2025
async def test_the_encryption_key_listing_never_shows_a_token(desk: Desk) -> None:
    fp = desk.fingerprint
    answer = await desk.command("enckeys --env Production")
    prod = enckey_of(fp, "Production")
    assert prod.id in answer and "Production" in answer and "rotated" in answer
    for key in fp.workspace.encryption_keys.values():
        assert key.token not in answer and key.next_token not in answer


@ONLY_2025
async def test_a_row_menu_of_the_listing_opens_the_rotation_form_and_makes_the_request(
    desk: Desk,
) -> None:
    prod = enckey_of(desk.fingerprint, "Production")
    await desk.command("enckeys --env Production")
    listing = next(m for m in desk.slack.channel_messages(OPS) if prod.id in str(m.blocks))
    driver = desk.replicas[0].driver

    await driver.choose(listing, ids.ROW_MENU, f"RotateEncKey:{prod.id}", user=REQUESTER)
    callback = form_callback(RotateEncKey)
    await desk.slack.wait_for(
        lambda: (view := desk.slack.modal(REQUESTER)) is not None and view.callback_id == callback,
        WAIT,
        what="the rotation form",
    )
    await driver.suggest(ids.PICK_ENCKEY, prod.id, user=REQUESTER)
    await driver.submit_view(user=REQUESTER, values={ids.PICK_ENCKEY: prod.id})

    await desk.slack.wait_for(
        lambda: bool(desk.slack.channel_messages(APPROVALS)), WAIT, what="the card"
    )
    (made,) = await desk.store.list_requests()
    assert made.action == "enckeys.rotate" and prod.id in str(made.params)


@ONLY_2025
async def test_a_pending_subdomains_row_offers_verify_and_delete_an_active_ones_delete(
    desk: Desk,
) -> None:
    await desk.command("subdomains")
    listing = next(m for m in desk.slack.channel_messages(OPS) if "Custom subdomains" in m.text)
    menus = {
        str(block["accessory"]["options"][-1]["value"]).split(":")[1]: [
            o["text"]["text"] for o in block["accessory"]["options"]
        ]
        for block in listing.blocks
        if block.get("accessory", {}).get("type") == "overflow"
    }
    for subdomain in desk.fingerprint.workspace.subdomains.values():
        expected = ["Delete"] if subdomain.status == "active" else ["Verify", "Delete"]
        assert menus[subdomain.id] == expected


@ONLY_2025
async def test_a_rotation_delivers_the_new_token_to_the_requester_only(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    key = enckey_of(fp, "Staging")
    upcoming = key.next_token
    request_id = await desk.request("enckeys rotate Staging")
    assert "next token becomes current" in everything(desk.approval(request_id))
    assert await approved(desk, request_id) is State.SUCCEEDED
    assert key.token == upcoming
    assert fp.count(method="POST", path=f"/encryption-keys/{key.id}/rotate") == 1
    await only_in_the_dm(desk, upcoming, database_url, log_buffer)


@ONLY_2025
async def test_a_revert_restores_the_previous_token(desk: Desk) -> None:
    fp = desk.fingerprint
    key = enckey_of(fp, "Production")
    previous = key.previous_token
    request_id = await desk.request(f"enckeys revert {key.id}")
    assert await approved(desk, request_id) is State.SUCCEEDED
    assert key.token == previous
    never = await desk.command("enckeys revert Development")
    assert "never rotated" in never


@ONLY_2025
async def test_activating_and_deactivating_a_key_are_changes_like_any_other(desk: Desk) -> None:
    fp = desk.fingerprint
    dev = enckey_of(fp, "Development")
    on = await desk.request("enckeys enable Development")
    assert await approved(desk, on) is State.SUCCEEDED
    assert dev.status == "enabled"
    assert any(dev.token in everything(m) for m in desk.slack.dms(REQUESTER))
    off = await desk.request(f"enckeys disable {dev.id}")
    assert "Sealed Results stop" in everything(desk.approval(off))  # the Approve confirmation
    assert await approved(desk, off) is State.SUCCEEDED
    assert dev.status == "disabled"


@ONLY_2025
async def test_a_new_subdomain_sends_its_dns_records_and_secret_to_the_requester(
    desk: Desk, database_url: str, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    request_id = await desk.request("subdomains create fp.lab.example.invalid")
    assert await approved(desk, request_id) is State.SUCCEEDED
    [made] = [s for s in fp.workspace.subdomains.values() if s.subdomain.endswith(".invalid")]
    [instructions] = [m for m in desk.slack.dms(REQUESTER) if "DNS records" in everything(m)]
    text = everything(instructions)
    assert "_acme-challenge.fp.lab.example.invalid" in text and "validation.fpjs.io" in text
    assert "1.2.3.4" in text and "pending" in text
    assert f"/fp subdomains verify {made.id}" in text
    assert made.webhook_secret is not None
    await only_in_the_dm(desk, made.webhook_secret, database_url, log_buffer)

    listing = await desk.command("subdomains")
    assert "fp.lab.example.invalid" in listing and "pending" in listing

    check = await desk.request(f"subdomains verify {made.id}")
    assert await approved(desk, check) is State.SUCCEEDED
    assert fp.count(method="POST", path=f"/subdomains/{made.id}/verify") == 1
    assert made.status == "pending"  # a .invalid host never resolves


@ONLY_2025
async def test_a_subdomain_is_verified_then_deleted_by_hostname(desk: Desk) -> None:
    fp = desk.fingerprint
    pending = next(s for s in fp.workspace.subdomains.values() if s.status == "pending")
    check = await desk.request(f"subdomains verify {pending.subdomain}")
    assert await approved(desk, check) is State.SUCCEEDED
    assert pending.status == "active"
    states = [m for m in desk.slack.dms(REQUESTER) if "DNS records" in everything(m)]
    assert states and "validated" in everything(states[-1])

    again = await desk.command(f"subdomains verify {pending.id}")
    assert "already active" in again

    gone = await desk.request(f"subdomains delete {pending.subdomain}")
    assert "revokes its certificate" in everything(desk.approval(gone))
    assert await approved(desk, gone) is State.SUCCEEDED
    assert pending.id not in fp.workspace.subdomains


@pytest.mark.parametrize("api_version", [API_2024], indirect=True)
@pytest.mark.parametrize(
    "text", ["enckeys", "enckeys rotate Production", "subdomains", "subdomains create a.b.example"]
)
async def test_under_2024_they_are_refused_naming_the_version_they_need(
    desk: Desk, text: str
) -> None:
    answer = await desk.command(text)
    assert "2025-11-20" in answer and "FP_API_VERSION" in answer
    assert desk.fingerprint.count(path="/encryption-keys*") == 0
    assert desk.fingerprint.count(path="/subdomains*") == 0
    assert await desk.store.list_requests() == []
