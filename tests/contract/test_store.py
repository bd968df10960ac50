"""One contract for every storage adapter: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from keepgate.adapters.sql.audit import SqlAudit
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.sessions import AAL, Session
from keepgate.flows.base import Channel, Feedback, Flow, FlowKind
from keepgate.security.audit_chain import verify_chain
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import IdentifierTaken, StaleFlow

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(make_engine(database_url))
    yield store
    await store.close()


def account(n: int, clock: FrozenClock, *, email: str | None = None,
            phone: str | None = None) -> Account:
    return Account(id=f"acc-{n}", email=email if email or phone else f"user{n}@example.com",
                   phone=phone, password_hash="hash", status=AccountStatus.RESTRICTED,
                   kyc_tier=0, created_at=clock.now())


def session(n: int, account_id: str, clock: FrozenClock) -> Session:
    now = clock.now()
    return Session(id=f"ses-{n}", account_id=account_id, token_hash=f"{n:064x}", aal=AAL.AAL1,
                   methods=("password",), channel="api", created_at=now, last_seen_at=now,
                   expires_at=now + timedelta(hours=12), ip="198.51.100.1", user_agent="test")


async def test_accounts_round_trip_and_unique_identifiers(store: SqlStore,
                                                          clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(account(1, clock, email="ann@example.com"))
        await uow.accounts.create(account(2, clock, phone="+447700900123"))
    async with store.unit_of_work(write=False) as uow:
        by_email = await uow.accounts.find(Identifier(IdentifierKind.EMAIL, "ann@example.com"))
        by_phone = await uow.accounts.find(Identifier(IdentifierKind.PHONE, "+447700900123"))
        missing = await uow.accounts.find(Identifier(IdentifierKind.EMAIL, "bob@example.com"))
        got = await uow.accounts.get("acc-1")
    assert by_email is not None and by_email.id == "acc-1"
    assert by_phone is not None and by_phone.id == "acc-2"
    assert missing is None
    assert got == account(1, clock, email="ann@example.com")
    assert got.created_at.tzinfo is not None
    with pytest.raises(IdentifierTaken):
        async with store.unit_of_work(write=True) as uow:
            await uow.accounts.create(account(3, clock, email="ann@example.com"))


async def test_a_failed_unit_of_work_keeps_nothing(store: SqlStore, clock: FrozenClock) -> None:
    with pytest.raises(RuntimeError):
        async with store.unit_of_work(write=True) as uow:
            await uow.accounts.create(account(1, clock))
            await uow.outbox.enqueue("email", "user1@example.com", "t", "s", "b", clock.now())
            raise RuntimeError("crash mid-transaction")
    async with store.unit_of_work(write=False) as uow:
        assert await uow.accounts.get("acc-1") is None
        assert await uow.outbox.recent(10) == []


async def test_flow_save_is_a_compare_and_swap(store: SqlStore, clock: FrozenClock) -> None:
    flow = Flow(id="f-1", kind=FlowKind.LOGIN, channel=Channel.API, state="awaiting_credentials",
                created_at=clock.now(), expires_at=clock.now() + timedelta(minutes=15),
                context={"failures": 0}, messages=(Feedback("m", "text", "info"),))
    async with store.unit_of_work(write=True) as uow:
        await uow.flows.create(flow)
    async with store.unit_of_work(write=True) as uow:
        saved = await uow.flows.save(flow.with_context(failures=1))
    assert saved.version == 1
    with pytest.raises(StaleFlow):  # a second writer that read version 0 loses
        async with store.unit_of_work(write=True) as uow:
            await uow.flows.save(flow.with_context(failures=1))
    async with store.unit_of_work(write=False) as uow:
        loaded = await uow.flows.get("f-1")
    assert loaded is not None
    assert loaded.version == 1 and loaded.context == {"failures": 1}
    assert loaded.messages == (Feedback("m", "text", "info"),)
    assert loaded.expires_at == flow.expires_at


async def test_sessions_lookup_touch_and_revoke(store: SqlStore, clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(account(1, clock))
        for n in range(3):
            await uow.sessions.create(session(n, "acc-1", clock))
    clock.advance(timedelta(minutes=5))
    async with store.unit_of_work(write=True) as uow:
        await uow.sessions.touch("ses-0", clock.now())
        assert await uow.sessions.revoke("ses-1", clock.now()) is True
        assert await uow.sessions.revoke("ses-1", clock.now()) is False  # already revoked
    async with store.unit_of_work(write=False) as uow:
        found = await uow.sessions.with_account(f"{0:064x}")
        listed = await uow.sessions.list_for_account("acc-1")
    assert found is not None and found[0].last_seen_at == clock.now()
    assert sorted(s.id for s in listed) == ["ses-0", "ses-2"]
    async with store.unit_of_work(write=True) as uow:
        assert await uow.sessions.revoke_all("acc-1", clock.now(), keep="ses-0") == 1
    async with store.unit_of_work(write=False) as uow:
        assert [s.id for s in await uow.sessions.list_for_account("acc-1")] == ["ses-0"]


async def test_outbox_claims_retries_and_scrubs(store: SqlStore, clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        for n in range(3):
            await uow.outbox.enqueue("email", "a@example.com", "t", "subject", f"code {n}",
                                     clock.now())
            clock.advance(timedelta(minutes=25))
    async with store.unit_of_work(write=True) as uow:
        claimed = await uow.outbox.claim_due(clock.now(), limit=2, lease_seconds=60)
    assert [m.body for m in claimed] == ["code 0", "code 1"]
    assert all(m.attempts == 1 for m in claimed)
    async with store.unit_of_work(write=True) as uow:  # leased messages are not claimed again
        again = await uow.outbox.claim_due(clock.now(), limit=10, lease_seconds=60)
    assert [m.body for m in again] == ["code 2"]
    async with store.unit_of_work(write=True) as uow:
        await uow.outbox.mark_sent(claimed[0].id, clock.now(), keep_body=False)
        await uow.outbox.mark_retry(claimed[1].id, "boom", clock.now() + timedelta(minutes=1))
        await uow.outbox.mark_retry(again[0].id, "gave up", None)
    clock.advance(timedelta(minutes=2))
    async with store.unit_of_work(write=True) as uow:
        retried = await uow.outbox.claim_due(clock.now(), limit=10, lease_seconds=60)
        recent = {m.id: m for m in await uow.outbox.recent(10)}
    assert [m.id for m in retried] == [claimed[1].id]
    assert retried[0].attempts == 2
    assert recent[claimed[0].id].status == "sent" and recent[claimed[0].id].body == ""
    assert recent[again[0].id].status == "failed"


async def test_audit_log_is_a_hash_chain_and_append_only(store: SqlStore,
                                                         clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        for n in range(4):
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.FAILURE, None,
                                              "192.0.2.1", "ua", {"n": n}), clock.now())
            clock.advance(timedelta(seconds=1))
    async with store.unit_of_work(write=False) as uow:
        records = await uow.audit.read()
    assert [r.seq for r in records] == [1, 2, 3, 4]
    chain = [(SqlAudit.content(r.seq, r.at, r.event), r.prev_hash, r.hash) for r in records]
    assert verify_chain(chain) is None
    tampered = list(chain)
    tampered[2] = ({**chain[2][0], "outcome": "success"}, chain[2][1], chain[2][2])
    assert verify_chain(tampered) == 2
    for statement in ("UPDATE audit_events SET outcome = 'success'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with store.engine.begin() as conn:
                await conn.execute(sa.text(statement))
    async with store.unit_of_work(write=False) as uow:
        assert len(await uow.audit.read()) == 4


async def test_concurrent_audit_appends_keep_one_unbroken_chain(store: SqlStore,
                                                                clock: FrozenClock) -> None:
    async def append(n: int) -> None:
        async with store.unit_of_work(write=True) as uow:
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.SUCCESS, None, "", "",
                                              {"n": n}), clock.now())

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(append, n)
    async with store.unit_of_work(write=False) as uow:
        records = await uow.audit.read()
    assert [r.seq for r in records] == list(range(1, 21))
    assert sorted(r.event.details["n"] for r in records) == list(range(20))
    chain = [(SqlAudit.content(r.seq, r.at, r.event), r.prev_hash, r.hash) for r in records]
    assert verify_chain(chain) is None


async def test_concurrent_outbox_workers_never_share_a_message(store: SqlStore,
                                                               clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        for n in range(30):
            await uow.outbox.enqueue("sms", "+447700900123", "t", "", f"m{n}", clock.now())
    claimed: list[int] = []

    async def worker() -> None:
        for _ in range(10):
            async with store.unit_of_work(write=True) as uow:
                batch = await uow.outbox.claim_due(clock.now(), limit=3, lease_seconds=60)
            claimed.extend(m.id for m in batch)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(worker)
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 30


async def test_unknown_attempts_count_and_housekeeping_purges(store: SqlStore,
                                                              clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.counters.reserve_unknown_attempt("k" * 32, clock.now())
    for _ in range(3):
        async with store.unit_of_work(write=True) as uow:
            await uow.counters.reserve_unknown_attempt("k" * 32, clock.now())
            await uow.counters.record_unknown_failure("k" * 32, clock.now())
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT failed FROM unknown_attempts"))).one()
    assert row.failed == 3  # failures; a reservation alone counts none
    expired = Flow(id="old", kind=FlowKind.LOGIN, channel=Channel.API, state="completed",
                   created_at=clock.now(), expires_at=clock.now() + timedelta(minutes=15))
    async with store.unit_of_work(write=True) as uow:
        await uow.flows.create(expired)
    clock.advance(timedelta(days=1, minutes=16))
    async with store.unit_of_work(write=True) as uow:
        await uow.counters.reserve_unknown_attempt("fresh" * 6, clock.now())
        purged = await uow.housekeeping.purge(clock.now(), flows_after=timedelta(days=1),
                                              attempts_after=timedelta(days=1))
    assert purged == (1, 1)
    async with store.unit_of_work(write=False) as uow:
        assert await uow.flows.get("old") is None


async def test_active_sessions_oldest_first(store: SqlStore, clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(account(1, clock))
        for n in range(4):
            await uow.sessions.create(session(n, "acc-1", clock))
            clock.advance(timedelta(minutes=1))
        await uow.sessions.revoke("ses-2", clock.now())
    clock.advance(timedelta(minutes=27))  # ses-0 idle for 31 minutes, ses-1 for 30
    async with store.unit_of_work(write=True) as uow:
        await uow.sessions.touch("ses-1", clock.now() - timedelta(minutes=1))
        active = await uow.sessions.active_for_account(
            "acc-1", now=clock.now(), seen_since=clock.now() - timedelta(minutes=30))
    assert [s.id for s in active] == ["ses-1", "ses-3"]


async def test_failed_login_reservations_count_until_settled_or_lapsed(
        store: SqlStore, clock: FrozenClock) -> None:
    lifetime = timedelta(minutes=2)
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(account(1, clock))

    async def reserve() -> int | None:
        async with store.unit_of_work(write=True) as uow:
            return await uow.accounts.reserve_attempt("acc-1", clock.now(), 3, lifetime)

    assert [await reserve() for _ in range(4)] == [1, 2, 3, None]
    async with store.unit_of_work(write=True) as uow:
        assert await uow.accounts.count_failure("acc-1", clock.now()) == 1
        await uow.accounts.release_attempt("acc-1", clock.now())
    assert [await reserve() for _ in range(2)] == [3, None]  # 1 failure + 2 in flight
    clock.advance(lifetime)  # the two never settled (their requests died): they lapse
    assert [await reserve() for _ in range(3)] == [2, 3, None]
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.clear_failures("acc-1", clock.now())
    assert await reserve() == 2  # failures cleared; one reservation still in flight
    async with store.unit_of_work(write=False) as uow:
        got = await uow.accounts.get("acc-1")
    assert got is not None and got.failed_logins == 0
