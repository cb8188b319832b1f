"""`TaskSet`: after-ack work runs behind the acknowledgements, and shutdown waits for it."""

from __future__ import annotations

import asyncio

from bot.tasks import Foreground, TaskSet


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


# ── the foreground: acknowledgements before background work ─────────────────────────────────


async def test_background_work_waits_until_the_requests_in_progress_are_answered() -> None:
    tasks = TaskSet(Foreground(max_defer=5.0, settle=0.01))
    started: list[str] = []

    async def work() -> None:
        started.append("work")

    with tasks.foreground.serving():
        tasks.spawn(work(), name="work")
        await asyncio.sleep(0.05)
        assert started == [], "background work ran while a request was being acknowledged"
    await asyncio.sleep(0.005)
    assert started == [], "it went ahead before the burst had settled"
    await asyncio.sleep(0.05)
    assert started == ["work"]


async def test_background_work_is_not_starved_by_unbroken_requests() -> None:
    tasks = TaskSet(Foreground(max_defer=0.1, settle=0.01))
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def work() -> None:
        started.append(loop.time())

    with tasks.foreground.serving():
        spawned = loop.time()
        tasks.spawn(work(), name="work")
        tasks.spawn(work(), name="work")
        await asyncio.sleep(0.5)
    assert len(started) == 2
    assert all(0.1 <= at - spawned < 0.3 for at in started), started


async def test_a_delivery_waits_its_turn_behind_an_acknowledgement() -> None:
    foreground = Foreground(max_defer=5.0, settle=0.0)
    order: list[str] = []

    async def deliver() -> None:
        await foreground.idle()
        order.append("delivered")

    async def acknowledge() -> None:
        with foreground.serving():
            await asyncio.sleep(0.02)
            order.append("acked")

    await asyncio.gather(acknowledge(), deliver())
    assert order == ["acked", "delivered"]


async def test_work_cancelled_before_it_started_is_closed_not_leaked() -> None:
    tasks = TaskSet(Foreground(max_defer=5.0))
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    with tasks.foreground.serving():
        task = tasks.spawn(work(), name="work")
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait([task])
    assert task.cancelled() and ran == []
