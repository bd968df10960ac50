"""The outbox: emails and SMS written in the sender's transaction, delivered by a worker.

``claim_due`` leases a batch to one worker. On PostgreSQL the batch is picked with
``FOR UPDATE SKIP LOCKED`` inside a ``MATERIALIZED`` CTE, so parallel workers never share a
message and the ``LIMIT`` holds. SQLite has no row locks (the clause is left out) and needs
none: a write unit of work holds the database's write lock from ``BEGIN IMMEDIATE`` onwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.services.metrics import QueuedMessage
from keepgate.services.ports import OutboxBacklog, OutboxMessage


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn
        self.queued: list[QueuedMessage] = []  # reported to the metrics once committed

    @staticmethod
    def _row(row: Any) -> OutboxMessage:
        return OutboxMessage(id=row.id, channel=row.channel, destination=row.destination,
                             template=row.template, subject=row.subject, body=row.body,
                             created_at=row.created_at, attempts=row.attempts, status=row.status,
                             sent_at=row.sent_at, last_error=row.last_error)

    async def enqueue(self, channel: str, destination: str, template: str, subject: str,
                      body: str, now: datetime) -> int:
        result = await self._c.execute(sa.insert(t.outbox).values(
            channel=channel, destination=destination, template=template, subject=subject,
            body=body, created_at=now, status="pending", attempts=0, next_attempt_at=now,
        ).returning(t.outbox.c.id))
        self.queued.append(QueuedMessage(channel, template))
        return int(result.scalar_one())

    async def claim_due(self, now: datetime, *, limit: int, lease_seconds: int
                        ) -> Sequence[OutboxMessage]:
        o = t.outbox.c
        claimable = [o.status == "pending", o.next_attempt_at <= now,
                     sa.or_(o.lease_until.is_(None), o.lease_until < now)]
        # A materialised CTE runs once: as a plain IN (subquery), PostgreSQL may re-run a
        # LIMIT ... FOR UPDATE SKIP LOCKED subquery per row and claim more than ``limit``.
        due = (sa.select(o.id).where(*claimable).order_by(o.id).limit(limit)
               .with_for_update(skip_locked=True)
               .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
        # The outer WHERE repeats the conditions: under READ COMMITTED a row another worker
        # claimed meanwhile is re-checked and skipped, so a message has one lease at a time.
        result = await self._c.execute(
            sa.update(t.outbox).where(o.id.in_(sa.select(due.c.id)), *claimable)
            .values(lease_until=now + timedelta(seconds=lease_seconds), attempts=o.attempts + 1)
            .returning(*t.outbox.c))
        return sorted((self._row(r) for r in result), key=lambda m: m.id)

    async def mark_sent(self, message_id: int, now: datetime, *, keep_body: bool) -> None:
        values: dict[str, Any] = dict(status="sent", sent_at=now, lease_until=None)
        if not keep_body:
            values["body"] = ""
        await self._c.execute(sa.update(t.outbox).where(t.outbox.c.id == message_id)
                              .values(**values))

    async def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime | None
                         ) -> None:
        values: dict[str, Any] = dict(lease_until=None, last_error=error)
        if next_attempt_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = next_attempt_at
        await self._c.execute(sa.update(t.outbox).where(t.outbox.c.id == message_id)
                              .values(**values))

    async def recent(self, limit: int) -> Sequence[OutboxMessage]:
        rows = await self._c.execute(sa.select(t.outbox).order_by(t.outbox.c.id.desc())
                                     .limit(limit))
        return [self._row(r) for r in rows]

    async def backlog(self) -> OutboxBacklog:
        o = t.outbox.c
        row = (await self._c.execute(sa.select(sa.func.count(), sa.func.min(o.created_at))
                                     .where(o.status == "pending"))).one()
        return OutboxBacklog(pending=int(row[0]), oldest_created_at=row[1])
