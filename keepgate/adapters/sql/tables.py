"""Table definitions. Migrations in ``keepgate/migrations`` create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python; SQLite stores it as naive UTC text."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(254), unique=True),
    sa.Column("phone", sa.String(20), unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("kyc_tier", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    # Sign-in attempts reserved and not yet settled; counted only until pending_until.
    sa.Column("pending", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pending_until", UTCDateTime),
    sa.Column("banned_until", UTCDateTime),
    sa.Column("locked_at", UTCDateTime),
    sa.Column("anti_phishing_code", sa.String(20)),
    sa.Column("muted_notices", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("security_version", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="ck_accounts_identifier"),
)

flows = sa.Table(
    "flows", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("context", sa.JSON, nullable=False),
    sa.Column("messages", sa.JSON, nullable=False),
    sa.Column("binding", sa.String(64)),
    sa.Column("account_id", sa.String(36)),
    sa.Column("session_id", sa.String(36)),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False,
              index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("aal", sa.String(8), nullable=False),
    sa.Column("methods", sa.JSON, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(512), nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("second_factor_at", UTCDateTime),
    sa.Column("strong_factor_at", UTCDateTime),
)

factors = sa.Table(
    "factors", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False,
              index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("secret", sa.Text),
    sa.Column("last_step", sa.BigInteger),
    sa.Column("destination", sa.String(254)),
    sa.Column("credential_id", sa.String(1400), unique=True),
    sa.Column("public_key", sa.Text),
    sa.Column("sign_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("transports", sa.JSON, nullable=False),
    sa.Column("passkey", sa.Boolean, nullable=False, server_default=sa.false()),
)

recovery_codes = sa.Table(
    "recovery_codes", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False,
              index=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)

trusted_devices = sa.Table(
    "trusted_devices", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False,
              index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(512), nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pending", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pending_until", UTCDateTime),
    sa.Column("banned_until", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

# Failed sign-ins on identifiers with no account (and attempts refused unevaluated), keyed by
# a keyed hash of the identifier. Reserving and failing cost the same writes as on a real
# account's counter, so the time a refusal takes does not tell whether the account exists.
unknown_attempts = sa.Table(
    "unknown_attempts", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False, index=True),
)

# Messages sent (or, for addresses we must not reveal, pretended to be sent) per destination
# and purpose, in a fixed window: counted atomically before anything is queued.
send_budgets = sa.Table(
    "send_budgets", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("window_start", UTCDateTime, nullable=False, index=True),
    sa.Column("count", sa.Integer, nullable=False),
)

security_holds = sa.Table(
    "security_holds", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False,
              index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # the capability held
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("cause", sa.String(40)),  # the causing event's kind; NULL before migration 0009
)

# One row per account and capability that moves money: a reservation locks it first
# (SELECT ... FOR UPDATE on PostgreSQL), so reservations against one limit take turns.
limit_usage = sa.Table(
    "limit_usage", metadata,
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("capability", sa.String(20), primary_key=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Limit usage: reserved, then committed or released; amounts in minor units (cents).
limit_reservations = sa.Table(
    "limit_reservations", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("capability", sa.String(20), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("settled_at", UTCDateTime),
    sa.UniqueConstraint("account_id", "key"),
    sa.Index("ix_limit_reservations_usage", "account_id", "capability", "created_at"),
)

# The exchange's other services. Only a keyed hash of each secret is kept; a revoked client
# keeps its row (and its name) so that the audit log never names two clients alike.
service_clients = sa.Table(
    "service_clients", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("rotated_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("destination", sa.String(254), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("last_error", sa.String(500)),
    sa.Index("ix_outbox_destination_created_at", "destination", "created_at"),
    sa.Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("account_id", sa.String(36), index=True),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(512), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # Who acted; NULL on rows written before actors were recorded (migration 0006).
    sa.Column("actor_kind", sa.String(16)),
    sa.Column("actor_id", sa.String(64)),
    sa.Column("actor_reason", sa.String(500)),
    sa.Index("ix_audit_events_actor", "actor_kind", "actor_id"),
)

# One row: the chain's head. Appending locks it, which serialises appenders across instances.
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", BigId, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)
