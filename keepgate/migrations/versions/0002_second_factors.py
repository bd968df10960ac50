"""Second factors, recovery codes, trusted devices, and sign-in failure counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("banned_until", UTCDateTime))
        batch.add_column(sa.Column("locked_at", UTCDateTime))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("second_factor_at", UTCDateTime))
    op.create_table(
        "factors",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.Column("secret", sa.Text),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("destination", sa.String(254)),
        sa.Column("credential_id", sa.String(1400)),
        sa.Column("public_key", sa.Text),
        sa.Column("sign_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("transports", sa.JSON, nullable=False),
        sa.Column("passkey", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_factors_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_factors"),
        sa.UniqueConstraint("credential_id", name="uq_factors_credential_id"),
    )
    op.create_index("ix_factors_account_id", "factors", ["account_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_recovery_codes_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.UniqueConstraint("code_hash", name="uq_recovery_codes_code_hash"),
    )
    op.create_index("ix_recovery_codes_account_id", "recovery_codes", ["account_id"])
    op.create_table(
        "trusted_devices",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_used_at", UTCDateTime, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("banned_until", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_trusted_devices_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_trusted_devices"),
        sa.UniqueConstraint("token_hash", name="uq_trusted_devices_token_hash"),
    )
    op.create_index("ix_trusted_devices_account_id", "trusted_devices", ["account_id"])


def downgrade() -> None:
    for name in ("trusted_devices", "recovery_codes", "factors"):
        op.drop_table(name)
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("second_factor_at")
    with op.batch_alter_table("accounts") as batch:
        for column in ("locked_at", "banned_until", "failed_logins"):
            batch.drop_column(column)
