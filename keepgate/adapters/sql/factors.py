"""Second factors (TOTP, SMS, email, WebAuthn) and the recovery codes that stand in for them.

``claim_step`` is the TOTP replay guard: one conditional UPDATE, so of two requests that
carry the same code only one is accepted, on SQLite and on PostgreSQL alike. Recovery codes
are stored as keyed hashes; using one marks it used in the same conditional way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.domain.factors import Factor, FactorKind

# Built once (see the package docstring).
_FOR_ACCOUNT = (sa.select(t.factors).where(t.factors.c.account_id == sa.bindparam("b_account_id"))
                .order_by(t.factors.c.created_at))


class SqlFactors:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> Factor:
        return Factor(id=row.id, account_id=row.account_id, kind=FactorKind(row.kind),
                      label=row.label, created_at=row.created_at,
                      confirmed_at=row.confirmed_at, last_used_at=row.last_used_at,
                      secret=row.secret, last_step=row.last_step, destination=row.destination,
                      credential_id=row.credential_id, public_key=row.public_key,
                      sign_count=row.sign_count, transports=tuple(row.transports),
                      passkey=row.passkey)

    async def for_account(self, account_id: str) -> Sequence[Factor]:
        rows = await self._c.execute(_FOR_ACCOUNT, {"b_account_id": account_id})
        return [self._row(r) for r in rows]

    async def get(self, factor_id: str) -> Factor | None:
        row = (await self._c.execute(
            sa.select(t.factors).where(t.factors.c.id == factor_id))).first()
        return self._row(row) if row else None

    async def by_credential_id(self, credential_id: str) -> Factor | None:
        row = (await self._c.execute(sa.select(t.factors).where(
            t.factors.c.credential_id == credential_id))).first()
        return self._row(row) if row else None

    async def create(self, factor: Factor) -> None:
        await self._c.execute(sa.insert(t.factors).values(
            id=factor.id, account_id=factor.account_id, kind=factor.kind.value,
            label=factor.label[:64], created_at=factor.created_at,
            confirmed_at=factor.confirmed_at, last_used_at=factor.last_used_at,
            secret=factor.secret, last_step=factor.last_step, destination=factor.destination,
            credential_id=factor.credential_id, public_key=factor.public_key,
            sign_count=factor.sign_count, transports=list(factor.transports),
            passkey=factor.passkey))

    async def claim_step(self, factor_id: str, step: int, now: datetime) -> bool:
        """TOTP replay guard: True only for the first use of ``step`` or a later one."""
        c = t.factors.c
        result = await self._c.execute(
            sa.update(t.factors)
            .where(c.id == factor_id, sa.or_(c.last_step.is_(None), c.last_step < step))
            .values(last_step=step, last_used_at=now))
        return bool(result.rowcount)

    async def record_use(self, factor_id: str, now: datetime, *,
                         sign_count: int | None = None) -> None:
        values: dict[str, Any] = {"last_used_at": now}
        if sign_count is not None:
            values["sign_count"] = sign_count
        await self._c.execute(sa.update(t.factors).where(t.factors.c.id == factor_id)
                              .values(**values))

    async def rename(self, factor_id: str, label: str) -> None:
        await self._c.execute(sa.update(t.factors).where(t.factors.c.id == factor_id)
                              .values(label=label[:64]))

    async def delete(self, factor_id: str) -> bool:
        result = await self._c.execute(sa.delete(t.factors).where(t.factors.c.id == factor_id))
        return bool(result.rowcount)

    async def count_secrets(self) -> int:
        result = await self._c.execute(sa.select(sa.func.count()).select_from(t.factors)
                                       .where(t.factors.c.secret.is_not(None)))
        return int(result.scalar_one())

    async def with_secrets(self, *, after_id: str, limit: int) -> Sequence[Factor]:
        c = t.factors.c
        rows = await self._c.execute(sa.select(t.factors)
                                     .where(c.secret.is_not(None), c.id > after_id)
                                     .order_by(c.id).limit(limit))
        return [self._row(r) for r in rows]

    async def replace_secret(self, factor_id: str, old: str, new: str) -> bool:
        c = t.factors.c
        result = await self._c.execute(sa.update(t.factors)
                                       .where(c.id == factor_id, c.secret == old)
                                       .values(secret=new))
        return bool(result.rowcount)


class SqlRecoveryCodes:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def replace(self, account_id: str, code_hashes: Sequence[str], now: datetime) -> None:
        await self._c.execute(sa.delete(t.recovery_codes).where(
            t.recovery_codes.c.account_id == account_id))
        await self._c.execute(sa.insert(t.recovery_codes), [
            {"account_id": account_id, "code_hash": h, "created_at": now} for h in code_hashes])

    async def use(self, account_id: str, code_hash: str, now: datetime) -> bool:
        c = t.recovery_codes.c
        result = await self._c.execute(
            sa.update(t.recovery_codes)
            .where(c.account_id == account_id, c.code_hash == code_hash, c.used_at.is_(None))
            .values(used_at=now))
        return bool(result.rowcount)

    async def remaining(self, account_id: str) -> int:
        c = t.recovery_codes.c
        result = await self._c.execute(sa.select(sa.func.count()).select_from(t.recovery_codes)
                                       .where(c.account_id == account_id, c.used_at.is_(None)))
        return int(result.scalar_one())
