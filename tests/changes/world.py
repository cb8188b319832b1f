"""One change workflow over the in-memory fakes, a clock the test moves, and the people who
click: the setting the workflow's tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

from bot import commands
from bot.changes.sweeper import Sweeper
from bot.changes.workflow import ChangeWorkflow
from bot.domain import ChangeRequest
from bot.notify import Notifier
from bot.policy import Policy, parse_policy
from bot.ports import Origin, Posted
from bot.store import Store
from tests.changes.fakes import NOW, FakeApi, FakeConversation, FakeStore, seeded

REQUESTER, ALICE, BOB, VIEWER = "U0REQUESTER", "U0ALICE", "U0BOB", "U0VIEWER"

POLICY_TEXT = """
roles:
  operator: [envs.*, keys.*, webhooks.*]
  approver: [requests.approve]
  viewer:   [envs.list]
grants:
  U0REQUESTER: [operator]
  U0ALICE: [approver]
  U0BOB: [approver]
  U0VIEWER: [viewer]
channels:
  approvals: C0APPROVALS
approvals:
  required: 1
  required_for: {envs.delete: 2}
  expires_after: 1h
"""
POLICY = parse_policy(POLICY_TEXT)


class Groups:
    """User groups as the policy's tests need them: ``{group: members}``."""

    def __init__(self, members: dict[str, frozenset[str]] | None = None) -> None:
        self._members = members or {}

    async def groups_of(self, user_id: str, group_ids: object) -> frozenset[str]:
        return frozenset(g for g, users in self._members.items() if user_id in users)

    async def members(self, group_id: str) -> frozenset[str]:
        return self._members.get(group_id, frozenset())


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


class World:
    """One workflow over fakes, and the people who click."""

    def __init__(self, policy: Policy = POLICY, groups: Groups | None = None) -> None:
        self.api: FakeApi = seeded()
        self.store = FakeStore()
        self.slack = FakeConversation()
        self.clock = Clock()
        self.groups = groups or Groups()
        self.start(policy)

    def start(self, policy: Policy) -> None:
        """(Re)start fpbot under ``policy``, over the same account, store and Slack — as a
        deploy with an edited policy file does."""
        self.policy = policy
        self.workflow = ChangeWorkflow(
            store=self.store,
            client=self.api,
            slack=self.slack,
            policy=policy,
            groups=self.groups,
            notifier=Notifier(self.slack, cast(Store, self.store), None),
            clock=self.clock,
        )

    async def sweep(self) -> None:
        await Sweeper(self.workflow, self.store, self.policy).sweep()

    def origin(self, user: str) -> Origin:
        return Origin(user, "C0OPS", None, f"fpb-{user.lower()}")

    async def ask(self, command: commands.Command) -> ChangeRequest:
        return await self.workflow.request(command, self.origin(REQUESTER))

    async def click(self, request: ChangeRequest, user: str, *, approve: bool = True) -> None:
        await self.workflow.click(request.id, approve=approve, origin=self.origin(user))

    async def now(self, request: ChangeRequest) -> ChangeRequest:
        found = await self.store.get(request.id)
        assert found is not None
        return found

    def card_of(self, request: ChangeRequest) -> str:
        assert request.approval_channel and request.approval_ts
        card = self.slack.card(Posted(request.approval_channel, request.approval_ts))
        return card.text + str(card.blocks)

    def env_writes(self) -> list[str]:
        return [op for op, _, _ in self.api.writes]


def meet(n: int) -> Callable[[], Awaitable[None]]:
    """A hook that holds its first ``n`` callers until all of them have arrived."""
    barrier = asyncio.Barrier(n)
    calls = 0

    async def hook() -> None:
        nonlocal calls
        calls += 1
        if calls <= n:
            await barrier.wait()

    return hook
