"""The schema builds itself from nothing, re-runs harmlessly, upgrades old databases in place,
and survives several replicas starting at once — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, insert, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.domain import ChangeRequest, State
from bot.settings import sqlalchemy_url
from bot.store import LATEST_VERSION, SchemaTooNew, Store
from bot.store.migrations import MIGRATIONS, current_version, migrate, schema_version_table
from bot.store.schema import metadata

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A plain engine on the test database, for looking underneath the store."""
    raw = create_async_engine(sqlalchemy_url(database_url))
    try:
        yield raw
    finally:
        await raw.dispose()


async def recorded_versions(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version")
        return [row[0] for row in rows]


def test_the_steps_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == LATEST_VERSION


async def test_an_empty_database_is_migrated_to_the_latest_version(
    database_url: str, engine: AsyncEngine
) -> None:
    assert await current_version(engine) == 0
    store = await Store.connect(database_url)
    await store.close()
    assert await current_version(engine) == LATEST_VERSION
    assert await recorded_versions(engine) == list(range(1, LATEST_VERSION + 1))


async def test_migrating_again_changes_nothing(
    database_url: str, engine: AsyncEngine, request_factory: Callable[..., ChangeRequest]
) -> None:
    store = await Store.connect(database_url)
    request = request_factory()
    await store.create(request)
    await store.close()

    store = await Store.connect(database_url)
    try:
        assert await store.get(request.id) == request
    finally:
        await store.close()
    assert await migrate(engine) == LATEST_VERSION
    assert await recorded_versions(engine) == list(range(1, LATEST_VERSION + 1))


async def test_a_version_1_database_is_upgraded_in_place_keeping_its_data(
    database_url: str, engine: AsyncEngine, request_factory: Callable[..., ChangeRequest]
) -> None:
    assert await migrate(engine, target=1) == 1
    request = request_factory()
    async with engine.begin() as conn:
        await conn.execute(
            insert(metadata.tables["change_requests"]).values(
                id=request.id,
                action=request.action,
                params=request.params,
                summary=request.summary,
                requester=request.requester,
                channel_id=request.channel_id,
                state=request.state.value,
                required_approvals=request.required_approvals,
                created_at=request.created_at,
                expires_at=request.expires_at,
                before=request.before,
                correlation_id=request.correlation_id,
                version=1,
            )
        )
        assert not await conn.run_sync(lambda sync: inspect(sync).has_table("notifications"))

    store = await Store.connect(database_url)
    try:
        assert await store.get(request.id) == request
        slot = await store.notification_slot("k", T0, timedelta(minutes=10))
        assert slot.is_new
    finally:
        await store.close()
    assert await current_version(engine) == LATEST_VERSION


async def test_a_version_2_database_gains_the_heartbeat_keeping_its_requests_and_groups(
    database_url: str, engine: AsyncEngine, request_factory: Callable[..., ChangeRequest]
) -> None:
    assert await migrate(engine, target=2) == 2
    running = request_factory(state=State.EXECUTING, executing_since=T0, decided_by="U0ALICE")
    async with engine.begin() as conn:
        await conn.execute(
            insert(metadata.tables["change_requests"]).values(
                id=running.id,
                action=running.action,
                params=running.params,
                summary=running.summary,
                requester=running.requester,
                channel_id=running.channel_id,
                state=running.state.value,
                required_approvals=running.required_approvals,
                created_at=running.created_at,
                expires_at=running.expires_at,
                before=running.before,
                decided_by=running.decided_by,
                executing_since=running.executing_since,
                correlation_id=running.correlation_id,
                version=3,
            )
        )
        await conn.execute(
            insert(metadata.tables["notifications"]).values(
                key="k", channel="C0ALERTS", ts="1.2", count=4, first_at=T0, last_at=T0
            )
        )
        assert "heartbeat_at" not in await conn.run_sync(column_names)

    store = await Store.connect(database_url)
    try:
        assert await store.get(running.id) == running
        assert [r.id for r in await store.stale_executing(T0)] == [running.id]
        slot = await store.notification_slot("k", T0 + timedelta(minutes=1), timedelta(minutes=10))
        assert (slot.is_new, slot.count, slot.channel, slot.ts) == (False, 5, "C0ALERTS", "1.2")

        assert await store.renew_lease(running.id, T0 + timedelta(minutes=1))
        assert await store.stale_executing(T0) == []
        renewed = await store.get(running.id)
        assert renewed is not None and renewed.version == 3
    finally:
        await store.close()
    assert await current_version(engine) == LATEST_VERSION
    assert await recorded_versions(engine) == list(range(1, LATEST_VERSION + 1))
    async with engine.connect() as conn:
        assert "heartbeat_at" in await conn.run_sync(column_names)


def column_names(sync: Connection) -> set[str]:
    return {c["name"] for c in inspect(sync).get_columns("change_requests")}


async def test_the_migrated_schema_is_the_one_the_code_queries(
    database_url: str, engine: AsyncEngine
) -> None:
    """A table edited in schema.py without a migration step fails here."""
    store = await Store.connect(database_url)
    await store.close()

    def shape(sync: Connection) -> dict[str, Any]:
        inspector = inspect(sync)
        return {
            name: {
                "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(name)},
                "indexes": {i["name"] for i in inspector.get_indexes(name)},
                "unique": {
                    tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
                },
                "pk": tuple(inspector.get_pk_constraint(name)["constrained_columns"]),
            }
            for name in metadata.tables
        }

    async with engine.connect() as conn:
        actual = await conn.run_sync(shape)
    for name, table in metadata.tables.items():
        assert actual[name]["columns"] == {c.name: c.nullable for c in table.columns}, name
        assert actual[name]["indexes"] >= {i.name for i in table.indexes}, name
        assert actual[name]["pk"] == tuple(c.name for c in table.primary_key), name
    assert ("request_id", "user_id") in actual["approvals"]["unique"]


async def test_replicas_starting_at_once_migrate_once(
    database_url: str, engine: AsyncEngine
) -> None:
    stores = await asyncio.gather(*(Store.connect(database_url) for _ in range(6)))
    try:
        await asyncio.gather(*(s.ping() for s in stores))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert await recorded_versions(engine) == list(range(1, LATEST_VERSION + 1))


async def test_a_database_from_a_newer_fpbot_is_refused(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema_version_table).values(
                version=LATEST_VERSION + 1, description="future", applied_at=T0
            )
        )
    with pytest.raises(SchemaTooNew, match=f"version {LATEST_VERSION + 1}"):
        await Store.connect(database_url)
