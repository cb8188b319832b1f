"""Helpers for the change-request scenarios: a desk that types commands and clicks buttons.

`Desk` drives one or more running bots that share a fake Slack and a stand-in Management API,
the way people would: a command typed in ``#ops``, a button clicked in ``#approvals``. It reads
back what people would see (the approval message, its thread, ephemerals, DMs) and what the
store holds, so the tests read as the story of a request.

Personas and channels are the sample policy's (``sandbox/fpbot.yml``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.changes.sweeper import Sweeper
from bot.changes.workflow import ChangeWorkflow
from bot.domain import AuditEvent, ChangeRequest, State
from bot.render.ids import APPROVE, DENY, DENY_FORM, REQUEST_STATUS_BLOCK
from bot.server import BotServer
from bot.settings import load_settings
from bot.slack import SlackMessenger
from bot.store import Store
from sandbox.fingerprint import FakeFingerprint, StandInServer
from sandbox.run import BOT_TOKEN, CHANNELS, PERSONAS, SIGNING_SECRET, USERGROUPS, Sandbox
from sandbox.slack import DriverResponse, FakeSlack, RecordedMessage, SlackDriver

REQUESTER = "U0OPERATOR"
APPROVER_1 = "U0APPROVER1"
APPROVER_2 = "U0APPROVER2"
VIEWER = "U0VIEWER"
AUDITOR = "U0AUDITOR"
STRANGER = "U0STRANGER"  # in no grant of the policy

OPS = "C0OPS"
APPROVALS = "C0APPROVALS"
ALERTS = "C0ALERTS"

REQUEST_ID = re.compile(r"CR-[0-9A-Z]{6}")

#: The Management API at a pace that keeps scenarios quick; counts, not timing, are asserted.
FAST_SETTINGS: dict[str, object] = {"fp_rate_limit": 500.0}

FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.DENIED, State.EXPIRED)

WAIT = 10.0


def policy_yaml(
    *,
    expires_after: str = "24h",
    allow_self_approval: bool = False,
    requester_approves: bool = False,
    rotation_grace: str | None = None,
) -> str:
    """The sample policy with the approval knobs the scenarios turn.

    Args:
        expires_after: ``approvals.expires_after``.
        allow_self_approval: ``approvals.allow_self_approval``.
        requester_approves: the requester (U0OPERATOR) also holds ``requests.approve``.
        rotation_grace: ``approvals.rotation_grace``, if any.
    """
    grace = f"\n  rotation_grace: {rotation_grace}" if rotation_grace else ""
    operator_roles = "[viewer, operator, approver]" if requester_approves else "[viewer, operator]"
    return f"""
roles:
  viewer:   [envs.list, keys.list, webhooks.list, rules.list, enckeys.list, subdomains.list]
  operator: [envs.*, keys.*, webhooks.*, rules.*, enckeys.*, subdomains.*]
  approver: [requests.approve]
  auditor:  [audit.read]
grants:
  U0VIEWER:    [viewer]
  U0OPERATOR:  {operator_roles}
  U0AUDITOR:   [auditor, viewer]
  S0APPROVERS: [approver]
  U0APPROVER1: [viewer]
  U0APPROVER2: [viewer]
channels:
  commands: [C0OPS]
  approvals: C0APPROVALS
  notifications: C0ALERTS
approvals:
  required: 1
  required_for:
    envs.delete: 2
    keys.delete: 2
  allow_self_approval: {"true" if allow_self_approval else "false"}
  expires_after: {expires_after}{grace}
"""


def speed_up(fingerprint: FakeFingerprint) -> None:
    """Let the stand-in take a scenario's requests without rate-limiting them."""
    fingerprint.rate_limit = 1000.0
    fingerprint.burst = 1000


def everything(message: RecordedMessage) -> str:
    """All a reader could see of a message: fallback text and every string in its blocks."""
    return "\n".join([message.text, *_strings(message.blocks), *_strings(message.attachments)])


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def button_ids(message: RecordedMessage) -> list[str]:
    """The action ids of the buttons a message still carries."""
    found: list[str] = []
    for block in message.blocks:
        if block.get("type") == "actions":
            found.extend(str(e.get("action_id")) for e in block.get("elements", []))
    return found


def status_of(message: RecordedMessage) -> str:
    """The approval message's status line (the block that says where the request stands)."""
    for block in message.blocks:
        if block.get("block_id") == REQUEST_STATUS_BLOCK:
            return str(block["text"]["text"])
    raise AssertionError(f"no status block in {message.text!r}")


def move_clock(workflow: ChangeWorkflow, by: timedelta) -> None:
    """Make the workflow (clicks and the sweeper) believe ``by`` has passed."""
    workflow._clock = lambda: datetime.now(UTC) + by  # type: ignore[method-assign]


