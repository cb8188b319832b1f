"""Every change `/fp` can ask for, from the command to the stand-in API and back to Slack.

Each mutating command is typed by the operator, approved with the buttons, and then checked
from both sides: the stand-in received exactly the write(s) the change needs, once; and Slack
shows what people expect — the confirmation with the request id, the before → after in the
approval message, the message edited in place with its buttons gone and the outcome stated, a
reply in its thread and a direct message to the requester. Every test runs on SQLite and on
the real PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.domain import State
from sandbox.fingerprint import FakeFingerprint
from tests.scenarios.change_helpers import (
    APPROVER_1,
    APPROVER_2,
    FAST_SETTINGS,
    REQUESTER,
    Desk,
    button_ids,
    everything,
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


# ── the seeded account, by name ─────────────────────────────────────────────────────────────


def env(fp: FakeFingerprint, name: str) -> str:
    return next(e.id for e in fp.workspace.environments.values() if e.name == name)


def key(fp: FakeFingerprint, name: str) -> str:
    return next(k.id for k in fp.workspace.api_keys.values() if k.name == name)


def hook(fp: FakeFingerprint, url: str) -> str:
    return next(h.id for h in fp.workspace.webhooks.values() if h.url == url)


PROD_HOOK = "https://hooks.example.com/fingerprint"
STAGING_HOOK = "https://staging.example.com/webhooks/fp"
AUDIT_HOOK = "https://audit.example.org/events"
NEW_HOOK = "https://hooks.example.net/fingerprint"

Write = tuple[str, str]


@dataclass(frozen=True)
class Case:
    """One mutating command: what to type, what the approval message shows, what it writes.

    Attributes:
        command: the text after ``/fp``, from the seeded account.
        shown: what the approval message must show before anyone clicks (before → after).
        writes: every write the stand-in must receive, each exactly once.
        holds: what is true of the account afterwards.
        approvals: how many approvers it takes (the sample policy's ``required_for``).
    """

    command: Callable[[FakeFingerprint], str]
    shown: tuple[str, ...]
    writes: Callable[[FakeFingerprint], list[Write]]
    holds: Callable[[FakeFingerprint], bool]
    approvals: int = 1


def _status(fp: FakeFingerprint, kind: str, id_: str) -> str:
    store = fp.workspace.api_keys if kind == "key" else fp.workspace.webhooks
    return store[id_].status


CASES: dict[str, Case] = {
    "envs create": Case(
        command=lambda fp: "envs create Brand New Env",
        shown=("*name*\nBrand New Env",),
        writes=lambda fp: [("POST", "/environments")],
        holds=lambda fp: any(e.name == "Brand New Env" for e in fp.workspace.environments.values()),
    ),
    "envs rename": Case(
        command=lambda fp: f"envs rename {env(fp, 'Development')} Development EU",
        shown=("Development → Development EU",),
        writes=lambda fp: [("POST", f"/environments/{env(fp, 'Development EU')}")],
        holds=lambda fp: any(
            e.name == "Development EU" for e in fp.workspace.environments.values()
        ),
    ),
    "envs delete": Case(
        command=lambda fp: f"envs delete {env(fp, 'Marketing EU 0004')}",
        shown=("*name*\nMarketing EU 0004",),
        writes=lambda fp: [("DELETE", "/environments/*")],
        holds=lambda fp: all(
            e.name != "Marketing EU 0004" for e in fp.workspace.environments.values()
        ),
        approvals=2,
    ),
    "keys create": Case(
        command=lambda fp: f"keys create public Checkout widget --env {env(fp, 'Staging')}",
        shown=("*name*\nCheckout widget", "*type*\npublic", "*environment*\nStaging"),
        writes=lambda fp: [("POST", "/api-keys")],
        holds=lambda fp: _status(fp, "key", key(fp, "Checkout widget")) == "enabled",
    ),
    "keys rename": Case(
        command=lambda fp: f"keys rename {key(fp, 'Website')} Website 2026",
        shown=("Website → Website 2026",),
        writes=lambda fp: [("PATCH", f"/api-keys/{key(fp, 'Website 2026')}")],
        holds=lambda fp: any(k.name == "Website 2026" for k in fp.workspace.api_keys.values()),
    ),
    "keys enable": Case(
        command=lambda fp: f"keys enable {key(fp, 'Old website')}",
        shown=("disabled → enabled",),
        writes=lambda fp: [("PATCH", f"/api-keys/{key(fp, 'Old website')}")],
        holds=lambda fp: _status(fp, "key", key(fp, "Old website")) == "enabled",
    ),
    "keys disable": Case(
        command=lambda fp: f"keys disable {key(fp, 'Dev website')}",
        shown=("enabled → disabled",),
        writes=lambda fp: [("PATCH", f"/api-keys/{key(fp, 'Dev website')}")],
        holds=lambda fp: _status(fp, "key", key(fp, "Dev website")) == "disabled",
    ),
    "keys delete": Case(
        command=lambda fp: f"keys delete {key(fp, 'QA retired')}",
        shown=("*name*\nQA retired",),
        writes=lambda fp: [("DELETE", "/api-keys/*")],
        holds=lambda fp: all(k.name != "QA retired" for k in fp.workspace.api_keys.values()),
        approvals=2,
    ),
    "keys rotate": Case(
        command=lambda fp: f"keys rotate {key(fp, 'Website')}",
        shown=("*status*\nenabled → disabled", "new public key"),
        writes=lambda fp: [("POST", "/api-keys"), ("PATCH", f"/api-keys/{key(fp, 'Website')}")],
        holds=lambda fp: _status(fp, "key", key(fp, "Website")) == "disabled",
    ),
    "webhooks create": Case(
        command=lambda fp: f"webhooks create {NEW_HOOK}",
        shown=(f"*url*\n{NEW_HOOK}",),
        writes=lambda fp: [("POST", "/webhooks")],
        holds=lambda fp: _status(fp, "hook", hook(fp, NEW_HOOK)) == "enabled",
    ),
    "webhooks enable": Case(
        command=lambda fp: f"webhooks enable {hook(fp, AUDIT_HOOK)}",
        shown=("disabled → enabled",),
        writes=lambda fp: [("PATCH", f"/webhooks/{hook(fp, AUDIT_HOOK)}")],
        holds=lambda fp: _status(fp, "hook", hook(fp, AUDIT_HOOK)) == "enabled",
    ),
    "webhooks disable": Case(
        command=lambda fp: f"webhooks disable {hook(fp, STAGING_HOOK)}",
        shown=("enabled → disabled",),
        writes=lambda fp: [("PATCH", f"/webhooks/{hook(fp, STAGING_HOOK)}")],
        holds=lambda fp: _status(fp, "hook", hook(fp, STAGING_HOOK)) == "disabled",
    ),
    "webhooks delete": Case(
        command=lambda fp: f"webhooks delete {hook(fp, PROD_HOOK)}",
        shown=(PROD_HOOK,),
        writes=lambda fp: [("DELETE", "/webhooks/*")],
        holds=lambda fp: all(h.url != PROD_HOOK for h in fp.workspace.webhooks.values()),
    ),
}


def writes_seen(fp: FakeFingerprint) -> int:
    return sum(fp.count(method=m) for m in ("POST", "PATCH", "DELETE"))


@pytest.mark.parametrize("name", list(CASES))
async def test_an_approved_change_reaches_fingerprint_once_and_everyone_is_told(
    desk: Desk, name: str
) -> None:
    case = CASES[name]
    fp = desk.fingerprint

    request_id = await desk.request(case.command(fp))

    confirmation = everything(desk.slack.ephemerals(REQUESTER)[-1])
    assert request_id in confirmation
    pending = desk.approval(request_id)
    assert button_ids(pending) == ["approve_request", "deny_request"]
    for shown in case.shown:
        assert shown in everything(pending), f"{shown!r} not in the approval message"
    assert writes_seen(fp) == 0

    approvers = [APPROVER_1, APPROVER_2][: case.approvals]
    for approver in approvers[:-1]:
        await desk.click(request_id, user=approver)
        await desk.slack.wait_for(
            lambda: (
                "1 more needed" in status_of(desk.approval(request_id))
                and "(1 of 2)" in everything(desk.approval(request_id))
            ),
            what="the first of two approvals shown",
        )
        assert writes_seen(fp) == 0, "a change needing two approvals ran after one"
    await desk.click(request_id, user=approvers[-1])
    done = await desk.settled(request_id)

    assert done.state is State.SUCCEEDED, done.error
    for method, path in case.writes(fp):
        assert fp.count(method=method, path=path) == 1, f"{method} {path}"
    assert writes_seen(fp) == len(case.writes(fp))
    assert case.holds(fp)

    final = desk.approval(request_id)
    assert final.ts == pending.ts and final.edited >= 1
    assert button_ids(final) == []
    assert "*Succeeded*" in status_of(final)
    assert all(f"<@{a}>" in status_of(final) for a in approvers)
    for shown in case.shown:
        assert shown in everything(final), "the approval message lost its before → after"
    [reply] = desk.thread(request_id)
    [dm] = desk.dms_about(request_id)
    for told in (reply, dm):
        assert f"`{request_id}`" in told.text and "succeeded" in told.text


async def test_an_approved_change_fingerprint_refuses_is_reported_as_failed_with_nothing_changed(
    desk: Desk, log_buffer: io.StringIO
) -> None:
    fp = desk.fingerprint
    doomed = env(fp, "Development")
    request_id = await desk.request(f"envs rename {doomed} Development EU")
    del fp.workspace.environments[doomed]  # someone deleted it in the dashboard meanwhile

    await desk.click(request_id, user=APPROVER_1)
    failed = await desk.settled(request_id)

    assert failed.state is State.FAILED
    assert fp.count(method="POST", path=f"/environments/{doomed}") == 1
    assert "Nothing changed." in (failed.error or "")
    status = status_of(desk.approval(request_id))
    assert "*Failed*" in status and failed.correlation_id in status
    assert button_ids(desk.approval(request_id)) == []
    [alert] = desk.alerts()
    shown = everything(alert)
    assert request_id in shown and failed.error_code and failed.error_code in shown
    assert failed.correlation_id in shown and failed.correlation_id in log_buffer.getvalue()
    for told in (desk.thread(request_id)[0], desk.dms_about(request_id)[0]):
        assert "failed" in told.text and "Nothing changed." in told.text


async def test_a_create_fingerprint_does_not_answer_is_sent_once_and_reported_as_unknown(
    desk: Desk,
) -> None:
    fp = desk.fingerprint
    request_id = await desk.request("envs create Maybe Made")
    fp.faults.error_rate, fp.faults.error_status = 1.0, 503

    await desk.click(request_id, user=APPROVER_1)
    failed = await desk.settled(request_id)

    assert failed.state is State.FAILED
    assert fp.count(method="POST", path="/environments") == 1, "a create was retried"
    assert "may or may not have been applied" in (failed.error or "")
    [alert] = desk.cards()
    assert request_id in everything(alert) and "Part of an incident" in everything(alert)
    [incident] = desk.incidents()
    assert request_id in everything(incident), "the API being unavailable is an incident"
