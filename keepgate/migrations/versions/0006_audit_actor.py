"""Audit events name who acted (``actor_kind``, ``actor_id``, ``actor_reason``) apart from the
account they concern (``account_id``).

Rows written before this revision are left as they are: the log is append-only (its triggers
stay), and their hashes never covered an actor. Their actor columns stay NULL, which readers
take as ``domain.audit.default_actor`` says: the customer themself where the event concerns an
account and was the customer's doing, the system for the rest (bans, rehashes, throttling and
CAPTCHA demands, events with no account). Every row written from now on records its actor, and
its hash covers it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("actor_kind", "actor_id", "actor_reason")


def upgrade() -> None:
    # Adding nullable columns rewrites no row, so the append-only triggers are not involved.
    op.add_column("audit_events", sa.Column("actor_kind", sa.String(16)))
    op.add_column("audit_events", sa.Column("actor_id", sa.String(64)))
    op.add_column("audit_events", sa.Column("actor_reason", sa.String(500)))
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_kind", "actor_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35 and later): a batch copy of the table
    # would drop its append-only triggers with it.
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE audit_events DROP COLUMN {column}")
