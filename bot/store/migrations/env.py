"""Alembic's environment for fpbot: run the revisions on the connection fpbot passes in.

fpbot migrates itself on start (`bot.store.migrations.migrate`) inside its own transaction and
under its own lock, so this file only hands that connection to Alembic: there is no
``alembic.ini``, no database URL and no offline (``--sql``) mode. With the connection already
in a transaction, Alembic neither begins nor commits one, so every revision and the version
stamp commit or roll back together with fpbot's transaction.
"""

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "fpbot's revisions run through bot.store.migrations.migrate, on its connection"
    )
# SQLite's DDL is transactional too when, as in fpbot, the driver leaves BEGIN to the caller.
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
