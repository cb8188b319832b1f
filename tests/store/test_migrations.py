"""The schema builds itself from nothing with Alembic, re-runs harmlessly, upgrades old
databases in place — those of the hand-written migrations before Alembic included — and
survives several replicas starting at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, Text, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.domain import ChangeRequest, State
from bot.settings import sqlalchemy_url
from bot.store import HEAD_REVISION, SchemaTooNew, Store
from bot.store.migrations import SCRIPT_LOCATION, current_revision, migrate
from bot.store.schema import metadata
from tests.store.fixtures import schema_v4
from tests.store.legacy_migrations import MIGRATIONS as LEGACY_STEPS
from tests.store.legacy_migrations import migrate_legacy

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[2]
FIXTURES = Path(__file__).with_name("fixtures")
VERSION_TABLES = ("alembic_version", "schema_version")
#: The tables of a store written before Alembic (tables added since are not in it).
LEGACY_TABLES = ("change_requests", "approvals", "audit_events", "notifications")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A plain engine on the test database, for looking underneath the store."""
    raw = create_async_engine(sqlalchemy_url(database_url))
    try:
        yield raw
    finally:
        await raw.dispose()


async def recorded_revisions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
        return [row[0] for row in rows]


async def has_table(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: inspect(sync).has_table(name))


def test_the_revisions_are_one_line_numbered_one_by_one() -> None:
    scripts = list(reversed(list(ScriptDirectory(str(SCRIPT_LOCATION)).walk_revisions())))
    assert [s.revision for s in scripts] == [f"{n:04d}" for n in range(1, len(scripts) + 1)]
    assert [s.down_revision for s in scripts] == [None] + [s.revision for s in scripts[:-1]]
    assert all(s.doc for s in scripts)
    assert scripts[-1].revision == HEAD_REVISION


async def test_an_empty_database_is_migrated_to_the_head(
    database_url: str, engine: AsyncEngine
) -> None:
    assert await current_revision(engine) is None
    store = await Store.connect(database_url)
    await store.close()
    assert await current_revision(engine) == HEAD_REVISION
    assert await recorded_revisions(engine) == [HEAD_REVISION]
    assert not await has_table(engine, "schema_version")


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
    await migrate(engine)
    assert await recorded_revisions(engine) == [HEAD_REVISION]


async def insert_0001_request(
    conn: AsyncConnection, request: ChangeRequest, **columns: Any
) -> None:
    """Insert ``request`` with only the columns revision 0001 (and schema_version 1) had."""
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
            **({"version": 1} | columns),
        )
    )


async def test_a_0001_database_is_upgraded_in_place_keeping_its_data(
    database_url: str, engine: AsyncEngine, request_factory: Callable[..., ChangeRequest]
) -> None:
    await migrate(engine, target="0001")
    assert await current_revision(engine) == "0001"
    request = request_factory()
    async with engine.begin() as conn:
        await insert_0001_request(conn, request)
    assert not await has_table(engine, "notifications")

    store = await Store.connect(database_url)
    try:
        assert await store.get(request.id) == request
        slot = await store.notification_slot("k", T0, timedelta(minutes=10))
        assert slot.is_new
    finally:
        await store.close()
    assert await current_revision(engine) == HEAD_REVISION


