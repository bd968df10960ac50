"""Limits and enforced holds: limit reservations, their lock rows, and each hold's cause.

``limit_usage`` holds one row per account and capability that moves money, locked by each
reservation; ``limit_reservations`` the usage itself (reserved, committed or released, in
minor units). ``security_holds`` gains ``cause`` (the kind of the event that placed the hold),
and its ``kind`` now names the capability held: ``withdrawal`` becomes ``withdraw``. Holds
become append-only at the database too (triggers refuse UPDATE and DELETE, as on
``audit_events``): nobody lifts or shortens one, whatever their access.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keepgate.adapters.sql.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("security_holds", sa.Column("cause", sa.String(40)))
    op.execute("UPDATE security_holds SET kind = 'withdraw' WHERE kind = 'withdrawal'")
    _append_only("security_holds")
    op.create_table(
        "limit_usage",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("capability", sa.String(20), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_limit_usage_account_id_accounts"),
        sa.PrimaryKeyConstraint("account_id", "capability", name="pk_limit_usage"),
    )
    op.create_table(
        "limit_reservations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("capability", sa.String(20), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("settled_at", UTCDateTime),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name="fk_limit_reservations_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_limit_reservations"),
        sa.UniqueConstraint("account_id", "key", name="uq_limit_reservations_account_id_key"),
    )
    op.create_index("ix_limit_reservations_usage", "limit_reservations",
                    ["account_id", "capability", "created_at"])


def _append_only(table: str) -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION keepgate_{table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION keepgate_{table}_append_only()
        """)
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
            """)


def _drop_append_only(table: str) -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS keepgate_{table}_append_only()")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    op.drop_table("limit_reservations")
    op.drop_table("limit_usage")
    _drop_append_only("security_holds")
    op.execute("UPDATE security_holds SET kind = 'withdrawal' WHERE kind = 'withdraw'")
    op.execute("ALTER TABLE security_holds DROP COLUMN cause")
