"""Sessions record when they last proved a *strong* second factor (``strong_factor_at``): an
email code stamps ``second_factor_at`` only, and security changes ask for the strong stamp.

Sessions from before this revision keep NULL: whatever they proved is older than the step-up
window soon enough, and the next step-up stamps it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("strong_factor_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("strong_factor_at")