async def test_a_0002_database_gains_the_heartbeat_keeping_its_requests_and_groups(
    database_url: str, engine: AsyncEngine, request_factory: Callable[..., ChangeRequest]
) -> None:
    await migrate(engine, target="0002")
    running = request_factory(state=State.EXECUTING, executing_since=T0, decided_by="U0ALICE")
    async with engine.begin() as conn:
        await insert_0001_request(
            conn,
            running,
            decided_by=running.decided_by,
            executing_since=running.executing_since,
            version=3,
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
    assert await recorded_revisions(engine) == [HEAD_REVISION]
    async with engine.connect() as conn:
        assert "heartbeat_at" in await conn.run_sync(column_names)


def column_names(sync: Connection) -> set[str]:
    return {c["name"] for c in inspect(sync).get_columns("change_requests")}


async def test_the_migrated_schema_is_the_one_the_code_queries(
    database_url: str, engine: AsyncEngine
) -> None:
    """Alembic's autogenerate finds nothing to change: a table edited in schema.py without a
    revision fails here."""
    store = await Store.connect(database_url)
    await store.close()

    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["change_requests"].append_column(Column("forgotten", Text))

    def differences(sync: Connection, target: MetaData) -> list[Any]:
        context = MigrationContext.configure(
            sync, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences, metadata) == []
        # The comparison does see a difference, when there is one.
        [(change, *_)] = await conn.run_sync(differences, drifted)
        assert change == "add_column"


def shape(sync: Connection) -> dict[str, Any]:
    """Every table but the version tables, as the database describes it."""
    inspector = inspect(sync)
    tables = sorted(set(inspector.get_table_names()) - set(VERSION_TABLES))
    described: dict[str, Any] = {
        name: {
            "columns": [
                (c["name"], c["type"].compile(sync.dialect), c["nullable"], c["default"])
                for c in inspector.get_columns(name)
            ],
            "pk": inspector.get_pk_constraint(name),
            "fks": inspector.get_foreign_keys(name),
            "indexes": sorted(inspector.get_indexes(name), key=lambda i: str(i["name"])),
            "unique": sorted(inspector.get_unique_constraints(name), key=lambda u: str(u["name"])),
        }
        for name in tables
    }
    if sync.dialect.name == "sqlite":
        # The DDL exactly as written, on SQLite where the database keeps it.
        rows = sync.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master")
        described["sqlite_master"] = sorted(
            tuple(row) for row in rows if row.tbl_name not in VERSION_TABLES
        )
    return described


def drop_everything(sync: Connection) -> None:
    tables = MetaData()
    tables.reflect(sync)
    tables.drop_all(sync)


@pytest.mark.parametrize("version", [m.version for m in LEGACY_STEPS])
async def test_each_revision_builds_what_its_hand_written_step_built(
    engine: AsyncEngine, version: int
) -> None:
    await migrate_legacy(engine, target=version)
    async with engine.begin() as conn:
        legacy = await conn.run_sync(shape)
        await conn.run_sync(drop_everything)
    await migrate(engine, target=f"{version:04d}")
    async with engine.connect() as conn:
        assert await conn.run_sync(shape) == legacy


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_an_older_database_of_the_hand_written_migrations_is_adopted_and_upgraded(
    database_url: str,
    engine: AsyncEngine,
    request_factory: Callable[..., ChangeRequest],
    version: int,
) -> None:
    await migrate_legacy(engine, target=version)
    request = request_factory()
    async with engine.begin() as conn:
        await insert_0001_request(conn, request)

    store = await Store.connect(database_url)
    try:
        assert await store.get(request.id) == request
    finally:
        await store.close()
    assert await recorded_revisions(engine) == [HEAD_REVISION]
    assert not await has_table(engine, "schema_version")


async def table_rows(
    engine: AsyncEngine, columns: dict[str, list[str]] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a store written before Alembic had, as stored: every column,
    or only the ``columns`` named (the ones an older schema had, to compare its rows with what
    a newer one kept of them)."""
    async with engine.connect() as conn:
        rows = {}
        for name in LEGACY_TABLES:
            wanted = ", ".join(columns[name]) if columns else "*"
            result = await conn.exec_driver_sql(f"SELECT {wanted} FROM {name}")
            rows[name] = sorted((tuple(row) for row in result), key=repr)
        return rows


async def copy_fixture_rows(engine: AsyncEngine) -> None:
    """Copy every row of the pre-Alembic SQLite fixture, as the old code wrote it, into a
    database the legacy steps built (the columns are those of schema_version 4 on both)."""
    source = create_async_engine(
        sqlalchemy_url(f"sqlite:///{FIXTURES / 'fpbot-schema-v4.sqlite3'}")
    )
    try:
        old, new = MetaData(), MetaData()
        async with source.connect() as conn:
            await conn.run_sync(old.reflect)
            rows = {
                name: [dict(row._mapping) for row in await conn.execute(old.tables[name].select())]
                for name in LEGACY_TABLES
            }
        async with engine.begin() as conn:
            await conn.run_sync(new.reflect)
            for name in LEGACY_TABLES:
                values = [{k: _aware(v) for k, v in row.items()} for row in rows[name]]
                await conn.execute(insert(new.tables[name]), values)
    finally:
        await source.dispose()


def _aware(value: Any) -> Any:
    """SQLite keeps fpbot's UTC timestamps naive; PostgreSQL's columns want them aware."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


async def table_columns(engine: AsyncEngine) -> dict[str, list[str]]:
    """The columns of every table a store written before Alembic had, in order, as the
    database has them now."""
    async with engine.connect() as conn:
        found = {}
        for name in LEGACY_TABLES:
            result = await conn.exec_driver_sql(f"SELECT * FROM {name} WHERE 1 = 0")
            found[name] = list(result.keys())
        return found


async def test_a_store_written_before_alembic_is_upgraded_in_place_keeping_every_row(
    backend: str, database_url: str, engine: AsyncEngine
) -> None:
    """A store as the hand-written migrations left it, full of data, opened by this fpbot.

    On SQLite, a file written by fpbot before Alembic (``fixtures/schema_v4.py``); on
    PostgreSQL, that file's rows copied into a database the legacy steps built.
    """
    if backend == "sqlite":
        shutil.copyfile(
            FIXTURES / "fpbot-schema-v4.sqlite3", database_url.removeprefix("sqlite:///")
        )
    else:
        await migrate_legacy(engine, target=len(LEGACY_STEPS))
        await copy_fixture_rows(engine)
    async with engine.connect() as conn:
        steps = await conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version")
        assert [row[0] for row in steps] == [1, 2, 3, 4]
    written = await table_rows(engine)
    columns = await table_columns(engine)
    assert {name: len(rows) for name, rows in written.items()} == {
        "change_requests": 6,
        "approvals": 5,
        "audit_events": 12,
        "notifications": 2,
    }

    store = await Store.connect(database_url)
    try:
        assert await table_rows(engine, columns) == written
        await schema_v4.check(store)
    finally:
        await store.close()
    assert await recorded_revisions(engine) == [HEAD_REVISION]
    assert not await has_table(engine, "schema_version")


async def test_replicas_starting_at_once_migrate_once(
    database_url: str, engine: AsyncEngine
) -> None:
    """Six stores in one process: they take turns on Alembic's process-wide state, then on the
    database's lock (the next test has separate processes contend for the database alone)."""
    stores = await asyncio.gather(*(Store.connect(database_url) for _ in range(6)))
    try:
        await asyncio.gather(*(s.ping() for s in stores))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert await recorded_revisions(engine) == [HEAD_REVISION]


@pytest.mark.parametrize("legacy_version", [0, 2], ids=["empty", "schema_version-2"])
async def test_replica_processes_starting_at_once_apply_each_revision_once(
    database_url: str, engine: AsyncEngine, legacy_version: int
) -> None:
    """Four processes open the store at the same moment; their logs, taken together, show
    each revision (and the adoption of a legacy database) applied by exactly one of them."""
    if legacy_version:
        await migrate_legacy(engine, target=legacy_version)
    start_at = time.time() + 3  # every process has imported everything by then
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("migrate_worker.py")),
            database_url,
            str(start_at),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    logs = [(await asyncio.wait_for(w.communicate(), timeout=60))[1].decode() for w in workers]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log
    applied = sorted(
        line.split("Running ", 1)[1].split(",")[0]
        for log in logs
        for line in log.splitlines()
        if "Running " in line
    )
    first = f"stamp_revision  -> {legacy_version:04d}" if legacy_version else "upgrade  -> 0001"
    rest = range(max(legacy_version, 1) + 1, int(HEAD_REVISION) + 1)
    expected = [first, *(f"upgrade {n - 1:04d} -> {n:04d}" for n in rest)]
    assert applied == sorted(expected)
    assert await recorded_revisions(engine) == [HEAD_REVISION]


async def test_migrations_of_different_databases_in_one_process_do_not_interleave(
    tmp_path: Path,
) -> None:
    """Alembic's ``op`` is process-wide: two stores migrating at once must take turns."""
    urls = [f"sqlite:///{tmp_path / f'{n}.sqlite3'}" for n in range(3)]
    stores = await asyncio.gather(*(Store.connect(url) for url in urls))
    await asyncio.gather(*(s.close() for s in stores))
    for url in urls:
        raw = create_async_engine(sqlalchemy_url(url))
        try:
            assert await recorded_revisions(raw) == [HEAD_REVISION]
        finally:
            await raw.dispose()


async def test_a_database_from_a_newer_fpbot_is_refused(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaTooNew, match=r"revision f00d.*run a newer fpbot") as refused:
        await Store.connect(database_url)
    assert "\n" not in str(refused.value)
    assert await recorded_revisions(engine) == ["f00d"]


async def test_a_hand_written_schema_version_this_fpbot_does_not_know_is_refused(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate_legacy(engine, target=len(LEGACY_STEPS))
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO schema_version VALUES (5, 'future', '2030-01-01 00:00:00')")
        )
    with pytest.raises(SchemaTooNew, match="version 5"):
        await Store.connect(database_url)
    assert await has_table(engine, "schema_version")
    assert not await has_table(engine, "alembic_version")
