"""A second client process for the shared-budget test: N concurrent calls through Redis.

Usage: python redis_worker.py <api url> <api key> <redis prefix> <calls> <start at (epoch s)>
"""

from __future__ import annotations

import asyncio
import sys
import time

from redis.asyncio import Redis

from bot.fingerprint import ManagementClient


async def main(url: str, key: str, prefix: str, calls: int, start_at: float) -> None:
    redis = Redis(host="127.0.0.1", port=6379)
    client = ManagementClient(
        api_key=key, base_url=url, rate_limit=5.0, redis=redis, redis_prefix=prefix
    )
    async with client:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(client.hello() for _ in range(calls)))
    await redis.aclose()
    print(client.stats.requests_sent)


if __name__ == "__main__":
    url, key, prefix, calls, start_at = sys.argv[1:6]
    asyncio.run(main(url, key, prefix, int(calls), float(start_at)))
