"""Sign-in attempts in flight are counted apart from settled failures, and lapse on their own.

``accounts`` and ``trusted_devices`` gain ``pending`` (attempts reserved and not yet settled)
and ``pending_until`` (when they stop counting). Before this revision a reservation was added
to ``failed_logins`` and given back later in the request, so a request that died in between
left it there for good; a row at the limit with no ban date could then never sign in again.
Such rows can only be stuck reservations (the fifth settled failure always bans and resets the
count), so their count is cleared here. Lower counts are kept: they may hold real failures,
they leave a slot free, and the next finished sign-in clears them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("accounts", "trusted_devices")
SHIPPED_LIMIT = 5  # DefencePolicy.max_failures when this revision was written


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("pending", sa.Integer, nullable=False,
                                       server_default="0"))
        op.add_column(table, sa.Column("pending_until", UTCDateTime))
        op.execute(f"UPDATE {table} SET failed_logins = 0 "  # noqa: S608 (constant names)
                   f"WHERE banned_until IS NULL AND failed_logins >= {SHIPPED_LIMIT}")


def downgrade() -> None:
    for table in TABLES:
        # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35 and later, PostgreSQL).
        op.execute(f"ALTER TABLE {table} DROP COLUMN pending_until")
        op.execute(f"ALTER TABLE {table} DROP COLUMN pending")
