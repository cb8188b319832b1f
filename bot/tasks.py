"""Work that outlives the 3-second acknowledgement: tracked so shutdown can finish it, and
kept out of the way of the acknowledgements themselves.

Slack wants an answer within 3 seconds; the real work (API calls, approvals) runs after the
ack. Bolt does not track such work, so SIGTERM could cut a change in half. Every piece of
after-ack work is spawned here instead, and `drain` waits for it (bounded) before exit.

Everything runs on one event loop, so after-ack work and deliveries compete with the next
requests' acknowledgements for it. `Foreground` counts the requests Slack is waiting on; work
spawned here starts, and deliveries go out (`Foreground.idle`), only once none is, one at a time,
so a burst of commands is acknowledged at the pace of a bare Bolt app and its work follows. The
wait is bounded (`MAX_DEFER`): under unbroken load, background work still moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from bot.log import get_logger

log = get_logger(__name__)

#: The longest background work waits for the acknowledgements in progress to be done.
MAX_DEFER = 1.0
#: How long no request must have been in progress before background work goes ahead.
SETTLE = 0.005


class Foreground:
    """The requests Slack is waiting on right now; background work yields to them.

    Requests of a burst arrive a few milliseconds apart, so "none is being acknowledged" must
    hold for `settle` seconds before background work goes ahead: it runs after the burst, not
    in the gaps between its requests.
    """

    def __init__(self, max_defer: float = MAX_DEFER, settle: float = SETTLE) -> None:
        self.max_defer = max_defer
        self.settle = settle
        self._serving = 0
        self._answered_at = float("-inf")  # loop time the last request was answered
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._turn = asyncio.Lock()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around the handling of one request, from its arrival to its acknowledgement."""
        self._serving += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._serving -= 1
            if self._serving == 0:
                self._answered_at = asyncio.get_running_loop().time()
                self._quiet.set()

    async def idle(self) -> None:
        """Return once no request has been acknowledged for `settle` seconds (or `max_defer`
        after the call), one caller per turn of the event loop, so requests that arrive
        meanwhile are read first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_defer
        async with self._turn:
            while (now := loop.time()) < deadline:
                if not self._quiet.is_set():
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._quiet.wait(), deadline - now)
                    continue
                calm = self._answered_at + self.settle - now
                if calm <= 0:
                    break
                await asyncio.sleep(min(calm, deadline - now))
            await asyncio.sleep(0)


class TaskSet:
    """A set of background tasks that never lets an exception pass silently; each starts
    once the `Foreground` is idle."""

    def __init__(self, foreground: Foreground | None = None) -> None:
        self.foreground = foreground or Foreground()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closing(self) -> bool:
        return self._closing

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background once the foreground is idle; its failure is logged,
        never lost."""
        task = asyncio.create_task(self._after_foreground(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def _after_foreground(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            await self.foreground.idle()
        except BaseException:
            coro.close()  # cancelled before it started: never "was never awaited"
            raise
        return await coro

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background_task_failed", task=task.get_name(), exc_info=exc)

    async def drain(self, grace: float) -> int:
        """Stop taking work, wait up to ``grace`` seconds, cancel the rest; return how many.

        Waits until the set is empty, not just for the tasks there when it was called: work
        spawned meanwhile (a "restarting" answer to a late click, say) is waited for too.
        """
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while pending := {task for task in self._tasks if not task.done()}:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(pending, timeout=remaining)
        still = {task for task in self._tasks if not task.done()}
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=1)
            log.warning("shutdown_cancelled_tasks", count=len(still))
        return len(still)
