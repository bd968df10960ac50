"""The audit log: append-only and hash-chained.

Each event's hash covers the previous one's, so rewriting or deleting an entry breaks every
hash after it. An event's hash covers its actor, except on rows written before actors were
recorded (their actor columns are NULL, and they are read back with ``actor=None``). Appends
are serialised on the single ``audit_head`` row (``SELECT ... FOR
UPDATE`` on PostgreSQL; on SQLite the write transaction already holds the database lock).
Triggers created by the migrations refuse ``UPDATE`` and ``DELETE`` on ``audit_events``.
Each event's details hold the id of the request that caused it, when there is one; what a unit
of work appended is kept in ``appended``, for the log lines written once it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.domain.audit import Actor, ActorKind, AuditEvent, EventKind, Outcome
from keepgate.security.audit_chain import entry_hash
from keepgate.services import request_ids
from keepgate.services.ports import AuditRecord, ChainLink

# Built once (see the package docstring).
_HEAD = sa.select(t.audit_head).where(t.audit_head.c.id == 1).with_for_update()
_APPEND = t.audit_events.insert()
_ADVANCE = sa.update(t.audit_head).where(t.audit_head.c.id == 1)


class SqlAudit:
    def __init__(self, conn: AsyncConnection, writable: bool) -> None:
        self._c = conn
        self._writable = writable
        # reported to the metrics and the audit log once committed
        self.appended: list[AuditRecord] = []

    @staticmethod
    def content(seq: int, at: datetime, event: AuditEvent) -> dict[str, Any]:
        """What the entry's hash covers; the actor once one is recorded."""
        content = {"seq": seq, "at": at.isoformat(), "kind": event.kind.value,
                   "outcome": event.outcome.value, "account_id": event.account_id,
                   "ip": event.ip, "user_agent": event.user_agent, "details": event.details}
        if event.actor is not None:
            content.update(actor_kind=event.actor.kind.value, actor_id=event.actor.id,
                           actor_reason=event.actor.reason)
        return content

    async def append(self, event: AuditEvent, now: datetime) -> AuditRecord:
        if not self._writable:
            raise RuntimeError("audit events are appended in write units of work only")
        head = (await self._c.execute(_HEAD)).one()
        seq = head.seq + 1
        actor = event.acted_by
        actor = Actor(actor.kind, actor.id, actor.reason[:500] if actor.reason else None)
        request_id = request_ids.current()
        details = {**event.details, "request_id": request_id} if request_id else event.details
        event = AuditEvent(event.kind, event.outcome, event.account_id, event.ip[:64],
                           event.user_agent[:512], details, actor)
        digest = entry_hash(head.last_hash, self.content(seq, now, event))
        await self._c.execute(_APPEND, dict(
            seq=seq, at=now, kind=event.kind.value, outcome=event.outcome.value,
            account_id=event.account_id, ip=event.ip, user_agent=event.user_agent,
            details=event.details, prev_hash=head.last_hash, hash=digest,
            actor_kind=actor.kind.value, actor_id=actor.id, actor_reason=actor.reason))
        await self._c.execute(_ADVANCE, {"seq": seq, "last_hash": digest})
        record = AuditRecord(seq, now, event, head.last_hash, digest)
        self.appended.append(record)
        return record

    @staticmethod
    def _record(r: Any) -> AuditRecord:
        actor = None if r.actor_kind is None else Actor(ActorKind(r.actor_kind), r.actor_id,
                                                        r.actor_reason)
        return AuditRecord(r.seq, r.at, AuditEvent(EventKind(r.kind), Outcome(r.outcome),
                                                   r.account_id, r.ip, r.user_agent, r.details,
                                                   actor),
                           r.prev_hash, r.hash)

    async def read(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AuditRecord]:
        rows = await self._c.execute(
            sa.select(t.audit_events).where(t.audit_events.c.seq > after_seq)
            .order_by(t.audit_events.c.seq).limit(limit))
        return [self._record(r) for r in rows]

    async def head(self) -> tuple[int, str]:
        row = (await self._c.execute(sa.select(t.audit_head).where(t.audit_head.c.id == 1))).one()
        return int(row.seq), str(row.last_hash)

    async def links(self, *, after_seq: int, limit: int) -> Sequence[ChainLink]:
        return [ChainLink(r.seq, self.content(r.seq, r.at, r.event), r.prev_hash, r.hash)
                for r in await self.read(after_seq=after_seq, limit=limit)]

    async def for_account(self, account_id: str, kinds: Sequence[str], *,
                          before_seq: int | None = None, outcome: str | None = None,
                          limit: int = 50) -> Sequence[AuditRecord]:
        """Newest first, for pages of history; ``before_seq`` is the cursor."""
        c = t.audit_events.c
        conditions = [c.account_id == account_id, c.kind.in_(list(kinds))]
        if before_seq is not None:
            conditions.append(c.seq < before_seq)
        if outcome is not None:
            conditions.append(c.outcome == outcome)
        rows = await self._c.execute(sa.select(t.audit_events).where(*conditions)
                                     .order_by(c.seq.desc()).limit(limit))
        return [self._record(r) for r in rows]
