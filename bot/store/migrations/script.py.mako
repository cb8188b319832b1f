"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date.date()}

Frozen once shipped: describe the tables as they are at this revision, never through
bot.store.schema's tables (its column types may be imported). No downgrade: fpbot never
goes back; an older fpbot refuses a newer schema (SchemaTooNew).
"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = "${up_revision}"
down_revision = "${down_revision}"


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
