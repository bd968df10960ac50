"""Trusted devices: a browser confirmed by a second factor, with its own failed-login counter.

A device's counter is separate from its account's, so a ban earned elsewhere does not lock
the owner out of a device they already confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import failed_logins
from keepgate.adapters.sql import tables as t
from keepgate.domain.factors import TrustedDevice

# Built once (see the package docstring).
_BY_TOKEN_HASH = sa.select(t.trusted_devices).where(
    t.trusted_devices.c.token_hash == sa.bindparam("b_token_hash"))


class SqlDevices:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> TrustedDevice:
        return TrustedDevice(id=row.id, account_id=row.account_id, token_hash=row.token_hash,
                             created_at=row.created_at, expires_at=row.expires_at,
                             last_used_at=row.last_used_at, ip=row.ip,
                             user_agent=row.user_agent, failed_logins=row.failed_logins,
                             banned_until=row.banned_until, revoked_at=row.revoked_at)

    async def create(self, device: TrustedDevice) -> None:
        await self._c.execute(sa.insert(t.trusted_devices).values(
            id=device.id, account_id=device.account_id, token_hash=device.token_hash,
            created_at=device.created_at, expires_at=device.expires_at,
            last_used_at=device.last_used_at, ip=device.ip[:64],
            user_agent=device.user_agent[:512], failed_logins=0))

    async def get(self, device_id: str) -> TrustedDevice | None:
        row = (await self._c.execute(sa.select(t.trusted_devices).where(
            t.trusted_devices.c.id == device_id))).first()
        return self._row(row) if row else None

    async def by_token_hash(self, token_hash: str) -> TrustedDevice | None:
        row = (await self._c.execute(_BY_TOKEN_HASH, {"b_token_hash": token_hash})).first()
        return self._row(row) if row else None

    async def for_account(self, account_id: str) -> Sequence[TrustedDevice]:
        c = t.trusted_devices.c
        rows = await self._c.execute(sa.select(t.trusted_devices).where(
            c.account_id == account_id, c.revoked_at.is_(None)).order_by(c.created_at))
        return [self._row(r) for r in rows]

    async def reserve_attempt(self, device_id: str, now: datetime, limit: int,
                              lifetime: timedelta) -> int | None:
        return await failed_logins.reserve_attempt(self._c, t.trusted_devices, device_id, now,
                                                   limit, lifetime)

    async def count_failure(self, device_id: str, now: datetime) -> int:
        return await failed_logins.count_failure(self._c, t.trusted_devices, device_id, now)

    async def release_attempt(self, device_id: str, now: datetime) -> None:
        await failed_logins.release_attempt(self._c, t.trusted_devices, device_id, now)

    async def clear_failures(self, device_id: str, now: datetime) -> None:
        await failed_logins.clear_failures(self._c, t.trusted_devices, device_id, now,
                                           last_used_at=now)

    async def ban(self, device_id: str, until: datetime) -> None:
        await self._c.execute(sa.update(t.trusted_devices)
                              .where(t.trusted_devices.c.id == device_id)
                              .values(failed_logins=0, banned_until=until))

    async def revoke(self, device_id: str, now: datetime) -> bool:
        c = t.trusted_devices.c
        result = await self._c.execute(sa.update(t.trusted_devices).where(
            c.id == device_id, c.revoked_at.is_(None)).values(revoked_at=now))
        return bool(result.rowcount)

    async def revoke_all(self, account_id: str, now: datetime) -> int:
        c = t.trusted_devices.c
        result = await self._c.execute(sa.update(t.trusted_devices).where(
            c.account_id == account_id, c.revoked_at.is_(None)).values(revoked_at=now))
        return int(result.rowcount)
