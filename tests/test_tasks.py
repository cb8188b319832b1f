"""`TaskSet.drain`: shutdown waits for every piece of after-ack work, bounded."""

from __future__ import annotations

import asyncio

from bot.tasks import TaskSet


async def test_drain_waits_for_work_spawned_while_it_drains() -> None:
    tasks = TaskSet()
    done: list[str] = []

    async def late() -> None:
        await asyncio.sleep(0.2)
        done.append("late")

    async def first() -> None:
        await asyncio.sleep(0.05)
        tasks.spawn(late(), name="late")  # e.g. a "restarting" answer to a click
        done.append("first")

    tasks.spawn(first(), name="first")
    cancelled = await tasks.drain(2.0)

    assert cancelled == 0
    assert done == ["first", "late"]
    assert len(tasks) == 0 and tasks.closing


async def test_drain_gives_up_at_its_deadline_and_cancels_what_is_left() -> None:
    tasks = TaskSet()
    loop = asyncio.get_running_loop()

    async def forever() -> None:
        await asyncio.sleep(3600)

    async def spawner() -> None:
        while True:
            tasks.spawn(forever(), name="forever")
            await asyncio.sleep(0.05)

    tasks.spawn(spawner(), name="spawner")
    started = loop.time()
    cancelled = await tasks.drain(0.3)

    assert 0.3 <= loop.time() - started < 1.5
    assert cancelled >= 2
    await asyncio.sleep(0)
    assert len(tasks) == 0
