"""The SQL store: one transaction per unit of work, with every repository on its connection.

A write unit of work starts with ``BEGIN IMMEDIATE`` on SQLite (see ``engine``), so it holds
the database's write lock from its first statement; a read one never blocks in WAL mode. On
PostgreSQL both run at READ COMMITTED and the repositories lock the rows they change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keepgate.adapters.sql.accounts import SqlAccounts
from keepgate.adapters.sql.audit import SqlAudit
from keepgate.adapters.sql.counters import SqlCounters
from keepgate.adapters.sql.devices import SqlDevices
from keepgate.adapters.sql.engine import WRITE_OPTION
from keepgate.adapters.sql.factors import SqlFactors, SqlRecoveryCodes
from keepgate.adapters.sql.flows import SqlFlows
from keepgate.adapters.sql.holds import SqlHolds
from keepgate.adapters.sql.housekeeping import SqlHousekeeping
from keepgate.adapters.sql.limits import SqlLimits
from keepgate.adapters.sql.outbox import SqlOutbox
from keepgate.adapters.sql.service_clients import SqlServiceClients
from keepgate.adapters.sql.sessions import SqlSessions
from keepgate.adapters.sql.tables import audit_head
from keepgate.services import audit_log
from keepgate.services.metrics import Metrics
from keepgate.services.ports import UnitOfWork


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection, writable: bool) -> None:
        self.accounts = SqlAccounts(conn)
        self.flows = SqlFlows(conn)
        self.sessions = SqlSessions(conn)
        self.outbox = SqlOutbox(conn)
        self.audit = SqlAudit(conn, writable)
        self.factors = SqlFactors(conn)
        self.recovery_codes = SqlRecoveryCodes(conn)
        self.devices = SqlDevices(conn)
        self.holds = SqlHolds(conn)
        self.limits = SqlLimits(conn)
        self.counters = SqlCounters(conn)
        self.housekeeping = SqlHousekeeping(conn)
        self.service_clients = SqlServiceClients(conn)


class SqlStore:
    """``metrics``, when given, hears of each committed write: its audit events and messages."""

    def __init__(self, engine: AsyncEngine, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self._metrics = metrics

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool) -> AsyncIterator[UnitOfWork]:
        async with self.engine.connect() as conn:
            if write:
                await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                uow = SqlUnitOfWork(conn, write)
                yield uow
        audit_log.emit(uow.audit.appended)  # committed: now the log may say so
        if self._metrics is not None and (uow.audit.appended or uow.outbox.queued):
            self._metrics.committed([r.event for r in uow.audit.appended], uow.outbox.queued)

    async def ping(self) -> None:
        """A trivial query on a migrated table: raises when the database cannot answer it."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.select(audit_head.c.seq).limit(1))

    async def close(self) -> None:
        await self.engine.dispose()
