"""The failed-login counter that accounts and trusted devices both carry.

Two numbers live on the row: ``failed_logins``, the consecutive failures that were settled
(committed facts), and ``pending``, the attempts reserved and still being evaluated, which
count against the limit only until ``pending_until``. A request that dies between its
reservation and its settlement (a killed worker, an exception, a flow save that lost a race)
therefore holds the row for at most one reservation lifetime, never for good.

``pending_until`` is the newest reservation's expiry and covers every pending attempt: a burst
lapses together, at most one lifetime after its last reservation. New reservations are made
only while under the limit, so a stuck burst cannot be kept alive by refused attempts.

Each change is one conditional ``UPDATE ... RETURNING`` on the row itself, atomic on SQLite
(the writer holds the database lock from ``BEGIN IMMEDIATE``) and on PostgreSQL (the row lock).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def _live_pending(table: sa.Table, now: datetime) -> Any:
    """The reservations still counted at ``now``: none once they have lapsed."""
    c = table.c
    return sa.case((c.pending_until > now, c.pending), else_=0)


def _pending_given_back(table: sa.Table, now: datetime) -> Any:
    """``pending`` less the reservation being settled (never below zero)."""
    return sa.case((_live_pending(table, now) > 0, table.c.pending - 1), else_=0)


async def reserve_attempt(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                          limit: int, lifetime: timedelta) -> int | None:
    """Count an attempt before it is evaluated: one atomic conditional UPDATE.

    Returns the attempt's number (settled failures plus live reservations, 1..limit), or None
    when the row is banned or ``limit`` attempts are already counted. Parallel guesses
    therefore never evaluate more than ``limit`` candidates.
    """
    c = table.c
    live = _live_pending(table, now)
    result = await conn.execute(
        sa.update(table)
        .where(c.id == row_id, c.failed_logins + live < limit,
               sa.or_(c.banned_until.is_(None), c.banned_until <= now))
        .values(pending=live + 1, pending_until=now + lifetime)
        .returning(c.failed_logins + c.pending))
    count = result.scalar_one_or_none()
    return int(count) if count is not None else None


async def count_failure(conn: AsyncConnection, table: sa.Table, row_id: str,
                        now: datetime) -> int:
    """Settle a reservation as a failure; returns the consecutive failures now counted."""
    c = table.c
    result = await conn.execute(
        sa.update(table).where(c.id == row_id)
        .values(failed_logins=c.failed_logins + 1, pending=_pending_given_back(table, now))
        .returning(c.failed_logins))
    return int(result.scalar_one_or_none() or 0)


async def release_attempt(conn: AsyncConnection, table: sa.Table, row_id: str,
                          now: datetime) -> None:
    """Give a reservation back: a step that passed but did not finish the sign-in."""
    await conn.execute(sa.update(table).where(table.c.id == row_id)
                       .values(pending=_pending_given_back(table, now)))


async def clear_failures(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                         **values: Any) -> None:
    """A finished sign-in: its reservation back and the failures forgotten."""
    await conn.execute(sa.update(table).where(table.c.id == row_id)
                       .values(failed_logins=0, pending=_pending_given_back(table, now),
                               **values))
