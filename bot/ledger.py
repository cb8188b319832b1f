"""The account's change log and the change requests' stories, as people read them.

Every change fpbot made is logged when its request succeeds (`Ledger.succeeded`, the
workflow's hook), next to the changes the account watch found made outside fpbot; ``/fp
changes`` reads that log, ``/fp audit`` the requests' stories.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain import ChangeRequest
from bot.domain.account import own_changes
from bot.log import get_logger
from bot.render.audit import render_audit_stories
from bot.render.blocks import Message, code, date, mention
from bot.render.watch import render_change_log
from bot.store import Store

log = get_logger(__name__)


class Ledger:
    """Writes fpbot's own changes to the change log; reads the log and the audit trail."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    async def succeeded(self, request: ChangeRequest) -> None:
        """Log what a succeeded request changed; never raises (the change is done, and the
        requests keep the same story)."""
        try:
            await self._store.log_own_changes(
                own_changes(request),
                request_id=request.id,
                actor=request.requester,
                at=request.finished_at or self._clock(),
            )
        except Exception:
            log.exception("change_not_logged", request_id=request.id)

    async def changes(
        self, limit: int, *, environment: str | None = None, since: timedelta | None = None
    ) -> Message:
        """``/fp changes``: the log, newest first."""
        start = self._clock() - since if since is not None else None
        entries = await self._store.change_log(limit=limit, since=start, environment=environment)
        return render_change_log(entries, environment=environment, since=start)

    async def audit(
        self,
        limit: int,
        *,
        request_id: str | None = None,
        user: str | None = None,
        since: timedelta | None = None,
    ) -> Message:
        """``/fp audit``: the stories of the requests most recently active."""
        start = self._clock() - since if since is not None else None
        stories = await self._store.audit_stories(
            limit, request_id=request_id, user=user, since=start
        )
        filters = []
        if request_id:
            filters.append(code(request_id, 40))
        if user:
            filters.append(f"involving {mention(user)}")
        if start:
            filters.append(f"since {date(start)}")
        return render_audit_stories(stories, filters=", ".join(filters))
