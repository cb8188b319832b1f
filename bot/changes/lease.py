"""The execution lease: how a running change tells every replica "this one is alive".

An ``executing`` row whose lease was not renewed for `EXECUTION_LEASE` belongs to a process that
died mid-change, and a sweeper reconciles it. The process running a change renews the lease (a
heartbeat in the store) every quarter of it for as long as the change runs, however long it
waits for the API's rate budget, so only a dead process's request goes stale; a few missed
heartbeats (a slow database) do not make a live change stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.log import get_logger
from bot.store import StoreUnavailable

log = get_logger(__name__)

EXECUTION_LEASE = timedelta(minutes=2)

Renew = Callable[[str, bool], Awaitable[bool]]
"""Renews one request's lease; with ``strict`` set, not once it has lapsed."""


class Lease:
    """The execution lease of one request, as the process running it holds it.

    Until the change is started a lapsed lease is lost for good: another replica may already
    be reconciling the request as interrupted, so the change must not start. Once the first
    write is underway the live process keeps claiming the request, whatever a slow store did
    to the heartbeat meanwhile: stopping then would not undo the write.
    """

    def __init__(self, request_id: str, renew: Renew) -> None:
        self.request_id = request_id
        self._renew = renew
        self.started = False
        self.lost = False

    async def renew(self) -> bool:
        """Renew it (the heartbeat); before the start, once lost it stays lost."""
        if self.lost:
            return False
        if not await self._renew(self.request_id, not self.started):
            self.lost = True
        return not self.lost

    async def start(self) -> bool:
        """Whether the change may start: the lease still holds, renewed right now. Asked
        right before the first write; from then on the lease is the running change's.

        Raises:
            StoreUnavailable: the store cannot say; the change must not start either.
        """
        if not await self.renew():
            return False
        self.started = True
        return True


@asynccontextmanager
async def held(request_id: str, renew: Renew, duration: timedelta) -> AsyncIterator[Lease]:
    """Keep ``request_id``'s lease renewed while the body runs, so the sweeper leaves it be.

    The heartbeat is told to stop when the body ends (a renewal in progress is let finish
    rather than cut off mid-write) and is cancelled if this task itself is cancelled, so it
    never outlives the execution.
    """
    lease = Lease(request_id, renew)
    stop = asyncio.Event()
    beating = asyncio.create_task(
        _heartbeat(lease, stop, duration.total_seconds() / 4), name=f"lease:{request_id}"
    )
    try:
        yield lease
    finally:
        stop.set()
        try:
            await asyncio.wait([beating])
        finally:
            beating.cancel()  # a no-op once it has stopped; stops it if we were cancelled


async def _heartbeat(lease: Lease, stop: asyncio.Event, interval: float) -> None:
    """Renew the lease every ``interval`` seconds until ``stop`` is set; never raises."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
        else:
            return
        try:
            renewed = await lease.renew()
        except StoreUnavailable as exc:  # the next beat may get through; the change runs on
            log.warning("lease_not_renewed", request_id=lease.request_id, error=str(exc))
            continue
        except Exception:
            log.exception("lease_not_renewed", request_id=lease.request_id)
            continue
        if not renewed:  # no longer executing, or lapsed: nothing left to keep alive
            log.warning("lease_lost", request_id=lease.request_id)
            return
