"""App Home: each person's tab, published when they open it and refreshed as requests move.

A tab is published for people who opened it (Slack sends ``app_home_opened`` on every visit);
after a request moves, the tabs of the people it concerns — its requester and whoever may
approve it — are published again. Publishing goes through one queue, a person at a time and
spaced out, so a burst of transitions never becomes a storm of ``views.publish`` calls: a
person queued twice is published once, with what is true when their turn comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime

from bot.domain import ChangeRequest, State
from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.limits import PLAN_LIMITS
from bot.log import get_logger
from bot.policy import Membership, Policy, actor_of, decide, may_approve, roles_of
from bot.ports import Account, Conversation, RequestStore
from bot.render.home import Glance, render_home, render_home_without_role

log = get_logger(__name__)

#: Seconds between two publications (Slack allows ``views.publish`` 100+ a minute).
SPACING = 0.6
#: People remembered as having opened their tab, most recent last.
MAX_VIEWERS = 5000
#: A person's own requests shown: the pending ones, then the latest decided ones.
OWN_SHOWN = 12


class HomeTabs:
    """Publishes App Home tabs, one at a time, for the people who opened theirs."""

    def __init__(
        self,
        *,
        policy: Policy,
        groups: Membership,
        client: Account,
        store: RequestStore,
        slack: Conversation,
        clock: Callable[[], datetime],
        spacing: float = SPACING,
    ) -> None:
        self._policy = policy
        self._groups = groups
        self._client = client
        self._store = store
        self._slack = slack
        self._clock = clock
        self._spacing = spacing
        self._viewers: dict[str, None] = {}
        self._queued: dict[str, None] = {}
        self._publisher: asyncio.Task[None] | None = None

    def opened(self, user_id: str) -> None:
        """``app_home_opened``: remember the person, publish their tab (soon)."""
        self._viewers.pop(user_id, None)
        self._viewers[user_id] = None
        while len(self._viewers) > MAX_VIEWERS:
            del self._viewers[next(iter(self._viewers))]
        self._queue([user_id])

    def touched(self, request: ChangeRequest) -> None:
        """A request moved: queue the tabs of the viewers it may concern (who exactly is
        decided when their turn comes, with the policy and the groups as they are then)."""
        self._queue(self._viewers)

    def _queue(self, users: Iterable[str]) -> None:
        for user in users:
            self._queued[user] = None
        if self._queued and (self._publisher is None or self._publisher.done()):
            self._publisher = asyncio.create_task(self._publish_all(), name="home-tabs")

    async def _publish_all(self) -> None:
        while self._queued:
            user = next(iter(self._queued))
            del self._queued[user]
            try:
                await self.publish(user)
            except Exception:  # a tab that could not be published must not stop the others
                log.exception("home_not_published", user=user)
            await asyncio.sleep(self._spacing)

    async def publish(self, user_id: str) -> None:
        """Publish ``user_id``'s tab as things are now."""
        actor = await actor_of(self._policy, self._groups, user_id)
        if not roles_of(self._policy, actor):
            await self._slack.publish_home(user_id, render_home_without_role(self._policy.admins))
            return
        pending = await self._store.list_requests(states=[State.PENDING], limit=None)
        can_approve = decide(self._policy, actor, "requests.approve").allowed
        allow_self = self._policy.approvals.allow_self_approval
        waiting = [
            r
            for r in pending
            if user_id not in r.approvers
            and (r.requester != user_id or allow_self)
            and may_approve(self._policy, actor, r.environment)
        ]
        own = await self._store.list_requests(requester=user_id, limit=OWN_SHOWN)
        graces = await self._store.open_graces(user_id)  # however old: their buttons matter
        latest = sorted(
            (r for r in own if r.id not in {g.id for g in graces}),
            key=lambda r: -r.created_at.timestamp(),
        )
        mine = [  # a grace's old key works until it ends: first, then what waits, then the rest
            *graces,
            *[r for r in latest if r.state is State.PENDING],
            *[r for r in latest if r.state is not State.PENDING],
        ]
        view = render_home(
            user_id,
            waiting=sorted(waiting, key=lambda r: r.expires_at),
            mine=mine,
            glance=await self._glance(),
            now=self._clock(),
            can_approve=can_approve,
        )
        await self._slack.publish_home(user_id, view)

    async def _glance(self) -> Glance | None:
        try:
            envs, keys, hooks = await asyncio.gather(
                self._client.list_environments(),
                self._client.list_api_keys(),
                self._client.list_webhooks(),
            )
        except FingerprintError as exc:
            log.warning("home_glance_unavailable", error=exc.error_code)
            return None
        return Glance(len(envs), len(keys), PLAN_LIMITS.api_keys, len(hooks), PLAN_LIMITS.webhooks)

    async def close(self) -> None:
        """Stop publishing (shutdown)."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