def with_lease(replica: Replica, lease: timedelta) -> ChangeWorkflow:
    """Give the replica a workflow whose execution lease is ``lease`` (renewed every quarter
    of it) instead of `EXECUTION_LEASE`, so a heartbeat beats within a scenario's time.

    Clicks reach the new workflow (Slack's listeners look it up on every click); the replica's
    background sweeper keeps the old one, whose two-minute lease never runs out in a test.
    """
    services = replica.bot.services
    assert services is not None
    services.changes = ChangeWorkflow(
        store=services.store,
        client=services.client,
        slack=services.slack,
        policy=services.policy,
        groups=services.groups,
        notifier=services.notifier,
        lease=lease,
    )
    return services.changes


@dataclass
class Replica:
    """One running bot and the driver that sends Slack's requests to it."""

    bot: BotServer
    driver: SlackDriver

    @property
    def workflow(self) -> ChangeWorkflow:
        assert self.bot.services is not None
        return self.bot.services.changes

    @property
    def store(self) -> Store:
        assert self.bot.services is not None
        return self.bot.services.store


@dataclass
class Desk:
    """People at Slack, in front of one or more replicas of fpbot (see the module docstring)."""

    slack: FakeSlack
    fingerprint: FakeFingerprint
    replicas: list[Replica] = field(default_factory=list)

    @classmethod
    def of(cls, sandbox: Sandbox) -> Desk:
        """A desk in front of a running `Sandbox`."""
        assert sandbox.bot is not None and sandbox.slack.driver is not None
        speed_up(sandbox.fingerprint)
        return cls(sandbox.slack, sandbox.fingerprint, [Replica(sandbox.bot, sandbox.slack.driver)])

    @property
    def store(self) -> Store:
        return self.replicas[0].store

    @property
    def workflow(self) -> ChangeWorkflow:
        return self.replicas[0].workflow

    @property
    def sweeper(self) -> Sweeper:
        """A sweeper over the first replica's current workflow (its clock, its lease)."""
        return self.sweeper_for(self.workflow)

    def sweeper_for(self, workflow: ChangeWorkflow) -> Sweeper:
        """A sweeper over ``workflow`` (another replica's, with its own lease)."""
        services = self.replicas[0].bot.services
        assert services is not None
        return Sweeper(workflow, self.store, services.policy)

    @property
    def messenger(self) -> SlackMessenger:
        """The first replica's Slack messenger, for tests that slow or break Slack calls."""
        services = self.replicas[0].bot.services
        assert services is not None
        return services.messenger

    # ── asking ──────────────────────────────────────────────────────────────────────────

    async def command(self, text: str, *, user: str = REQUESTER, channel: str = OPS) -> str:
        """Type ``/fp <text>``; return the first answer's text (ephemeral, or a listing)."""

        def answers() -> list[RecordedMessage]:
            return [
                m
                for m in self.slack.messages(channel)
                if m.ephemeral_for in (None, user) and not m.deleted
            ]

        seen = len(answers())
        response = await self.replicas[0].driver.command(text, user=user, channel=channel)
        assert response.status == 200, response
        await self.slack.wait_for(
            lambda: len(answers()) > seen, WAIT, what=f"an answer to {text!r}"
        )
        return everything(answers()[seen])

    async def request(self, text: str, *, user: str = REQUESTER) -> str:
        """Ask for a change; return the request id from the requester's confirmation."""
        answer = await self.command(text, user=user)
        found = REQUEST_ID.search(answer)
        assert found and "created" in answer, f"{text!r} was not accepted: {answer}"
        request_id = found.group(0)
        await self.slack.wait_for(
            lambda: self.approval_or_none(request_id) is not None,
            WAIT,
            what=f"the approval message of {request_id}",
        )
        return request_id

    # ── reading what people see ─────────────────────────────────────────────────────────

    def approval_or_none(self, request_id: str) -> RecordedMessage | None:
        for message in self.slack.channel_messages(APPROVALS):
            if message.thread_ts is None and f"Change request {request_id}" in message.text:
                return message
        return None

    def approval(self, request_id: str) -> RecordedMessage:
        """The approval message of ``request_id`` in ``#approvals``, as it stands now."""
        message = self.approval_or_none(request_id)
        assert message is not None, f"no approval message for {request_id}"
        return message

    def thread(self, request_id: str) -> list[RecordedMessage]:
        """The replies under the approval message."""
        message = self.approval(request_id)
        return self.slack.thread(APPROVALS, message.ts)

    def dms_about(self, request_id: str, user: str = REQUESTER) -> list[RecordedMessage]:
        return [m for m in self.slack.dms(user) if request_id in m.text]

    def alerts(self) -> list[RecordedMessage]:
        return self.slack.channel_messages(ALERTS)

    def cards(self) -> list[RecordedMessage]:
        """The alerts about one failure each (a change request's, say), incidents left out."""
        return [m for m in self.alerts() if m.text.startswith("fpbot failure:")]

    def incidents(self) -> list[RecordedMessage]:
        """The incident cards: one per cause, whatever command or request met it."""
        return [
            m for m in self.alerts() if m.text.startswith(("fpbot incident:", "fpbot resolved:"))
        ]

    async def get(self, request_id: str) -> ChangeRequest:
        found = await self.store.get(request_id)
        assert found is not None, f"{request_id} is not in the store"
        return found

    async def audit_kinds(self, request_id: str) -> list[str]:
        """The request's audit trail, oldest first, as event kinds."""
        events: list[AuditEvent] = await self.store.audit(200, request_id=request_id)
        return [e.kind for e in reversed(events)]

    # ── clicking ────────────────────────────────────────────────────────────────────────

    async def click(
        self,
        request_id: str,
        *,
        user: str,
        approve: bool = True,
        replica: int | None = None,
        value: str | None = None,
    ) -> DriverResponse:
        """Click Approve (or Deny) on the approval message as it was when buttons last showed.

        A click on a message that has lost its buttons is sent as Slack would send a click
        from a screen that has not refreshed yet: the same signed payload, the same value.
        ``value`` replaces the button's value (a tampered payload).
        """
        message = self.approval(request_id)
        chosen = self.replicas[replica if replica is not None else 0]
        action = APPROVE if approve else DENY
        if action not in button_ids(message):
            message = _with_buttons(message, request_id)
        response = await chosen.driver.click(message, action, user=user, value=value)
        assert response.status == 200, response
        return response

    async def deny(
        self,
        request_id: str,
        *,
        user: str,
        reason: str | None = None,
        replica: int | None = None,
    ) -> DriverResponse:
        """Click Deny, then submit the form it opens (with ``reason``, if any)."""
        await self.click(request_id, user=user, approve=False, replica=replica)
        await self.slack.wait_for(
            lambda: (
                (form := self.slack.modal(user)) is not None
                and form.callback_id == DENY_FORM
                and request_id in str(form.view)
            ),
            WAIT,
            what=f"the Deny form for {user} on {request_id}",
        )
        chosen = self.replicas[replica if replica is not None else 0]
        response = await chosen.driver.submit_view(
            user=user, values={"reason": reason} if reason else None
        )
        assert response.status == 200, response
        return response

    async def decide(
        self, request_id: str, *, user: str, approve: bool, replica: int | None = None
    ) -> None:
        """Click Approve or Deny as a person would: a Deny that opens its form is submitted
        (without a reason); one refused outright opens none. Waits until the bots are idle."""
        await self.click(request_id, user=user, approve=approve, replica=replica)
        await self.quiet()
        form = self.slack.modal(user)
        if not approve and form is not None and form.callback_id == DENY_FORM:
            chosen = self.replicas[replica if replica is not None else 0]
            response = await chosen.driver.submit_view(user=user)
            assert response.status == 200, response
            await self.quiet()

    async def refused(
        self, request_id: str, *, user: str, approve: bool = True, value: str | None = None
    ) -> str:
        """Click, expecting a refusal; return its text."""
        seen = len(self.slack.ephemerals(user))
        await self.click(request_id, user=user, approve=approve, value=value)
        await self.slack.wait_for(
            lambda: len(self.slack.ephemerals(user)) > seen,
            WAIT,
            what=f"a refusal for {user} on {request_id}",
        )
        return everything(self.slack.ephemerals(user)[seen])

    async def settled(self, request_id: str, *, dm: bool = True) -> ChangeRequest:
        """Wait until the request is final and everyone has been told; return it."""
        await self.slack.wait_for(
            lambda: bool(self.thread(request_id)) and (not dm or bool(self.dms_about(request_id))),
            WAIT,
            what=f"the outcome of {request_id} in its thread and the requester's DMs",
        )
        request = await self.get(request_id)
        assert request.state in FINAL_STATES, request.state
        return request

    async def quiet(self) -> None:
        """Wait until no replica has a command or click still being worked on.

        Listeners spawn their work before Slack gets the acknowledgement, so once a click
        has been answered its work is visible here.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        calm = 0
        while calm < 2:
            busy = any(
                r.bot.services is not None and len(r.bot.services.tasks) for r in self.replicas
            )
            calm = 0 if busy else calm + 1
            assert loop.time() < deadline, "the bots never finished their work"
            await asyncio.sleep(0.01)

    async def wait_heartbeat(self, request_id: str, *, at_or_after: datetime) -> ChangeRequest:
        """Poll the store until the request's lease was renewed at ``at_or_after`` or later."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            current = await self.get(request_id)
            if current.heartbeat_at is not None and current.heartbeat_at >= at_or_after:
                return current
            assert loop.time() < deadline, f"{request_id}'s lease was not renewed: {current}"
            await asyncio.sleep(0.02)

    async def wait_state(self, request_id: str, state: State) -> ChangeRequest:
        """Poll the store until the request reaches ``state``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while (current := await self.get(request_id)).state is not state:
            assert loop.time() < deadline, f"{request_id} stayed {current.state}, not {state}"
            await asyncio.sleep(0.02)
        return current


def _with_buttons(message: RecordedMessage, request_id: str) -> RecordedMessage:
    """The message as a stale screen still shows it: with Approve and Deny buttons."""
    blocks = [
        *message.blocks,
        {
            "type": "actions",
            "block_id": "request_actions",
            "elements": [
                {"type": "button", "action_id": APPROVE, "value": request_id},
                {"type": "button", "action_id": DENY, "value": request_id},
            ],
        },
    ]
    return RecordedMessage(
        channel=message.channel,
        ts=message.ts,
        text=message.text,
        blocks=blocks,
        via=message.via,
        thread_ts=message.thread_ts,
    )


# ── building replicas by hand ───────────────────────────────────────────────────────────


def bot_settings(
    slack: FakeSlack,
    api: StandInServer,
    *,
    policy_path: Path,
    database_url: str,
    redis_url: str | None = None,
    **overrides: object,
) -> dict[str, object]:
    """The settings `Sandbox` gives its bot, for bots started by hand."""
    return {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_app_token": None,
        "slack_api_url": slack.api_url,
        "fp_management_api_key": api.key,
        "fp_management_api_url": api.url,
        "fpbot_policy": str(policy_path),
        "database_url": database_url,
        "redis_url": redis_url,
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "DEBUG",
        **FAST_SETTINGS,
        **overrides,
    }


async def start_replica(slack: FakeSlack, settings: dict[str, object]) -> Replica:
    """Start one more bot with these settings and a driver that talks to it."""
    bot = BotServer(load_settings(**settings))
    await bot.start()
    return Replica(bot, SlackDriver(slack, bot.url + "/slack/events", SIGNING_SECRET))


async def stop_replica(replica: Replica, *, grace: float = 10.0) -> None:
    await replica.driver.aclose()
    await replica.bot.stop(grace)


def new_fake_slack() -> FakeSlack:
    """The sandbox's workspace: its personas, user group and channels."""
    return FakeSlack(bot_token=BOT_TOKEN, users=PERSONAS, usergroups=USERGROUPS, channels=CHANNELS)


