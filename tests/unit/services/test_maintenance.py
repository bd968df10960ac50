"""keepgate.services.maintenance: flows a day past their expiry and counters idle for a day
are deleted; everything younger stays."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from keepgate.adapters.sql import tables
from keepgate.adapters.sql.store import SqlStore
from keepgate.flows.base import Channel, Flow, FlowKind
from keepgate.services.clock import FrozenClock
from keepgate.services.maintenance import ATTEMPTS_KEPT, FLOWS_KEPT, Maintenance
from keepgate.services.send_budget import SendBudget
from tests.unit.services.records import column_values

pytestmark = pytest.mark.anyio

FLOW_LIFETIME = timedelta(minutes=15)


@pytest.fixture
def maintenance(store: SqlStore, clock: FrozenClock) -> Maintenance:
    return Maintenance(store=store, clock=clock)


async def start_flow(store: SqlStore, clock: FrozenClock, flow_id: str) -> None:
    now = clock.now()
    async with store.unit_of_work(write=True) as uow:
        await uow.flows.create(Flow(id=flow_id, kind=FlowKind.LOGIN, channel=Channel.API,
                                    state="identify", created_at=now,
                                    expires_at=now + FLOW_LIFETIME))


async def flow_ids(store: SqlStore, *candidates: str) -> set[str]:
    async with store.unit_of_work(write=False) as uow:
        return {f for f in candidates if await uow.flows.get(f) is not None}


async def count_unknown_attempt(store: SqlStore, clock: FrozenClock, key: str) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.counters.record_unknown_failure(key, clock.now())


async def test_nothing_to_purge(maintenance: Maintenance,
                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="keepgate.maintenance"):
        assert await maintenance.run_once() == (0, 0)
    assert caplog.records == []


async def test_flows_go_a_day_after_they_expire(maintenance: Maintenance, store: SqlStore,
                                                clock: FrozenClock) -> None:
    await start_flow(store, clock, "old")
    clock.advance(timedelta(hours=2))
    await start_flow(store, clock, "recent")
    clock.advance(FLOW_LIFETIME + FLOWS_KEPT - timedelta(hours=2))
    assert await maintenance.run_once() == (0, 0)  # "old" expired exactly a day ago
    clock.advance(timedelta(seconds=1))
    assert await maintenance.run_once() == (1, 0)
    assert await flow_ids(store, "old", "recent") == {"recent"}
    clock.advance(timedelta(hours=2))
    assert await maintenance.run_once() == (1, 0)
    assert await flow_ids(store, "old", "recent") == set()


async def test_a_live_flow_stays(maintenance: Maintenance, store: SqlStore,
                                 clock: FrozenClock) -> None:
    await start_flow(store, clock, "live")
    clock.advance(FLOW_LIFETIME - timedelta(seconds=1))
    assert await maintenance.run_once() == (0, 0)
    assert await flow_ids(store, "live") == {"live"}


async def test_idle_unknown_identifier_counters_go_after_a_day(
        maintenance: Maintenance, store: SqlStore, clock: FrozenClock, database_url: str) -> None:
    await count_unknown_attempt(store, clock, "idle")
    await count_unknown_attempt(store, clock, "busy")
    clock.advance(ATTEMPTS_KEPT - timedelta(minutes=1))
    await count_unknown_attempt(store, clock, "busy")  # a new attempt keeps it alive
    clock.advance(timedelta(minutes=2))
    assert await maintenance.run_once() == (0, 1)
    assert await column_values(database_url, tables.unknown_attempts.c.key) == ["busy"]


async def test_old_send_budgets_go_after_a_day(maintenance: Maintenance, store: SqlStore,
                                               clock: FrozenClock, database_url: str) -> None:
    budget = SendBudget(store=store, clock=clock, key=b"maintenance-send-key-0123456789",
                        limit=5)
    await budget.spend("owner", "ann@example.com")
    clock.advance(timedelta(hours=12))
    await budget.spend("owner", "bob@example.com")
    clock.advance(timedelta(hours=12, seconds=1))
    await maintenance.run_once()
    assert len(await column_values(database_url, tables.send_budgets.c.key)) == 1


async def test_a_purge_is_logged(maintenance: Maintenance, store: SqlStore, clock: FrozenClock,
                                 caplog: pytest.LogCaptureFixture) -> None:
    await start_flow(store, clock, "old")
    await count_unknown_attempt(store, clock, "idle")
    clock.advance(FLOW_LIFETIME + FLOWS_KEPT + timedelta(seconds=1))
    with caplog.at_level(logging.INFO, logger="keepgate.maintenance"):
        assert await maintenance.run_once() == (1, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "maintenance: purged 1 expired flows and 1 old counters"]
