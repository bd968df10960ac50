"""What the service counts for its operators, and the outbox figures a scrape reads.

Counting happens where the facts are already written down, not inside each flow: the store
reports, after every committed unit of work, the audit events it appended and the messages it
queued (``Metrics.committed``). Sign-ins by outcome, bans, CAPTCHA demands and messages queued
are therefore counted once each, only when they really happened (a transaction that rolled back
counts nothing), and no sign-in method carries metrics code. A solved CAPTCHA leaves no audit
event: ``CountedSolutions`` counts the replay guard's first uses, which are exactly the
solutions accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from keepgate.domain.audit import AuditEvent
from keepgate.services.clock import Clock
from keepgate.services.ports import OutboxBacklog, ReplayGuard, Store


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    channel: str  # "email" or "sms"
    template: str  # e.g. "sign_in_code"


class Metrics(Protocol):
    def committed(self, events: Sequence[AuditEvent],
                  messages: Sequence[QueuedMessage]) -> None:
        """A unit of work committed having appended ``events`` and queued ``messages``."""
        ...

    def captcha_solved(self) -> None: ...


class CountedSolutions:
    """A replay guard for CAPTCHA solutions that counts each solution it accepts."""

    def __init__(self, guard: ReplayGuard, metrics: Metrics) -> None:
        self._guard = guard
        self._metrics = metrics

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        first = await self._guard.first_use(key, ttl_seconds)
        if first:
            self._metrics.captcha_solved()
        return first


class OutboxStatus:
    """Reads the outbox backlog when the metrics are scraped."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def backlog(self) -> tuple[OutboxBacklog, datetime]:
        """The backlog and the time it was read at."""
        async with self._store.unit_of_work(write=False) as uow:
            backlog = await uow.outbox.backlog()
        return backlog, self._clock.now()
