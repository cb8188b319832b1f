"""User-group membership, looked up through Slack and remembered for a while.

A grant to a user group (``S…``) applies to its current members, so every decision about a
user who may be in a granted group needs the group's members. Asking Slack each time would cost
a Web API call per group per command; instead each group's member list is cached for ``ttl``
seconds and concurrent look-ups of the same group share one call.

When Slack cannot answer, the last known members are used for a while (membership rarely
changes within minutes), but never once they are older than ``max_stale`` seconds (an hour by
default): past that, or with nothing known, the user is treated as not a member, so someone
removed from an approver group stops approving within that hour however long Slack keeps
failing. Authorization fails closed, and it never fails loudly: nothing here raises into the
caller; each fallback is logged.

The caller supplies ``fetch_members`` (the messenger's ``usergroups.users.list``); which groups
matter is the policy's business (`bot.policy.actor_of`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.log import get_logger

log = get_logger(__name__)

FetchMembers = Callable[[str], Awaitable[Sequence[str]]]


@dataclass(frozen=True, slots=True)
class _Entry:
    members: frozenset[str]
    fetched_at: float


class GroupDirectory:
    """Which of the policy's user groups a person is in.

    Args:
        fetch_members: returns the user ids of a group's members; may raise.
        ttl: seconds a group's member list is trusted before it is fetched again.
        max_stale: seconds a member list may still be used while fetching it again fails;
            older than that, the group counts as having no members.
        clock: monotonic seconds; tests pass a fake one.
    """

    def __init__(
        self,
        fetch_members: FetchMembers,
        *,
        ttl: float = 300.0,
        max_stale: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch_members = fetch_members
        self._ttl = ttl
        self._max_stale = max_stale
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[frozenset[str]]] = {}

    async def groups_of(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        """The groups among ``group_ids`` that ``user_id`` belongs to.

        Groups are looked up concurrently; a group whose members cannot be known counts as
        one the user is not in.
        """
        ids = list(dict.fromkeys(group_ids))
        memberships = await asyncio.gather(*(self.members(group_id) for group_id in ids))
        return frozenset(
            g for g, members in zip(ids, memberships, strict=True) if user_id in members
        )

    async def members(self, group_id: str) -> frozenset[str]:
        """The group's members: cached, shared with concurrent callers, never raising."""
        entry = self._cache.get(group_id)
        if entry is not None and self._clock() - entry.fetched_at < self._ttl:
            return entry.members
        task = self._inflight.get(group_id)
        if task is None:
            task = asyncio.create_task(self._refresh(group_id))
            self._inflight[group_id] = task
            task.add_done_callback(lambda _: self._inflight.pop(group_id, None))
        # One caller giving up (a cancelled request) must not cancel the others' look-up.
        return await asyncio.shield(task)

    def forget(self, group_id: str | None = None) -> None:
        """Drop cached members (of one group, or all), so the next look-up asks Slack.

        Nothing calls this yet: fpbot does not subscribe to ``subteam_members_changed``, so a
        membership change is seen once ``ttl`` has passed. It is here for that event's handler.
        """
        if group_id is None:
            self._cache.clear()
        else:
            self._cache.pop(group_id, None)

    async def _refresh(self, group_id: str) -> frozenset[str]:
        try:
            members = frozenset(await self._fetch_members(group_id))
        except Exception as error:
            stale = self._cache.get(group_id)
            if stale is not None:
                age = self._clock() - stale.fetched_at
                if age < self._max_stale:
                    log.warning(
                        "group_members_stale",
                        group=group_id,
                        error=repr(error),
                        age_seconds=round(age),
                    )
                    return stale.members
                # Too old to vouch for anyone: fail closed from now on.
                del self._cache[group_id]
                log.error(
                    "group_members_expired",
                    group=group_id,
                    error=repr(error),
                    age_seconds=round(age),
                    max_stale_seconds=round(self._max_stale),
                )
                return frozenset()
            log.warning("group_members_unknown", group=group_id, error=repr(error))
            return frozenset()
        self._cache[group_id] = _Entry(members, self._clock())
        return members
