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
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_NOW = "b_now"


def _live_pending(table: sa.Table) -> Any:
    """The reservations still counted at ``b_now``: none once they have lapsed."""
    c = table.c
    return sa.case((c.pending_until > sa.bindparam(_NOW), c.pending), else_=0)


def _pending_given_back(table: sa.Table) -> Any:
    """``pending`` less the reservation being settled (never below zero)."""
    return sa.case((_live_pending(table) > 0, table.c.pending - 1), else_=0)


# Each statement is built once per table (see the package docstring).


@cache
def _reserve(table: sa.Table) -> Any:
    c = table.c
    live = _live_pending(table)
    return (sa.update(table)
            .where(c.id == sa.bindparam("b_id"), c.failed_logins + live < sa.bindparam("b_limit"),
                   sa.or_(c.banned_until.is_(None), c.banned_until <= sa.bindparam(_NOW)))
            .values(pending=live + 1, pending_until=sa.bindparam("b_until"))
            .returning(c.failed_logins + c.pending))


@cache
def _count_failure(table: sa.Table) -> Any:
    c = table.c
    return (sa.update(table).where(c.id == sa.bindparam("b_id"))
            .values(failed_logins=c.failed_logins + 1, pending=_pending_given_back(table))
            .returning(c.failed_logins))


@cache
def _release(table: sa.Table) -> Any:
    return (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values(pending=_pending_given_back(table)))


@cache
def _clear(table: sa.Table, *extra: str) -> Any:
    return (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values(failed_logins=0, pending=_pending_given_back(table),
                    **{name: sa.bindparam(f"b_{name}") for name in extra}))


async def reserve_attempt(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                          limit: int, lifetime: timedelta) -> int | None:
    """Count an attempt before it is evaluated: one atomic conditional UPDATE.

    Returns the attempt's number (settled failures plus live reservations, 1..limit), or None
    when the row is banned or ``limit`` attempts are already counted. Parallel guesses
    therefore never evaluate more than ``limit`` candidates.
    """
    result = await conn.execute(_reserve(table), {"b_id": row_id, _NOW: now, "b_limit": limit,
                                                  "b_until": now + lifetime})
    count = result.scalar_one_or_none()
    return int(count) if count is not None else None


async def count_failure(conn: AsyncConnection, table: sa.Table, row_id: str,
                        now: datetime) -> int:
    """Settle a reservation as a failure; returns the consecutive failures now counted."""
    result = await conn.execute(_count_failure(table), {"b_id": row_id, _NOW: now})
    return int(result.scalar_one_or_none() or 0)


async def release_attempt(conn: AsyncConnection, table: sa.Table, row_id: str,
                          now: datetime) -> None:
    """Give a reservation back: a step that passed but did not finish the sign-in."""
    await conn.execute(_release(table), {"b_id": row_id, _NOW: now})


async def clear_failures(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                         **values: Any) -> None:
    """A finished sign-in: its reservation back and the failures forgotten."""
    await conn.execute(_clear(table, *sorted(values)),
                       {"b_id": row_id, _NOW: now, **{f"b_{k}": v for k, v in values.items()}})
