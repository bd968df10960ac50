"""Delivering the outbox.

Messages are written in the same transaction as the change that caused them; this worker
delivers them afterwards. A message is claimed with a lease, so several app instances can run
workers side by side without sending the same message twice at once. Delivery is
at-least-once: a crash between sending and recording the send repeats that one message.
Failures are retried with exponential backoff; after ``max_attempts`` a message is marked
failed and kept for the operator. Sent messages lose their body unless ``keep_bodies`` (the
development outbox page) asks otherwise: codes do not linger in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import anyio

from keepgate.services.clock import Clock
from keepgate.services.ports import MessageSender, OutboxMessage, Store

log = logging.getLogger("keepgate.outbox")


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    batch_size: int = 20
    lease_seconds: int = 60
    max_attempts: int = 8
    base_backoff: timedelta = timedelta(seconds=15)
    max_backoff: timedelta = timedelta(hours=1)
    keep_bodies: bool = False

    def backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self.base_backoff * (2 ** max(attempts - 1, 0))
        return min(delay, self.max_backoff)


class OutboxWorker:
    def __init__(self, *, store: Store, clock: Clock, senders: Mapping[str, MessageSender],
                 policy: OutboxPolicy) -> None:
        self._store = store
        self._clock = clock
        self._senders = senders
        self.policy = policy

    async def recent(self, limit: int) -> Sequence[OutboxMessage]:
        """The newest messages, delivered or not: the development outbox page shows them."""
        async with self._store.unit_of_work(write=False) as uow:
            return await uow.outbox.recent(limit)

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many messages were delivered."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            batch = await uow.outbox.claim_due(now, limit=self.policy.batch_size,
                                               lease_seconds=self.policy.lease_seconds)
        delivered = 0
        for message in batch:
            sender = self._senders.get(message.channel)
            try:
                if sender is None:
                    raise RuntimeError(f"no sender configured for {message.channel}")
                await sender.send(message)
            except Exception as exc:  # any transport failure is retried, never lost
                retry_at = (None if message.attempts >= self.policy.max_attempts
                            else self._clock.now() + self.policy.backoff(message.attempts))
                log.warning("outbox: message %s (%s) attempt %s failed: %s", message.id,
                            message.template, message.attempts, type(exc).__name__)
                async with self._store.unit_of_work(write=True) as uow:
                    await uow.outbox.mark_retry(message.id, f"{type(exc).__name__}: {exc}"[:500],
                                                retry_at)
                continue
            async with self._store.unit_of_work(write=True) as uow:
                await uow.outbox.mark_sent(message.id, self._clock.now(),
                                           keep_body=self.policy.keep_bodies)
            delivered += 1
        return delivered

    async def run_forever(self, interval: float,
                          chores: Sequence[Callable[[], Awaitable[object]]] = (),
                          chore_every: int = 1800) -> None:
        """Deliver every ``interval`` seconds; run ``chores`` every ``chore_every`` rounds."""
        rounds = 0
        while True:
            try:
                await self.run_once()
                if rounds % chore_every == 0:
                    for chore in chores:
                        await chore()
            except Exception:  # a database hiccup must not kill the worker
                log.exception("outbox: delivery round failed")
            rounds += 1
            await anyio.sleep(interval)
