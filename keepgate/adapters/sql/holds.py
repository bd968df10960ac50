"""Security holds: temporary restrictions placed after a risky change or sign-in."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.domain.holds import HoldReason, SecurityHold
from keepgate.domain.kyc import Capability


class SqlHolds:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def create(self, hold: SecurityHold) -> None:
        await self._c.execute(sa.insert(t.security_holds).values(
            id=hold.id, account_id=hold.account_id, kind=hold.capability.value,
            reason=hold.reason.value, created_at=hold.created_at, expires_at=hold.expires_at,
            cause=hold.cause))

    async def for_account(self, account_id: str) -> Sequence[SecurityHold]:
        c = t.security_holds.c
        rows = await self._c.execute(sa.select(t.security_holds).where(
            c.account_id == account_id).order_by(c.created_at.desc()))
        return [SecurityHold(id=r.id, account_id=r.account_id, capability=Capability(r.kind),
                             reason=HoldReason(r.reason), created_at=r.created_at,
                             expires_at=r.expires_at, cause=r.cause or "") for r in rows]
