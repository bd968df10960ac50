"""Hot-path counters: sign-in attempts not counted on an account, and messages sent per address.

Both are one atomic upsert (``INSERT ... ON CONFLICT DO UPDATE``), so parallel requests
cannot slip past a limit together. SQLite and PostgreSQL spell the upsert with their own
dialect's ``insert``; the statement is otherwise the same. Keys are keyed hashes made by
the services: no identifier or address is stored in clear.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t


class SqlCounters:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    def _insert(self, table: sa.Table) -> Any:
        """An insert that supports ``on_conflict_do_update`` on this connection's dialect."""
        insert_fn: Any = sqlite_insert if self._c.dialect.name == "sqlite" else postgresql_insert
        return insert_fn(table)

    async def reserve_unknown_attempt(self, key: str, now: datetime) -> None:
        await self._upsert_unknown(key, now, failed=0)

    async def record_unknown_failure(self, key: str, now: datetime) -> None:
        await self._upsert_unknown(key, now, failed=1)

    async def _upsert_unknown(self, key: str, now: datetime, *, failed: int) -> None:
        table = t.unknown_attempts
        statement = self._insert(table).values(key=key, failed=failed, updated_at=now)
        await self._c.execute(statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"failed": table.c.failed + failed, "updated_at": now}))

    async def spend_send(self, key: str, now: datetime, window: timedelta
                         ) -> tuple[int, datetime]:
        """Count one send in ``key``'s window (a new window once the old one is over);
        returns the count and the window's start. One atomic upsert: parallel sends cannot
        slip past the limit together."""
        table = t.send_budgets
        c = table.c
        expired = c.window_start <= now - window
        statement = self._insert(table).values(key=key, window_start=now, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=[c.key],
            set_={"count": sa.case((expired, 1), else_=c.count + 1),
                  "window_start": sa.case((expired, now), else_=c.window_start)},
        ).returning(c.count, c.window_start)
        count, start = (await self._c.execute(statement)).one()  # ("count" is a Row method)
        if isinstance(start, str):  # SQLite's RETURNING may bypass the column type
            start = datetime.fromisoformat(start)
        start = start if start.tzinfo else start.replace(tzinfo=now.tzinfo)
        return int(count), start
