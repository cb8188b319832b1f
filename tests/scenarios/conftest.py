"""Scenario fixtures: the real bot over loopback HTTP, wired to the fake Slack and the stand-in API.

`stack` is the sandbox itself (`sandbox.run.Sandbox`) — the same wiring `make run` starts — with
the sample policy, a fresh SQLite store and every log line captured, so a test can assert what
Slack received, what the API received, and what was logged. `make_stack` builds variants (another
policy, PostgreSQL, Redis, a slower API).

The Management API version the bot speaks is the ``api_version`` fixture: the default one,
unless a module runs under both with ``pytestmark = BOTH_VERSIONS`` (the modules about
commands, listings and changes do; those about Slack, transport and approvals need not).
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.log import configure_logging
from sandbox.run import Sandbox

PG_DSN = "postgresql://postgres@127.0.0.1:5432/{database}"

StackFactory = Callable[..., AbstractAsyncContextManager[Sandbox]]

API_2024 = "2024-05-20"
API_2025 = "2025-11-20"
#: Run a module's scenarios under each Management API version fpbot speaks.
BOTH_VERSIONS = pytest.mark.parametrize("api_version", [API_2024, API_2025], indirect=True)


@pytest.fixture
def api_version(request: pytest.FixtureRequest) -> str:
    """The ``FP_API_VERSION`` of the stacks a test builds (the default unless parametrized)."""
    return str(getattr(request, "param", API_2024))


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON, for secret scans and correlation ids."""
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", stream=buffer)
    yield buffer
    configure_logging("WARNING", "console")


@pytest.fixture
def make_stack(tmp_path: Path, log_buffer: io.StringIO, api_version: str) -> StackFactory:
    """Build a `Sandbox` with overrides: ``policy`` (YAML text), ``environments``, settings…"""

    @asynccontextmanager
    async def factory(*, policy: str | None = None, **kwargs: Any) -> AsyncIterator[Sandbox]:
        if policy is not None:
            path = tmp_path / f"policy-{secrets.token_hex(3)}.yml"
            path.write_text(policy)
            kwargs["policy_path"] = path
        kwargs.setdefault("database_url", f"sqlite:///{tmp_path / secrets.token_hex(3)}.sqlite3")
        kwargs.setdefault("log_level", "DEBUG")
        kwargs.setdefault("fp_api_version", api_version)
        async with Sandbox(**kwargs) as sandbox:
            yield sandbox

    return factory


@pytest.fixture
async def stack(make_stack: StackFactory) -> AsyncIterator[Sandbox]:
    """The sandbox as `make run` starts it: sample policy, 32 environments, SQLite."""
    async with make_stack() as sandbox:
        yield sandbox


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN.format(database="postgres"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"fpbot_scn_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not available: {exc}")
    yield PG_DSN.format(database=name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
