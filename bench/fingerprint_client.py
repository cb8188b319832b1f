"""How the Management API client behaves under load, against the stand-in with 20 ms latency.

Prints a small table:

(a) 200 concurrent environment listings from a cold client: upstream requests and 429s
    (target: a single page walk, zero 429s) — single-flight at work.
(b) A cold walk of 1,000 environments (10 pages of 100) at 5 requests/s: wall time against
    the floor the rate limit sets (pages ÷ rate); target ≤ 1.2 times the floor.
(c) Client overhead per call against a bare ``httpx.AsyncClient`` call to the same endpoint,
    same run, cache off, rate limit out of the way: what the typed models, error mapping,
    limiter and logging cost on top of HTTP.

Run: ``python -m bench.fingerprint_client``
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.harness import print_table
from bot.fingerprint import ManagementClient
from bot.log import configure_logging
from sandbox.fingerprint import FakeFingerprint, StandInServer

LATENCY = 0.02
RATE = 5.0


async def concurrent_listings(callers: int = 200) -> list[tuple[str, str, str]]:
    fake = FakeFingerprint(rate_limit=RATE, burst=5, environments=32, seed=1)
    async with StandInServer(fake) as api:
        fake.faults.latency = LATENCY
        async with ManagementClient(api_key=api.key, base_url=api.url, rate_limit=RATE) as client:
            started = time.perf_counter()
            results = await asyncio.gather(*(client.list_environments() for _ in range(callers)))
            wall = time.perf_counter() - started
    assert all(len(r) == 32 for r in results)
    return [
        ("(a) concurrent listings", "callers", str(callers)),
        ("", "upstream requests", str(fake.count("GET", "/environments"))),
        ("", "429s (target 0)", str(fake.rejected_429)),
        ("", "coalesced callers", str(client.stats.coalesced)),
        ("", "wall", f"{wall * 1000:.0f} ms"),
    ]


async def cold_walk(environments: int = 1000) -> list[tuple[str, str, str]]:
    fake = FakeFingerprint(rate_limit=RATE, burst=5, environments=environments, seed=1)
    async with StandInServer(fake) as api:
        fake.faults.latency = LATENCY
        async with ManagementClient(api_key=api.key, base_url=api.url, rate_limit=RATE) as client:
            started = time.perf_counter()
            envs = await client.list_environments()
            wall = time.perf_counter() - started
    pages = fake.count("GET", "/environments")
    floor = pages / RATE
    assert len(envs) == environments
    return [
        ("(b) cold walk", "environments", str(len(envs))),
        ("", "pages", str(pages)),
        ("", "floor (pages ÷ rate)", f"{floor:.2f} s"),
        ("", "wall", f"{wall:.2f} s"),
        ("", "wall ÷ floor (target ≤ 1.2)", f"{wall / floor:.2f}"),
        ("", "429s", str(fake.rejected_429)),
        ("", "max requests in any 1 s", str(fake.max_in_window(1.0))),
    ]


async def _timed(call: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    for _ in range(10):  # warm the connection pool and the code paths
        await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def overhead(latency: float, rounds: int = 200) -> list[tuple[str, str, str]]:
    fake = FakeFingerprint(rate_limit=1e6, burst=1_000_000, environments=32, seed=1)
    async with StandInServer(fake) as api:
        fake.faults.latency = latency
        headers = {"Authorization": f"Bearer {api.key}", "X-API-Version": "2024-05-20"}
        async with (
            httpx.AsyncClient(base_url=api.url, headers=headers) as bare,
            ManagementClient(
                api_key=api.key, base_url=api.url, rate_limit=1e6, cache_ttl=0
            ) as client,
        ):

            async def bare_call() -> object:
                response = await bare.get("/environments", params={"limit": 100})
                response.raise_for_status()
                return response.json()

            bare_times = await _timed(bare_call, rounds)
            client_times = await _timed(client.list_environments, rounds)
    bare_ms = statistics.median(bare_times) * 1000
    client_ms = statistics.median(client_times) * 1000
    label = f"(c) overhead, {latency * 1000:.0f} ms latency"
    return [
        (label, "bare httpx, median", f"{bare_ms:.2f} ms"),
        ("", "ManagementClient, median", f"{client_ms:.2f} ms"),
        ("", "overhead per call", f"{client_ms - bare_ms:+.2f} ms"),
    ]


async def main() -> None:
    configure_logging("WARNING", "console")
    rows = await concurrent_listings()
    rows += await cold_walk()
    rows += await overhead(LATENCY)
    rows += await overhead(0.0)
    print(f"Management API client against the stand-in ({RATE:g} req/s per key, burst 5)")
    print_table(rows, indent="", numbers=False)


if __name__ == "__main__":
    asyncio.run(main())
