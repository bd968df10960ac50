"""Holds on every storage adapter: append-only at the database (nobody lifts one early), and
migration 0009 turns the holds placed before it into holds on the ``withdraw`` capability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.holds import HoldReason
from keepgate.domain.kyc import Capability
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.holds import place_hold
from tests.contract.test_audit_actor import _alembic

pytestmark = pytest.mark.anyio
CTX = RequestContext(ip="203.0.113.7", user_agent="test")


async def test_a_hold_can_be_neither_shortened_nor_removed(database_url: str,
                                                           clock: FrozenClock) -> None:
    store = SqlStore(make_engine(database_url))
    try:
        async with store.unit_of_work(write=True) as uow:
            await uow.accounts.create(Account(
                id="acc-1", email="a@example.com", phone=None, password_hash="h",
                status=AccountStatus.ACTIVE, kyc_tier=1, created_at=clock.now()))
            hold = await place_hold(uow, "acc-1", HoldReason.PASSWORD_RESET, CTX, clock.now())
        c = t.security_holds.c
        for statement in (sa.update(t.security_holds).where(c.id == hold.id)
                          .values(expires_at=clock.now()),
                          sa.delete(t.security_holds).where(c.id == hold.id)):
            with pytest.raises(DBAPIError, match="append-only"):
                async with store.engine.begin() as conn:
                    await conn.execute(statement)
        async with store.unit_of_work(write=False) as uow:
            (kept,) = await uow.holds.for_account("acc-1")
    finally:
        await store.close()
    assert kept == hold
    assert (kept.capability, kept.cause) == (Capability.WITHDRAW, "password.reset")
    assert kept.expires_at - kept.created_at == timedelta(hours=24)


async def test_0009_names_the_capability_of_earlier_holds(database_url: str) -> None:
    _alembic(database_url, "downgrade", "0008")
    at = datetime(2026, 12, 1, tzinfo=UTC).replace(tzinfo=None)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO accounts (id, email, password_hash, status, kyc_tier, created_at) "
                "VALUES ('acc-1', 'a@example.com', 'h', 'active', 1, :at)"), {"at": at})
            await conn.execute(sa.text(
                "INSERT INTO security_holds (id, account_id, kind, reason, created_at, "
                "expires_at) VALUES ('h-1', 'acc-1', 'withdrawal', 'email_change', :at, :end)"),
                {"at": at, "end": at + timedelta(hours=24)})
        _alembic(database_url, "upgrade", "head")
        store = SqlStore(engine)
        async with store.unit_of_work(write=False) as uow:
            (hold,) = await uow.holds.for_account("acc-1")
    finally:
        await engine.dispose()
    assert (hold.capability, hold.reason, hold.cause) == (
        Capability.WITHDRAW, HoldReason.EMAIL_CHANGE, "")
