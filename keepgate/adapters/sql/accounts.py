"""Accounts: identifiers, password hash, failed-login counter and security settings.

Email and phone are unique in the schema; a duplicate surfaces as ``IdentifierTaken``. The
insert and the security update run in a savepoint so that the duplicate rolls back only
itself and the unit of work stays usable on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import failed_logins
from keepgate.adapters.sql import tables as t
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.services.ports import IdentifierTaken

SECURITY_COLUMNS = frozenset({"anti_phishing_code", "muted_notices", "password_hash", "email",
                              "phone"})


def account_from_row(row: Any) -> Account:
    """An ``Account`` from any row (or row-like object) with the ``accounts`` columns."""
    return Account(id=row.id, email=row.email, phone=row.phone,
                   password_hash=row.password_hash, status=AccountStatus(row.status),
                   kyc_tier=row.kyc_tier, created_at=row.created_at,
                   failed_logins=row.failed_logins, banned_until=row.banned_until,
                   locked_at=row.locked_at, anti_phishing_code=row.anti_phishing_code,
                   muted_notices=tuple(row.muted_notices or ()),
                   security_version=row.security_version)


# Built once (see the package docstring).
_GET = sa.select(t.accounts).where(t.accounts.c.id == sa.bindparam("b_id"))
_BY_EMAIL = sa.select(t.accounts).where(t.accounts.c.email == sa.bindparam("b_value"))
_BY_PHONE = sa.select(t.accounts).where(t.accounts.c.phone == sa.bindparam("b_value"))


class SqlAccounts:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def get(self, account_id: str) -> Account | None:
        row = (await self._c.execute(_GET, {"b_id": account_id})).first()
        return account_from_row(row) if row else None

    async def find(self, identifier: Identifier) -> Account | None:
        query = _BY_EMAIL if identifier.kind is IdentifierKind.EMAIL else _BY_PHONE
        row = (await self._c.execute(query, {"b_value": identifier.value})).first()
        return account_from_row(row) if row else None

    async def create(self, account: Account) -> None:
        try:
            async with self._c.begin_nested():
                await self._c.execute(sa.insert(t.accounts).values(
                    id=account.id, email=account.email, phone=account.phone,
                    password_hash=account.password_hash, status=account.status.value,
                    kyc_tier=account.kyc_tier, created_at=account.created_at))
        except IntegrityError:
            raise IdentifierTaken() from None

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(password_hash=password_hash))

    async def reserve_attempt(self, account_id: str, now: datetime, limit: int,
                              lifetime: timedelta) -> int | None:
        return await failed_logins.reserve_attempt(self._c, t.accounts, account_id, now, limit,
                                                   lifetime)

    async def count_failure(self, account_id: str, now: datetime) -> int:
        return await failed_logins.count_failure(self._c, t.accounts, account_id, now)

    async def release_attempt(self, account_id: str, now: datetime) -> None:
        await failed_logins.release_attempt(self._c, t.accounts, account_id, now)

    async def clear_failures(self, account_id: str, now: datetime) -> None:
        await failed_logins.clear_failures(self._c, t.accounts, account_id, now)

    async def ban(self, account_id: str, until: datetime) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(failed_logins=0, banned_until=until))

    async def lock(self, account_id: str, now: datetime) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(locked_at=now))

    async def lift_ban(self, account_id: str) -> bool:
        c = t.accounts.c
        result = await self._c.execute(
            sa.update(t.accounts).where(c.id == account_id, c.banned_until.is_not(None))
            .values(banned_until=None, failed_logins=0, pending=0))
        return bool(result.rowcount)

    async def unlock(self, account_id: str) -> bool:
        c = t.accounts.c
        result = await self._c.execute(
            sa.update(t.accounts).where(c.id == account_id, c.locked_at.is_not(None))
            .values(locked_at=None))
        return bool(result.rowcount)

    async def update_security(self, account_id: str, expected_version: int,
                              **values: Any) -> bool:
        """Change security settings only if nobody else did since ``expected_version``."""
        c = t.accounts.c
        assert set(values) <= SECURITY_COLUMNS, values
        try:
            async with self._c.begin_nested():
                result = await self._c.execute(
                    sa.update(t.accounts)
                    .where(c.id == account_id, c.security_version == expected_version)
                    .values(security_version=c.security_version + 1, **values))
        except IntegrityError:
            raise IdentifierTaken() from None
        return bool(result.rowcount)
