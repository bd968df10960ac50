"""Limit reservations on every backend: concurrent ones never overshoot, keys are idempotent.

Runs on SQLite and, with ``KEEPGATE_TEST_POSTGRES_URL``, on PostgreSQL (the ``backend``
fixture): the same ``LimitService`` over each store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import anyio
import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.errors import (
    AccessDenied,
    AccountNotFound,
    AmountInvalid,
    AmountNotPositive,
    AmountTooPrecise,
    LimitExceeded,
    NotLimited,
    ReservationExpired,
    ReservationKeyConflict,
    ReservationKeyInvalid,
    ReservationNotFound,
    ReservationSettled,
)
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import HoldReason
from keepgate.domain.kyc import Capability
from keepgate.domain.limits import RESERVATION_LIFETIME, Reservation, ReservationStatus
from keepgate.services.access import AccessService
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.holds import place_hold
from keepgate.services.limits import LimitService

pytestmark = pytest.mark.anyio
W = Capability.WITHDRAW  # tier 1: 5,000.00 a day, 20,000.00 a month


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(make_engine(database_url))
    yield store
    await store.close()


@pytest.fixture
async def limits(store: SqlStore, clock: FrozenClock) -> LimitService:
    access = AccessService(store=store, clock=clock, policy=DefencePolicy(),
                           counters=LimitsWindowCounters.in_memory())
    async with store.unit_of_work(write=True) as uow:
        for n, level in ((1, 1), (2, 0)):
            await uow.accounts.create(Account(
                id=f"acc-{n}", email=f"user{n}@example.com", phone=None, password_hash="h",
                status=AccountStatus.ACTIVE, kyc_tier=level, created_at=clock.now()))
    return LimitService(store=store, clock=clock, access=access)


async def test_100_parallel_reservations_never_overshoot(limits: LimitService) -> None:
    made: list[Reservation] = []
    refused: list[LimitExceeded] = []

    async def reserve(n: int) -> None:
        try:
            made.append(await limits.reserve("acc-1", W, "60.00", f"payout-{n}"))
        except LimitExceeded as error:
            refused.append(error)

    async with anyio.create_task_group() as tasks:
        for n in range(100):
            tasks.start_soon(reserve, n)
    # 83 × 60.00 = 4,980.00 fits in 5,000.00; an 84th would not.
    assert len(made) == 83 and len(refused) == 17
    assert sum(r.amount for r in made) == Decimal("4980.00")
    assert {e.details["left"] for e in refused} == {"20.00"}
    status = await limits.status("acc-1")
    withdraw = next(x for x in status.limits if x.capability is W)
    assert (withdraw.usage.day, withdraw.left) == (Decimal("4980.00"), Decimal("20.00"))


async def test_100_parallel_retries_of_one_key_make_one_reservation(
        limits: LimitService) -> None:
    made: list[Reservation] = []

    async def reserve() -> None:
        made.append(await limits.reserve("acc-1", W, Decimal("100"), "the-same-key"))

    async with anyio.create_task_group() as tasks:
        for _ in range(100):
            tasks.start_soon(reserve)
    assert len(made) == 100 and len({r.id for r in made}) == 1
    status = await limits.status("acc-1")
    assert next(x for x in status.limits if x.capability is W).usage.day == Decimal("100.00")


async def test_a_key_is_idempotent_and_conflicts_on_other_values(limits: LimitService) -> None:
    first = await limits.reserve("acc-1", W, "250.00", "k1")
    assert first.status is ReservationStatus.RESERVED
    assert first.expires_at - first.created_at == RESERVATION_LIFETIME == timedelta(minutes=15)
    assert await limits.reserve("acc-1", W, "250", "k1") == first
    with pytest.raises(ReservationKeyConflict) as raised:
        await limits.reserve("acc-1", W, "250.01", "k1")
    assert raised.value.code == "limits.key_conflict"
    with pytest.raises(ReservationKeyConflict):
        await limits.reserve("acc-1", Capability.TRADE, "250.00", "k1")
    committed = await limits.commit("acc-1", "k1")
    assert committed.status is ReservationStatus.COMMITTED
    assert await limits.commit("acc-1", "k1") == replace(committed,
                                                         settled_at=committed.settled_at)
    assert (await limits.reserve("acc-1", W, "250.00", "k1")).status is (
        ReservationStatus.COMMITTED)


async def test_release_gives_the_amount_back(limits: LimitService) -> None:
    await limits.reserve("acc-1", W, "5000", "big")
    with pytest.raises(LimitExceeded) as raised:
        await limits.reserve("acc-1", W, "0.01", "small")
    assert raised.value.details == {"left": "0.00", "currency": "USD"}
    released = await limits.release("acc-1", "big")
    assert released.status is ReservationStatus.RELEASED
    assert (await limits.release("acc-1", "big")).status is ReservationStatus.RELEASED
    with pytest.raises(ReservationSettled):
        await limits.commit("acc-1", "big")
    assert (await limits.reserve("acc-1", W, "5000", "again")).amount == Decimal("5000.00")
    await limits.commit("acc-1", "again")
    with pytest.raises(ReservationSettled):
        await limits.release("acc-1", "again")


async def test_an_uncommitted_reservation_lapses(limits: LimitService,
                                                 clock: FrozenClock) -> None:
    await limits.reserve("acc-1", W, "5000", "slow")
    clock.advance(RESERVATION_LIFETIME)
    with pytest.raises(ReservationExpired):
        await limits.commit("acc-1", "slow")
    # It counts for nothing now, and may still be released.
    await limits.reserve("acc-1", W, "5000", "next")
    assert (await limits.release("acc-1", "slow")).status is ReservationStatus.RELEASED


async def test_the_windows_roll(limits: LimitService, clock: FrozenClock) -> None:
    for day in range(4):
        await limits.reserve("acc-1", W, "5000", f"day-{day}")
        await limits.commit("acc-1", f"day-{day}")
        with pytest.raises(LimitExceeded):
            await limits.reserve("acc-1", W, "1", f"more-{day}")
        clock.advance(timedelta(days=1, seconds=1))
    # 20,000.00 used this month: the day is free again, the month is not.
    with pytest.raises(LimitExceeded) as raised:
        await limits.reserve("acc-1", W, "1", "fifth-day")
    assert raised.value.details["left"] == "0.00"
    clock.advance(timedelta(days=27))  # the first day's 5,000 leaves the 30-day window
    assert (await limits.reserve("acc-1", W, "5000", "next-month")).amount == Decimal("5000")


async def test_the_decision_is_asked_first(limits: LimitService, store: SqlStore,
                                           clock: FrozenClock) -> None:
    with pytest.raises(AccessDenied) as raised:
        await limits.reserve("acc-2", W, "1", "tier-0")
    assert raised.value.details["reasons"] == ["tier_too_low"]
    async with store.unit_of_work(write=True) as uow:
        hold = await place_hold(uow, "acc-1", HoldReason.PASSWORD_CHANGE,
                                RequestContext(ip="203.0.113.7", user_agent="t"), clock.now())
    with pytest.raises(AccessDenied) as raised:
        await limits.reserve("acc-1", W, "1", "held")
    assert raised.value.details["decision"][0]["until"] == hold.expires_at.isoformat()
    # A deposit is not held.
    assert (await limits.reserve("acc-1", Capability.DEPOSIT, "1", "dep")).amount == 1


@pytest.mark.parametrize(("args", "error"), [
    (("acc-1", W, "0", "k"), AmountNotPositive),
    (("acc-1", W, "-5", "k"), AmountNotPositive),
    (("acc-1", W, "NaN", "k"), AmountInvalid),
    (("acc-1", W, 1.5, "k"), AmountInvalid),
    (("acc-1", W, "1.001", "k"), AmountTooPrecise),
    (("acc-1", W, "1", ""), ReservationKeyInvalid),
    (("acc-1", W, "1", "x" * 129), ReservationKeyInvalid),
    (("acc-1", W, "1", "spaces are not keys"), ReservationKeyInvalid),
    (("acc-1", Capability.VIEW_MARKETS, "1", "k"), NotLimited),
    (("acc-9", W, "1", "k"), AccountNotFound),
])
async def test_bad_requests_have_stable_codes(limits: LimitService, args: tuple[object, ...],
                                              error: type[Exception]) -> None:
    with pytest.raises(error):
        await limits.reserve(*args)  # type: ignore[arg-type]


async def test_settling_an_unknown_key(limits: LimitService) -> None:
    with pytest.raises(ReservationNotFound):
        await limits.commit("acc-1", "never")
    with pytest.raises(ReservationNotFound):
        await limits.release("acc-1", "never")
