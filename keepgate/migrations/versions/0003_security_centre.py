"""Security centre: anti-phishing code, notification preferences, security holds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("anti_phishing_code", sa.String(20)))
        batch.add_column(sa.Column("muted_notices", sa.JSON, nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("security_version", sa.Integer, nullable=False,
                                   server_default="0"))
    op.create_table(
        "security_holds",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_security_holds_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_security_holds"),
    )
    op.create_index("ix_security_holds_account_id", "security_holds", ["account_id"])


def downgrade() -> None:
    op.drop_table("security_holds")
    with op.batch_alter_table("accounts") as batch:
        for column in ("security_version", "muted_notices", "anti_phishing_code"):
            batch.drop_column(column)
