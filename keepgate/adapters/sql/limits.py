"""Limit reservations, serialised per account and capability.

``lock`` makes sure the account's ``limit_usage`` row for the capability exists (an insert
that ignores a conflict) and, on PostgreSQL, takes it with ``SELECT ... FOR UPDATE``: a second
reservation against the same limit waits there until the first commits or rolls back, and
then, at READ COMMITTED, its usage query sees what the first wrote. On SQLite a write unit of
work already holds the database's write lock from ``BEGIN IMMEDIATE`` (``engine``), which
serialises every writer; the row is written all the same, so both backends run one code path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.domain.kyc import Capability
from keepgate.domain.limits import Reservation, ReservationStatus, Usage
from keepgate.domain.money import from_minor, to_minor
from keepgate.services.ports import DuplicateReservationKey

R = t.limit_reservations.c


class SqlLimits:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def lock(self, account_id: str, capability: Capability, now: datetime) -> None:
        insert_fn: Any = sqlite_insert if self._c.dialect.name == "sqlite" else postgresql_insert
        await self._c.execute(insert_fn(t.limit_usage).values(
            account_id=account_id, capability=capability.value, updated_at=now,
        ).on_conflict_do_nothing())
        c = t.limit_usage.c
        row = sa.select(c.account_id).where(c.account_id == account_id,
                                            c.capability == capability.value)
        if self._c.dialect.name != "sqlite":
            row = row.with_for_update()
        await self._c.execute(row)

    async def by_key(self, account_id: str, key: str) -> Reservation | None:
        row = (await self._c.execute(sa.select(t.limit_reservations).where(
            R.account_id == account_id, R.key == key))).first()
        return None if row is None else _reservation(row)

    async def usage(self, account_id: str, now: datetime, *, day: timedelta,
                    month: timedelta) -> Mapping[Capability, Usage]:
        counted = sa.or_(R.status == ReservationStatus.COMMITTED.value,
                         sa.and_(R.status == ReservationStatus.RESERVED.value,
                                 R.expires_at > now))
        day_amount = sa.func.coalesce(sa.func.sum(
            sa.case((R.created_at > now - day, R.amount_minor), else_=0)), 0)
        month_amount = sa.func.coalesce(sa.func.sum(R.amount_minor), 0)
        rows = await self._c.execute(
            sa.select(R.capability, day_amount, month_amount)
            .where(R.account_id == account_id, R.created_at > now - month, counted)
            .group_by(R.capability))
        return {Capability(capability): Usage(from_minor(int(d)), from_minor(int(m)))
                for capability, d, m in rows}

    async def create(self, reservation: Reservation) -> None:
        statement = sa.insert(t.limit_reservations).values(
            id=reservation.id, account_id=reservation.account_id,
            capability=reservation.capability.value, key=reservation.key,
            amount_minor=to_minor(reservation.amount), status=reservation.status.value,
            created_at=reservation.created_at, expires_at=reservation.expires_at)
        try:
            async with self._c.begin_nested():
                await self._c.execute(statement)
        except IntegrityError:
            raise DuplicateReservationKey() from None

    async def settle(self, reservation_id: str, status: ReservationStatus,
                     now: datetime) -> bool:
        result = await self._c.execute(
            sa.update(t.limit_reservations)
            .where(R.id == reservation_id, R.status == ReservationStatus.RESERVED.value)
            .values(status=status.value, settled_at=now))
        return bool(result.rowcount)


def _reservation(row: Any) -> Reservation:
    return Reservation(id=row.id, account_id=row.account_id,
                       capability=Capability(row.capability), key=row.key,
                       amount=from_minor(int(row.amount_minor)),
                       status=ReservationStatus(row.status), created_at=row.created_at,
                       expires_at=row.expires_at, settled_at=row.settled_at)
