"""Per-destination send budgets, counted atomically and alike for every address.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_budgets",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_send_budgets"),
    )
    op.create_index("ix_send_budgets_window_start", "send_budgets", ["window_start"])


def downgrade() -> None:
    op.drop_table("send_budgets")
