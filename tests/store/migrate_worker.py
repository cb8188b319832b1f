"""Another fpbot replica starting, for the test of replicas migrating at once.

Opens the store (which migrates it) at the given moment and logs, through Alembic's logger on
stderr, each revision it applied.

Usage: python migrate_worker.py <database url> <start at (epoch s)>
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from bot.store import Store


async def main(url: str, start_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    store = await Store.connect(url)
    await store.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
