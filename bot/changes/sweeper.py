"""The sweeper: what no click will ever do, done on a timer by every replica.

Every pass finds what is due and hands it to the workflow: pending requests past their expiry
(edited to "expired" within a minute), approved requests whose approver's process died before
running them, or that Fingerprint held back (run them: nothing ran yet), executing requests
whose lease lapsed (something may have run: reconcile against the API, never rerun), cards
Slack refused to post (post them again, backing off), reminders due in cards' threads, and
rotations whose grace period ends within the hour (warned in the thread) or has ended (the
old key disabled) — one that ended while fpbot was down is acted on by the first pass.
Replicas sweep concurrently; the store's conditional moves and claims make each item one
replica's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from bot.changes.workflow import ChangeWorkflow
from bot.domain import ChangeRequest, GraceState, State
from bot.domain.incidents import Cause
from bot.log import get_logger
from bot.notify import Failure, describe
from bot.policy import MAX_REMINDERS, Policy
from bot.ports import RequestStore
from bot.render import notifications as titles
from bot.store import StoreUnavailable

log = get_logger(__name__)

#: An ``approved`` row older than this was approved by a process that died before running it.
APPROVED_GRACE = timedelta(seconds=30)
#: How many requests one pass works on at once (expiries, orphaned approvals,
#: reconciliations), so a pass with many due does not run one Slack round-trip after another.
SWEEP_CONCURRENCY = 8
#: A card Slack refused is posted again after this, then after twice as long, and so on.
CARD_RETRY = timedelta(minutes=1)
CARD_RETRY_MAX = timedelta(minutes=30)
#: The card's thread is told this long before a rotation's grace period ends.
GRACE_WARNING = timedelta(hours=1)


class Sweeper:
    """Finds what is due in the store; the workflow does it."""

    def __init__(self, workflow: ChangeWorkflow, store: RequestStore, policy: Policy) -> None:
        self._workflow = workflow
        self._store = store
        self._policy = policy
        # request id → (when to try its card again, how long the last wait was)
        self._card_retries: dict[str, tuple[datetime, timedelta]] = {}

    async def sweep(self, stop: asyncio.Event | None = None) -> None:
        """One pass: expire what is due, run orphaned approvals, reconcile interrupted runs.

        Up to `SWEEP_CONCURRENCY` requests are handled at once, and one request's failure is
        logged and reported without stopping the others. Expired requests' cards are all
        edited before anyone is told in a thread or by DM, so the edit lands within a minute
        even when many expire together. Once ``stop`` is set no further request is started;
        those already started are finished.
        """
        workflow = self._workflow
        now = workflow.now()
        told: list[ChangeRequest] = []

        async def expire(request: ChangeRequest) -> None:
            expired = await workflow.expire(request, tell=False)
            if expired is not None:
                told.append(expired)

        await self._each("expire", await self._store.due_for_expiry(now), expire, stop)
        await self._each("tell", told, workflow.cards.tell, None)  # decided: always told
        orphans = [
            request
            for request in await self._store.list_requests(states=[State.APPROVED], limit=None)
            if request.decided_at is None or now - request.decided_at >= APPROVED_GRACE
        ]
        await self._each("run", orphans, workflow.run, stop)
        stale = await self._store.stale_executing(now - workflow.lease)
        await self._each("reconcile", stale, workflow.reconcile, stop)
        await self._each(
            "post",
            self._cards_due(await self._store.without_card(now - CARD_RETRY), now),
            self._post_card,
            stop,
        )
        remind_after = self._policy.approvals.remind_after
        if remind_after is not None:
            due = await self._store.due_for_reminder(now, remind_after, MAX_REMINDERS)
            await self._each("remind", due, self._remind, stop)
        graces = await self._store.graces_due(now + GRACE_WARNING)
        ended = [r for r in graces if r.grace_ends_at is not None and r.grace_ends_at <= now]
        warned = [r for r in graces if r not in ended and r.grace_state is GraceState.OPEN]
        await self._each("warn", warned, workflow.warn_grace, stop)
        await self._each("end grace", ended, workflow.end_grace, stop)

    def _cards_due(self, missing: list[ChangeRequest], now: datetime) -> list[ChangeRequest]:
        """The cards to try again now, each backing off from one minute to half an hour."""
        waiting = {r.id for r in missing}
        self._card_retries = {k: v for k, v in self._card_retries.items() if k in waiting}
        due = []
        for request in missing:
            at, wait = self._card_retries.get(request.id, (now, CARD_RETRY))
            if at <= now:
                due.append(request)
                self._card_retries[request.id] = (now + wait, min(wait * 2, CARD_RETRY_MAX))
        return due

    async def _post_card(self, request: ChangeRequest) -> None:
        posted = await self._workflow.post_card(request)
        if posted.approval_ts is not None:
            self._card_retries.pop(request.id, None)

    async def _remind(self, request: ChangeRequest) -> None:
        await self._workflow.remind(request, limit=MAX_REMINDERS)

    async def _each(
        self,
        step: str,
        requests: Sequence[ChangeRequest],
        handle: Callable[[ChangeRequest], Awaitable[None]],
        stop: asyncio.Event | None,
    ) -> None:
        """``handle`` every request, a few at a time; a failure is reported, not raised."""
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def one(request: ChangeRequest) -> None:
            async with gate:
                if stop is not None and stop.is_set():
                    return
                try:
                    await handle(request)
                except Exception as exc:
                    log.exception("sweep_item_failed", step=step, request_id=request.id)
                    await self._workflow.cards.report(
                        Failure(
                            title=titles.sweep_step_failed(step),
                            operation=f"sweeper {step}",
                            error_code=_error_code(exc, "sweep.failed"),
                            detail=f"{request.id} {request.action}: {describe(exc)}",
                            correlation_id=request.correlation_id,
                        )
                    )

        await asyncio.gather(*(one(request) for request in requests))

    async def run(self, interval: float = 15.0, *, stop: asyncio.Event | None = None) -> None:
        """Sweep until ``stop`` is set (or cancelled); expired requests are edited within a
        minute. Setting ``stop`` lets the pass in progress finish what it started."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.sweep(stop)
                self._workflow.cards.proven({Cause.STORE_UNREACHABLE})  # it read the store
            except Exception as exc:
                log.exception("sweep_failed")
                await self._workflow.cards.report(
                    Failure(
                        title=titles.SWEEPER_FAILED,
                        operation="sweeper",
                        error_code=_error_code(exc, "sweep.failed"),
                        detail=describe(exc),
                        correlation_id="sweeper",
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def _error_code(exc: Exception, default: str) -> str:
    return "store.unavailable" if isinstance(exc, StoreUnavailable) else default