def private_stand_in() -> StandInServer:
    """A stand-in API whose management key is this test's own.

    The key names the client's Redis namespace (rate budget and listing cache), so tests
    sharing one Redis server never share a cache.
    """
    fingerprint = FakeFingerprint(api_keys=(f"fp_mgmt_{secrets.token_hex(8)}",))
    speed_up(fingerprint)
    return StandInServer(fingerprint)


# ── looking for secrets ─────────────────────────────────────────────────────────────────


def sqlite_bytes(database_url: str) -> bytes:
    """The SQLite database's bytes, write-ahead log included."""
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(
        p.read_bytes()
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


async def postgres_text(database_url: str) -> str:
    """Every row of every table of the PostgreSQL database, as JSON text."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        rows: list[str] = []
        for table in tables:
            name = table["tablename"]
            rows.extend(
                r[0] for r in await conn.fetch(f'SELECT row_to_json(t)::text FROM "{name}" t')
            )
        return "\n".join(rows)
    finally:
        await conn.close()


async def database_holds(database_url: str, needles: Iterable[str]) -> list[str]:
    """Which of ``needles`` appear anywhere in the database."""
    if database_url.startswith("sqlite"):
        haystack = sqlite_bytes(database_url).decode("utf-8", "replace")
    else:
        haystack = await postgres_text(database_url)
    return [n for n in needles if n in haystack]


def public_messages(
    slack: FakeSlack, *, except_dms_of: Sequence[str] = ()
) -> list[RecordedMessage]:
    """Every message anyone but a DM's owner could see: channels, threads, ephemerals."""
    private = {slack.state.dm_channels.get(user) for user in except_dms_of}
    return [m for m in slack.messages() if m.channel not in private]


async def restart(sandbox: Sandbox, *, grace: float = 0.2, **changed: object) -> Desk:
    """Stop the sandbox's bot (cancelling what it has not finished within ``grace`` seconds)
    and start a new one with the same settings (but those ``changed``), store, Slack and API:
    a redeploy."""
    old = sandbox.bot
    assert old is not None
    await old.stop(grace)
    new = BotServer(old.settings.model_copy(update=changed) if changed else old.settings)
    await new.start()
    sandbox.bot = new
    if sandbox.slack.driver is not None:
        await sandbox.slack.driver.aclose()
    sandbox.slack.connect_bot(new.url + "/slack/events", SIGNING_SECRET)
    return Desk.of(sandbox)
