"""Shared work: identical concurrent requests run once, and one impatient caller can't spoil it."""

from __future__ import annotations

import asyncio

import pytest

from bot.singleflight import SingleFlight


async def test_concurrent_callers_of_one_key_share_one_run() -> None:
    runs = 0
    flights: SingleFlight[int] = SingleFlight()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(flights.run("envs", work) for _ in range(50)))
    assert results == [42] * 50
    assert runs == 1
    assert "envs" not in flights


async def test_every_caller_gets_the_same_error() -> None:
    flights: SingleFlight[int] = SingleFlight()

    async def work() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("upstream down")

    results = await asyncio.gather(
        *(flights.run("envs", work) for _ in range(3)), return_exceptions=True
    )
    assert [str(r) for r in results] == ["upstream down"] * 3


async def test_a_cancelled_caller_leaves_the_flight_running_for_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    impatient = asyncio.ensure_future(flights.run("k", work))
    patient = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "done"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_after_forget_a_new_caller_starts_a_new_run() -> None:
    flights: SingleFlight[int] = SingleFlight()
    runs = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return runs

    first = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    flights.forget()  # a write happened: later callers must not get the older answer
    second = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, second)
    assert runs == 2
