"""Counting from what committed units of work recorded, and the CAPTCHA solutions accepted."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.services.clock import FrozenClock
from keepgate.services.metrics import CountedSolutions, QueuedMessage

pytestmark = pytest.mark.anyio


class Recorded:
    def __init__(self) -> None:
        self.commits: list[tuple[list[EventKind], list[QueuedMessage]]] = []
        self.solved = 0

    def committed(self, events: Sequence[AuditEvent],
                  messages: Sequence[QueuedMessage]) -> None:
        self.commits.append(([e.kind for e in events], list(messages)))

    def captcha_solved(self) -> None:
        self.solved += 1


async def test_a_committed_unit_of_work_reports_its_events_and_messages(
        database_url: str, clock: FrozenClock) -> None:
    recorded = Recorded()
    store = SqlStore(make_engine(database_url), recorded)
    try:
        async with store.unit_of_work(write=True) as uow:
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.FAILURE), clock.now())
            await uow.outbox.enqueue("sms", "+447700900123", "sign_in_code", "", "b",
                                     clock.now())
        async with store.unit_of_work(write=False) as uow:
            await uow.outbox.recent(1)
    finally:
        await store.close()
    assert recorded.commits == [([EventKind.LOGIN], [QueuedMessage("sms", "sign_in_code")])]


async def test_a_rolled_back_unit_of_work_counts_nothing(database_url: str,
                                                        clock: FrozenClock) -> None:
    recorded = Recorded()
    store = SqlStore(make_engine(database_url), recorded)
    try:
        with pytest.raises(RuntimeError):
            async with store.unit_of_work(write=True) as uow:
                await uow.audit.append(AuditEvent(EventKind.BANNED, Outcome.SUCCESS),
                                       clock.now())
                raise RuntimeError("the change failed")
    finally:
        await store.close()
    assert recorded.commits == []


class Guard:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        first = key not in self.seen
        self.seen.add(key)
        return first


async def test_each_accepted_captcha_solution_is_counted_once() -> None:
    recorded = Recorded()
    guard = CountedSolutions(Guard(), recorded)
    assert await guard.first_use("a", 60)
    assert not await guard.first_use("a", 60)  # a replayed solution is refused, not counted
    assert await guard.first_use("b", 60)
    assert recorded.solved == 2
