"""Creating and upgrading the schema in place, every time fpbot starts, with Alembic.

fpbot is deployed by people who will not run a separate migration command, so the store
migrates itself on start: `migrate` runs Alembic's revisions (``versions/``, recorded in
``alembic_version``) on a connection fpbot holds, all in one transaction. Several replicas may
start at once; on PostgreSQL they queue on an advisory lock, and on SQLite the transaction
begins ``IMMEDIATE`` (see `bot.store.store`), so exactly one of them applies each revision and
the others find it done. PostgreSQL and SQLite both roll DDL back with the transaction, so a
revision that fails leaves the database as it was.

Before Alembic, fpbot ran numbered steps recorded in a ``schema_version`` table; revisions
0001..0004 are those steps, unchanged. A database they built is adopted in place: stamped at
the matching revision, its ``schema_version`` dropped, then upgraded, in the same transaction.

Each revision describes the tables *as they were at that revision* and never imports the
current ones from `bot.store.schema` (only its column types): an old revision must keep
producing the same result forever. To change the schema, add a revision with the next number
as its id (``alembic.command.revision`` writes one from ``script.py.mako``); never edit one
that has shipped. There are no downgrades: an older fpbot refuses a newer schema
(`SchemaTooNew`) rather than undo it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = Path(__file__).parent

# pg_advisory_xact_lock key shared by every fpbot replica: the bytes of "fpbot:sv".
ADVISORY_LOCK_KEY = int.from_bytes(b"fpbot:sv", "big") & 0x7FFF_FFFF_FFFF_FFFF

# The revision each ``schema_version`` of the hand-written migrations corresponds to. Frozen:
# no fpbot will ever write a ``schema_version`` again.
_LEGACY_REVISIONS = {1: "0001", 2: "0002", 3: "0003", 4: "0004"}

_SCRIPTS = ScriptDirectory(str(SCRIPT_LOCATION))
_KNOWN_REVISIONS = frozenset(script.revision for script in _SCRIPTS.walk_revisions())
# The newest revision this fpbot knows, which `migrate` brings every database to; the history
# is one line, so there is exactly one head.
(HEAD_REVISION,) = _SCRIPTS.get_heads()


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer fpbot than this one; running would corrupt it."""


async def migrate(engine: AsyncEngine, *, target: str = "head") -> None:
    """Bring the schema up to ``target``, the newest revision by default.

    Safe to run any number of times and from several processes at once. ``engine`` must
    begin write transactions the way `bot.store.store` configures it (``IMMEDIATE`` on SQLite).

    Args:
        target: a revision id; tests use an older one to build an old database.

    Raises:
        SchemaTooNew: the database is at a revision this code does not know.
    """
    async with _alembic_to_ourselves(), engine.begin() as conn:
        await conn.run_sync(_migrate, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision, ``None`` for a database Alembic has not migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


def _current_revision(conn: Connection) -> str | None:
    # Configured as env.py configures it, so that Alembic's log says the same of the DDL.
    context = MigrationContext.configure(conn, opts={"transactional_ddl": True})
    return context.get_current_revision()


def _migrate(conn: Connection, target: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = conn
    _adopt_legacy(conn, config)
    revision = _current_revision(conn)
    if revision is not None and revision not in _KNOWN_REVISIONS:
        raise SchemaTooNew(
            f"the database schema is at revision {revision}, which this fpbot does not know "
            f"(its newest is {HEAD_REVISION}); run a newer fpbot"
        )
    command.upgrade(config, target)


def _adopt_legacy(conn: Connection, config: Config) -> None:
    """Hand a database built by the hand-written migrations over to Alembic, keeping its data.

    Its last ``schema_version`` names the revision its tables already match: that revision is
    stamped and ``schema_version`` dropped, in the caller's transaction, so a crash leaves the
    database as it was and the next start adopts it again.
    """
    if not inspect(conn).has_table("schema_version"):
        return
    version = conn.execute(text("SELECT max(version) FROM schema_version")).scalar_one()
    if version is not None:
        if version not in _LEGACY_REVISIONS:
            raise SchemaTooNew(
                f"the database schema is at version {version}, which this fpbot does not "
                f"know; run a newer fpbot"
            )
        command.stamp(config, _LEGACY_REVISIONS[version])
    conn.execute(text("DROP TABLE schema_version"))


# Alembic runs revisions through module-level proxies (``alembic.op``, ``alembic.context``), so
# two migrations in one process must not interleave, even on different databases. The lock is
# held across awaits and may be wanted from any event loop or thread: a thread lock, polled
# (an asyncio lock or event serves one loop only). Migrations run once, at start.
_ALEMBIC_IN_USE = threading.Lock()


@asynccontextmanager
async def _alembic_to_ourselves() -> AsyncIterator[None]:
    while not _ALEMBIC_IN_USE.acquire(blocking=False):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        _ALEMBIC_IN_USE.release()
