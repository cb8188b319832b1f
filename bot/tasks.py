"""Work that outlives the 3-second acknowledgement, tracked so shutdown can finish it.

Slack wants an answer within 3 seconds; the real work (API calls, approvals) runs after the
ack. Bolt does not track such work, so SIGTERM could cut a change in half. Every piece of
after-ack work is spawned here instead, and `drain` waits for it (bounded) before exit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from bot.log import get_logger

log = get_logger(__name__)


class TaskSet:
    """A set of background tasks that never lets an exception pass silently."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closing(self) -> bool:
        return self._closing

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; its failure is logged, never lost."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

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
