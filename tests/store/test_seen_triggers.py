"""Slack payloads already handled: a ``trigger_id`` is claimed once, on SQLite and PostgreSQL,
however many deliveries race for it, and old claims are forgotten."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.store import Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TRIGGER = "13345224609.738474920.8088930838d88f008e0"


async def test_a_trigger_is_claimed_by_its_first_delivery_only(store: Store) -> None:
    assert await store.claim_triggers([TRIGGER], T0) == {TRIGGER}
    assert await store.claim_triggers([TRIGGER], T0 + timedelta(seconds=1)) == set()


async def test_of_a_batch_only_the_triggers_not_seen_before_are_claimed(store: Store) -> None:
    await store.claim_triggers(["a", "b"], T0)

    assert await store.claim_triggers(["b", "c", "c", "d"], T0) == {"c", "d"}
    assert await store.claim_triggers([], T0) == set()


async def test_of_deliveries_racing_for_one_trigger_exactly_one_wins(database_url: str) -> None:
    """Two replicas (two stores on one database), ten deliveries each, at once."""
    stores = [await Store.connect(database_url) for _ in range(2)]
    try:
        claims = await asyncio.gather(
            *(stores[n % 2].claim_triggers([TRIGGER, f"own-{n}"], T0) for n in range(20))
        )
    finally:
        for store in stores:
            await store.close()

    assert sum(TRIGGER in claimed for claimed in claims) == 1
    assert all(f"own-{n}" in claimed for n, claimed in enumerate(claims))


async def test_claims_older_than_the_cutoff_are_forgotten_and_newer_ones_kept(
    store: Store,
) -> None:
    await store.claim_triggers(["old"], T0)
    await store.claim_triggers(["recent"], T0 + timedelta(minutes=59))

    assert await store.forget_triggers(seen_before=T0 + timedelta(minutes=30)) == 1

    later = T0 + timedelta(hours=1)
    assert await store.claim_triggers(["old", "recent"], later) == {"old"}
