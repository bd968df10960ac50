"""Failed sign-ins on unknown identifiers (equal-cost counting, against timing enumeration).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unknown_attempts",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_unknown_attempts"),
    )
    op.create_index("ix_unknown_attempts_updated_at", "unknown_attempts", ["updated_at"])


def downgrade() -> None:
    op.drop_table("unknown_attempts")
