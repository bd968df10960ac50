"""Migration 0008 on every storage adapter: a row stuck at the limit with no ban (reservations
whose requests died) is freed; lower counts and real bans are kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from keepgate.adapters.sql.engine import make_engine
from tests.contract.test_audit_actor import _alembic

pytestmark = pytest.mark.anyio

INSERT = sa.text(
    "INSERT INTO accounts (id, email, password_hash, status, kyc_tier, created_at, "
    "failed_logins, banned_until) VALUES (:id, :email, 'hash', 'restricted', 0, :at, "
    ":failed, :until)")


async def test_0008_frees_rows_stuck_at_the_limit(database_url: str) -> None:
    _alembic(database_url, "downgrade", "0007")
    at = datetime(2026, 12, 1, tzinfo=UTC).replace(tzinfo=None)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for n, failed, until in ((1, 5, None), (2, 3, None), (3, 0, at)):
                await conn.execute(INSERT, {"id": f"acc-{n}", "email": f"u{n}@example.com",
                                            "at": at, "failed": failed, "until": until})
        _alembic(database_url, "upgrade", "head")
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT id, failed_logins, pending, banned_until IS NOT NULL AS banned "
                "FROM accounts ORDER BY id"))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("acc-1", 0, 0, False), ("acc-2", 3, 0, False),
                                        ("acc-3", 0, 0, True)]
