"""The in-process sliding window: how a rate becomes a window, and that a request holds its
slot until its answer is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.fingerprint.ratelimit import Paused, SlidingWindowLimiter, local_limiter, window_for


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(5.0, (5, 1.0)), (2.5, (2, 1.0)), (0.5, (1, 2.0)), (100.0, (100, 1.0))],
    ids=["whole", "fractional rounds down", "below one spreads out", "enterprise"],
)
def test_a_rate_becomes_a_count_per_window(rate: float, expected: tuple[int, float]) -> None:
    assert window_for(rate, margin=0.0) == expected


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_for(0)


async def test_the_limit_goes_at_once_and_the_next_waits_a_window() -> None:
    limiter = SlidingWindowLimiter(20.0, margin=0.0)
    started = time.monotonic()
    for _ in range(20):
        async with limiter.slot():
            pass
    assert time.monotonic() - started < 0.1
    async with limiter.slot():
        pass
    assert time.monotonic() - started >= 1.0


async def test_a_slot_is_held_while_its_request_is_in_flight() -> None:
    limiter = SlidingWindowLimiter(1.0, margin=0.0)
    answered = 0.0

    async def slow_request() -> None:
        nonlocal answered
        async with limiter.slot():
            await asyncio.sleep(0.2)
            answered = time.monotonic()

    first = asyncio.create_task(slow_request())
    await asyncio.sleep(0.01)
    async with limiter.slot():
        # The window counts from the first answer, not from when the first request left.
        assert time.monotonic() >= answered + 1.0
    await first


async def test_a_pause_holds_every_caller_back() -> None:
    limiter = SlidingWindowLimiter(100.0)
    await limiter.pause(0.2)
    started = time.monotonic()
    async with limiter.slot():
        pass
    assert time.monotonic() - started >= 0.19


async def test_a_caller_who_cannot_wait_out_a_pause_is_refused_at_once() -> None:
    limiter = SlidingWindowLimiter(100.0)
    await limiter.pause(5.0)
    started = time.monotonic()
    with pytest.raises(Paused) as caught:
        async with limiter.slot(deadline=time.monotonic() + 1.0):
            pass
    assert time.monotonic() - started < 0.05
    assert 4.9 < caught.value.remaining <= 5.0


async def test_a_caller_queued_behind_a_pause_is_refused_without_waiting_its_turn() -> None:
    limiter = SlidingWindowLimiter(100.0)
    await limiter.pause(0.5)
    patient = asyncio.create_task(limiter.slot(deadline=time.monotonic() + 5).__aenter__())
    await asyncio.sleep(0.01)  # the patient caller holds the queue, sleeping out the pause
    started = time.monotonic()
    with pytest.raises(Paused):
        async with limiter.slot(deadline=time.monotonic() + 0.1):
            pass
    assert time.monotonic() - started < 0.05
    await patient
    assert time.monotonic() - started >= 0.45


async def test_a_pause_only_lengthens() -> None:
    limiter = SlidingWindowLimiter(100.0)
    await limiter.pause(0.3)
    await limiter.pause(0.05)
    started = time.monotonic()
    async with limiter.slot():
        pass
    assert time.monotonic() - started >= 0.28


async def test_clients_of_one_key_share_one_limiter() -> None:
    assert local_limiter("same-key-123", 5.0) is local_limiter("same-key-123", 5.0)
    assert local_limiter("same-key-123", 5.0) is not local_limiter("other-key-456", 5.0)
