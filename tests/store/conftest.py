"""Fixtures that run every store test on SQLite and on the real PostgreSQL.

PostgreSQL gets one fresh database per test run (``fpbot_test_<random>``), dropped at the end;
each test starts from an empty ``public`` schema, so every test also exercises the migrations
from nothing. Tests needing PostgreSQL are marked ``postgres`` and skipped, with the reason,
when the server on 127.0.0.1:5432 is not there.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.domain import ChangeRequest, State
from bot.store import Store, new_request_id

PG_DSN = "postgresql://postgres@127.0.0.1:5432/{database}"

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN.format(database="postgres"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The name of this run's PostgreSQL database, created now and dropped at the end."""
    name = f"fpbot_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not available: {exc}")
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL, in the form operators write it, of an empty database on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fpbot.sqlite3'}"
    name = request.getfixturevalue("pg_database")
    asyncio.run(_reset_schema(name))
    return PG_DSN.format(database=name)


async def _reset_schema(database: str) -> None:
    conn = await asyncpg.connect(PG_DSN.format(database=database), timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.connect(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def make_request(**overrides: Any) -> ChangeRequest:
    """A pending request with a fresh id, made at `T0`, expiring a day later."""
    base = ChangeRequest(
        id=new_request_id(),
        action="envs.delete",
        params={"environment_id": "ae_123", "nested": {"names": ["Staging", "EU"]}},
        summary="Delete environment *Staging* (`ae_123`)",
        requester="U0REQUESTER",
        channel_id="C0OPS",
        state=State.PENDING,
        required_approvals=1,
        created_at=T0,
        expires_at=T0 + timedelta(hours=24),
        before={"id": "ae_123", "name": "Staging"},
        correlation_id="corr-1",
    )
    return replace(base, **overrides)


@pytest.fixture
def request_factory() -> Callable[..., ChangeRequest]:
    """Builds requests as `make_request` does; tests pass overrides."""
    return make_request
