"""The failed-login counter that accounts and trusted devices both carry.

Each is one conditional ``UPDATE ... RETURNING`` on the row itself, atomic on SQLite (the
writer holds the database lock from ``BEGIN IMMEDIATE``) and on PostgreSQL (the row lock).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


async def reserve_attempt(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                          limit: int) -> int | None:
    """Count an attempt before it is evaluated: one atomic conditional UPDATE.

    Returns the attempt's number (1..limit), or None when the row is banned or ``limit``
    attempts are already counted (including ones still being evaluated). Parallel guesses
    therefore never evaluate more than ``limit`` candidates; a success clears the count.
    """
    c = table.c
    result = await conn.execute(
        sa.update(table)
        .where(c.id == row_id, c.failed_logins < limit,
               sa.or_(c.banned_until.is_(None), c.banned_until <= now))
        .values(failed_logins=c.failed_logins + 1)
        .returning(c.failed_logins))
    count = result.scalar_one_or_none()
    return int(count) if count is not None else None


async def refund_attempt(conn: AsyncConnection, table: sa.Table, row_id: str) -> None:
    """Give back one reserved attempt (a step that passed but did not finish the sign-in)."""
    c = table.c
    await conn.execute(sa.update(table).where(c.id == row_id, c.failed_logins > 0)
                       .values(failed_logins=c.failed_logins - 1))
