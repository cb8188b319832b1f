"""Concurrent callers asking for the same thing share one piece of work.

A busy channel fires the same ``/fp envs`` many times at once. Without sharing, each would
walk every page (spending the key's small rate budget) and then parse and render the same
hundreds of items — enough CPU, at a few hundred callers, to stall the event loop past
Slack's 3-second ack. The client shares the walk and the parse; the runner shares the render.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """One in-flight task per key; everyone who asks meanwhile awaits the same result."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[T]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._flights

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Join the flight for ``key``, or start it with ``work``; a caller that is cancelled
        leaves the flight running for the others."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(work())
            self._flights[key] = flight
            flight.add_done_callback(partial(self._land, key))
        return await asyncio.shield(flight)

    def _land(self, key: Hashable, flight: asyncio.Future[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here, so a failure nobody awaited is not reported

    def forget(self) -> None:
        """Later callers start afresh (a write happened); running flights finish for theirs."""
        self._flights.clear()

    def cancel(self) -> None:
        """Cancel every flight (shutting down)."""
        for flight in self._flights.values():
            flight.cancel()
        self._flights.clear()
