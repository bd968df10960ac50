"""keepgate.services.send_budget: at most ``limit`` messages an hour to one address per
budget, strangers' sends apart from the owner's, one existing-account notice an hour, and
counters keyed by a keyed hash of the address."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.adapters.sql import tables
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.errors import SendLimitReached
from keepgate.services.clock import FrozenClock
from keepgate.services.send_budget import SendBudget, Sender
from tests.unit.services.records import column_values

pytestmark = pytest.mark.anyio

KEY = b"send-budget-test-key-0123456789a"
ANN = "ann@example.com"
BOB = "+447700900123"


@pytest.fixture
def budget(store: SqlStore, clock: FrozenClock) -> SendBudget:
    return SendBudget(store=store, clock=clock, key=KEY, limit=3)


async def spend(budget: SendBudget, times: int, purpose: str = "owner",
                destination: str = ANN) -> None:
    for _ in range(times):
        await budget.spend(purpose, destination)


async def test_a_destination_gets_limit_sends_an_hour(budget: SendBudget) -> None:
    await spend(budget, 3)
    with pytest.raises(SendLimitReached) as refused:
        await budget.spend("owner", ANN)
    assert refused.value.retry_after == 3600


async def test_retry_after_counts_down_to_the_window_end(budget: SendBudget,
                                                          clock: FrozenClock) -> None:
    await spend(budget, 1)
    clock.advance(timedelta(minutes=20))
    await spend(budget, 2)
    with pytest.raises(SendLimitReached) as refused:
        await budget.spend("owner", ANN)
    assert refused.value.retry_after == 40 * 60


async def test_the_budget_renews_after_an_hour(budget: SendBudget, clock: FrozenClock) -> None:
    await spend(budget, 3)
    clock.advance(timedelta(minutes=59, seconds=59))
    with pytest.raises(SendLimitReached) as refused:
        await budget.spend("owner", ANN)
    assert refused.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    await spend(budget, 3)
    with pytest.raises(SendLimitReached):
        await budget.spend("owner", ANN)


async def test_each_destination_has_its_own_budget(budget: SendBudget) -> None:
    await spend(budget, 3, destination=ANN)
    await spend(budget, 3, destination=BOB)
    with pytest.raises(SendLimitReached):
        await budget.spend("owner", BOB)


async def test_strangers_cannot_spend_the_owners_budget(budget: SendBudget) -> None:
    await spend(budget, 3, purpose="foreign")
    with pytest.raises(SendLimitReached):
        await budget.spend("foreign", ANN)
    await spend(budget, 3, purpose="owner")  # the owner can still get their codes
    with pytest.raises(SendLimitReached):
        await budget.spend("owner", ANN)


async def test_one_existing_account_notice_an_hour(budget: SendBudget,
                                                   clock: FrozenClock) -> None:
    assert await budget.notice_allowed(ANN)
    assert not await budget.notice_allowed(ANN)
    assert await budget.notice_allowed(BOB)
    await spend(budget, 3, purpose="foreign")  # notices are counted apart from codes
    clock.advance(timedelta(hours=1))
    assert await budget.notice_allowed(ANN)


async def test_counters_never_hold_the_address(budget: SendBudget, database_url: str) -> None:
    await spend(budget, 1, destination=ANN)
    await spend(budget, 1, purpose="foreign", destination=ANN)
    keys = await column_values(database_url, tables.send_budgets.c.key)
    assert len(keys) == 2  # one counter per purpose
    assert all(ANN not in key and "ann" not in key for key in keys)


# --- per sender: an account and an IP, whatever the destination ----------------------------


@pytest.fixture
def senders(store: SqlStore, clock: FrozenClock) -> SendBudget:
    """A destination budget high enough that only the per-sender budgets can bite."""
    return SendBudget(store=store, clock=clock, key=KEY, limit=100)


def numbers(count: int) -> list[str]:
    return [f"+4479111234{n:02d}" for n in range(count)]


async def test_an_account_gets_three_codes_a_minute_to_any_destinations(
        senders: SendBudget, clock: FrozenClock) -> None:
    first, second, third, fourth = numbers(4)
    for to in (first, second, third):
        await senders.spend("owner", to, sender=Sender(account_id="acc-1", ip=None))
    with pytest.raises(SendLimitReached) as refused:
        await senders.spend("owner", fourth, sender=Sender(account_id="acc-1", ip=None))
    assert refused.value.retry_after == 60
    await senders.spend("owner", fourth, sender=Sender(account_id="acc-2", ip=None))
    clock.advance(timedelta(minutes=1))
    await senders.spend("owner", fourth, sender=Sender(account_id="acc-1", ip=None))


async def test_an_ip_gets_three_codes_a_minute_across_accounts(senders: SendBudget) -> None:
    for n, to in enumerate(numbers(3)):
        await senders.spend("foreign", to, sender=Sender(account_id=f"acc-{n}", ip="198.51.100.9"))
    with pytest.raises(SendLimitReached):
        await senders.spend("foreign", ANN, sender=Sender(account_id=None, ip="198.51.100.9"))
    await senders.spend("foreign", ANN, sender=Sender(account_id=None, ip="198.51.100.10"))


@pytest.mark.parametrize("sender", [Sender(account_id="acc-1", ip=None),
                                    Sender(account_id=None, ip="198.51.100.9")])
async def test_a_sender_gets_ten_codes_a_day(senders: SendBudget, clock: FrozenClock,
                                             sender: Sender) -> None:
    for to in numbers(10):
        await senders.spend("owner", to, sender=sender)
        clock.advance(timedelta(minutes=1))
    with pytest.raises(SendLimitReached) as refused:
        await senders.spend("owner", ANN, sender=sender)
    assert refused.value.retry_after == 24 * 3600 - 10 * 60
    clock.advance(timedelta(days=1))
    await senders.spend("owner", ANN, sender=sender)


async def test_per_sender_counters_never_hold_the_account_or_ip(senders: SendBudget,
                                                                database_url: str) -> None:
    await senders.spend("owner", ANN, sender=Sender(account_id="acc-1", ip="198.51.100.9"))
    keys = await column_values(database_url, tables.send_budgets.c.key)
    assert len(keys) == 5  # the destination, and a minute and a day for account and IP
    assert all("acc-1" not in key and "198.51" not in key for key in keys)
