"""Housekeeping: deletes rows nobody needs any more, so tables stay bounded.

Long-expired flows, and unknown-identifier and send-budget counters whose window is long
over. Run by the background worker, never on a request's path.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t


class SqlHousekeeping:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def purge(self, now: datetime, *, flows_after: timedelta,
                    attempts_after: timedelta) -> tuple[int, int]:
        """Delete flows expired over ``flows_after`` ago and counters idle over
        ``attempts_after``; returns how many flows and unknown-identifier counters went."""
        await self._c.execute(sa.delete(t.send_budgets).where(
            t.send_budgets.c.window_start < now - attempts_after))
        flows = await self._c.execute(sa.delete(t.flows).where(
            t.flows.c.expires_at < now - flows_after))
        attempts = await self._c.execute(sa.delete(t.unknown_attempts).where(
            t.unknown_attempts.c.updated_at < now - attempts_after))
        return int(flows.rowcount), int(attempts.rowcount)
