"""Rows the service tests start from (accounts, sessions, trusted devices) and what they read
back (audit events, outbox messages), written and read through the store's own repositories;
``column_values`` reads what no repository shows (the counters' tables)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent
from keepgate.domain.factors import TrustedDevice
from keepgate.domain.sessions import AAL, Session
from keepgate.security.tokens import hash_token
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import OutboxMessage

IP = "203.0.113.7"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


async def add_account(store: SqlStore, clock: FrozenClock, account_id: str = "acc-1", *,
                      email: str | None = "ann@example.com", phone: str | None = None,
                      **security: Any) -> Account:
    """Create an account; ``security`` sets anti_phishing_code or muted_notices."""
    account = Account(id=account_id, email=email, phone=phone, password_hash="hash",
                      status=AccountStatus.RESTRICTED, kyc_tier=0, created_at=clock.now())
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(account)
        if security:
            assert await uow.accounts.update_security(account_id, 0, **security)
    return await get_account(store, account_id)


async def get_account(store: SqlStore, account_id: str) -> Account:
    async with store.unit_of_work(write=False) as uow:
        account = await uow.accounts.get(account_id)
    assert account is not None
    return account


async def add_session(store: SqlStore, clock: FrozenClock, account_id: str, token: str, *,
                      session_id: str | None = None,
                      lifetime: timedelta = timedelta(hours=12)) -> Session:
    now = clock.now()
    session = Session(id=session_id or f"ses-{token}", account_id=account_id,
                      token_hash=hash_token(token), aal=AAL.AAL1, methods=("password",),
                      channel="api", created_at=now, last_seen_at=now,
                      expires_at=now + lifetime, ip=IP, user_agent=USER_AGENT)
    async with store.unit_of_work(write=True) as uow:
        await uow.sessions.create(session)
    return session


async def get_session(store: SqlStore, session_id: str) -> Session:
    async with store.unit_of_work(write=False) as uow:
        session = await uow.sessions.get(session_id)
    assert session is not None
    return session


async def add_device(store: SqlStore, clock: FrozenClock, account_id: str, token: str, *,
                     device_id: str = "dev-1",
                     lifetime: timedelta = timedelta(days=30)) -> TrustedDevice:
    now = clock.now()
    device = TrustedDevice(id=device_id, account_id=account_id, token_hash=hash_token(token),
                           created_at=now, expires_at=now + lifetime, last_used_at=now,
                           ip=IP, user_agent=USER_AGENT)
    async with store.unit_of_work(write=True) as uow:
        await uow.devices.create(device)
        stored = await uow.devices.by_token_hash(device.token_hash)
    assert stored is not None
    return stored


async def get_device(store: SqlStore, token: str) -> TrustedDevice:
    async with store.unit_of_work(write=False) as uow:
        device = await uow.devices.by_token_hash(hash_token(token))
    assert device is not None
    return device


async def audit_events(store: SqlStore) -> list[AuditEvent]:
    """Every audit event, oldest first."""
    async with store.unit_of_work(write=False) as uow:
        return [record.event for record in await uow.audit.read()]


async def outbox(store: SqlStore) -> Sequence[OutboxMessage]:
    """Every message in the outbox, oldest first."""
    async with store.unit_of_work(write=False) as uow:
        return list(reversed(await uow.outbox.recent(1000)))


async def column_values(database_url: str, column: sa.Column[Any]) -> list[Any]:
    """Every value of ``column`` in the test's database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(column))).scalars())
    finally:
        await engine.dispose()


async def set_tier(store: SqlStore, account_id: str, level: int) -> None:
    """Raise an account's KYC tier as a reviewer's approval would (verification comes later)."""
    from keepgate.adapters.sql.tables import accounts

    status = AccountStatus.ACTIVE if level else AccountStatus.RESTRICTED
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(accounts).where(accounts.c.id == account_id)
                           .values(kyc_tier=level, status=status.value))
