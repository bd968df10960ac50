"""keepgate.services.outbox: the delivery worker claims due messages under a lease, retries
failures with exponential backoff until it gives up, and erases a body once delivered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.services.clock import FrozenClock
from keepgate.services.outbox import OutboxPolicy, OutboxWorker
from keepgate.services.ports import OutboxMessage
from tests.unit.services.records import outbox

pytestmark = pytest.mark.anyio


class RecordingSender:
    """A message transport that keeps what it was given, or fails while told to."""

    def __init__(self) -> None:
        self.sent: list[OutboxMessage] = []
        self.failing: set[str] = set()  # destinations it cannot reach

    async def send(self, message: OutboxMessage) -> None:
        if message.destination in self.failing:
            raise ConnectionError(f"cannot reach {message.destination}")
        self.sent.append(message)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


def make_worker(store: SqlStore, clock: FrozenClock, sender: RecordingSender,
                **policy: Any) -> OutboxWorker:
    return OutboxWorker(store=store, clock=clock, senders={"email": sender, "sms": sender},
                        policy=OutboxPolicy(**policy))


async def enqueue(store: SqlStore, clock: FrozenClock, destination: str = "ann@example.com",
                  channel: str = "email", body: str = "Your code is 042917") -> int:
    async with store.unit_of_work(write=True) as uow:
        return await uow.outbox.enqueue(channel, destination, "sign_in_code", "Your code",
                                        body, clock.now())


async def test_due_messages_are_delivered_and_their_bodies_erased(
        store: SqlStore, clock: FrozenClock, sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender)
    first = await enqueue(store, clock)
    second = await enqueue(store, clock, "+447700900123", channel="sms")
    clock.advance(timedelta(seconds=5))
    assert await worker.run_once() == 2
    assert [(m.id, m.body) for m in sender.sent] == [(first, "Your code is 042917"),
                                                     (second, "Your code is 042917")]
    for message in await outbox(store):
        assert message.status == "sent"
        assert message.sent_at == clock.now()
        assert message.body == ""
        assert message.attempts == 1
    assert await worker.run_once() == 0  # delivered once only
    assert len(sender.sent) == 2


async def test_bodies_are_kept_when_the_policy_says_so(store: SqlStore, clock: FrozenClock,
                                                       sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender, keep_bodies=True)
    await enqueue(store, clock)
    assert await worker.run_once() == 1
    [message] = await outbox(store)
    assert (message.status, message.body) == ("sent", "Your code is 042917")


async def test_a_failure_is_retried_after_the_backoff(store: SqlStore, clock: FrozenClock,
                                                      sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender, base_backoff=timedelta(seconds=15))
    await enqueue(store, clock)
    sender.failing.add("ann@example.com")
    assert await worker.run_once() == 0
    [message] = await outbox(store)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "ConnectionError: cannot reach ann@example.com"
    assert message.body == "Your code is 042917"  # kept until delivered
    sender.failing.clear()
    clock.advance(timedelta(seconds=14))
    assert await worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await worker.run_once() == 1
    [message] = await outbox(store)
    assert (message.status, message.attempts, message.body) == ("sent", 2, "")


async def test_the_backoff_doubles_up_to_its_cap(store: SqlStore, clock: FrozenClock,
                                                 sender: RecordingSender) -> None:
    policy = OutboxPolicy(base_backoff=timedelta(seconds=15), max_backoff=timedelta(minutes=1))
    assert [policy.backoff(n).total_seconds() for n in range(6)] == [15, 15, 30, 60, 60, 60]
    worker = make_worker(store, clock, sender, base_backoff=timedelta(seconds=15),
                         max_backoff=timedelta(minutes=1))
    await enqueue(store, clock)
    sender.failing.add("ann@example.com")
    for wait in (15, 30, 60, 60):
        assert await worker.run_once() == 0
        clock.advance(timedelta(seconds=wait - 1))
        assert await worker.run_once() == 0  # not due yet: nothing claimed, nothing counted
        clock.advance(timedelta(seconds=1))
    [message] = await outbox(store)
    assert message.attempts == 4


async def test_a_message_fails_for_good_after_max_attempts(store: SqlStore, clock: FrozenClock,
                                                           sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender, max_attempts=3)
    await enqueue(store, clock)
    sender.failing.add("ann@example.com")
    for _ in range(3):
        assert await worker.run_once() == 0
        clock.advance(timedelta(hours=1))
    [message] = await outbox(store)
    assert (message.status, message.attempts) == ("failed", 3)
    assert message.body == "Your code is 042917"  # kept for the operator
    sender.failing.clear()
    clock.advance(timedelta(days=1))
    assert await worker.run_once() == 0
    assert sender.sent == []


async def test_a_channel_without_a_sender_is_retried(store: SqlStore, clock: FrozenClock,
                                                     sender: RecordingSender) -> None:
    worker = OutboxWorker(store=store, clock=clock, senders={"email": sender},
                          policy=OutboxPolicy())
    await enqueue(store, clock, "+447700900123", channel="sms")
    assert await worker.run_once() == 0
    [message] = await outbox(store)
    assert message.status == "pending"
    assert message.last_error == "RuntimeError: no sender configured for sms"


async def test_one_failure_does_not_hold_up_the_others(store: SqlStore, clock: FrozenClock,
                                                       sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender)
    await enqueue(store, clock, "down@example.com")
    await enqueue(store, clock, "up@example.com")
    sender.failing.add("down@example.com")
    assert await worker.run_once() == 1
    assert [m.destination for m in sender.sent] == ["up@example.com"]
    assert [m.status for m in await outbox(store)] == ["pending", "sent"]


async def test_a_round_delivers_at_most_a_batch(store: SqlStore, clock: FrozenClock,
                                                sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender, batch_size=2)
    ids = [await enqueue(store, clock, f"user{n}@example.com") for n in range(3)]
    assert await worker.run_once() == 2
    assert await worker.run_once() == 1
    assert [m.id for m in sender.sent] == ids  # oldest first


async def test_a_leased_message_waits_for_the_lease(store: SqlStore, clock: FrozenClock,
                                                    sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender, lease_seconds=60)
    await enqueue(store, clock)
    async with store.unit_of_work(write=True) as uow:  # another worker claimed it and crashed
        assert len(await uow.outbox.claim_due(clock.now(), limit=10, lease_seconds=60)) == 1
    assert await worker.run_once() == 0
    clock.advance(timedelta(seconds=60))
    assert await worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await worker.run_once() == 1
    [message] = await outbox(store)
    assert (message.status, message.attempts) == ("sent", 2)


async def test_a_long_error_is_cut(store: SqlStore, clock: FrozenClock,
                                   sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender)
    long_address = "x" * 600 + "@example.com"
    await enqueue(store, clock, long_address)
    sender.failing.add(long_address)
    await worker.run_once()
    [message] = await outbox(store)
    assert message.last_error is not None and len(message.last_error) == 500


async def test_the_loop_runs_chores_and_survives_a_failing_round(
        store: SqlStore, clock: FrozenClock, sender: RecordingSender) -> None:
    worker = make_worker(store, clock, sender)
    await enqueue(store, clock)
    chores: list[int] = []

    async with anyio.create_task_group() as tasks:
        async def chore() -> None:
            chores.append(len(sender.sent))
            if len(chores) == 1:
                raise RuntimeError("database hiccup")
            if len(chores) == 3:
                tasks.cancel_scope.cancel()

        tasks.start_soon(worker.run_forever, 0, [chore], 2)
    assert chores == [1, 1, 1]  # rounds 0, 2 and 4; the failure in round 0 stopped nothing
    assert len(sender.sent) == 1
