"""Audit actors on every storage adapter: who acted is stored, read back and hash-chained, and
rows written before migration 0006 keep verifying, with the actor their kind implies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import DBAPIError

from keepgate.adapters.sql.audit import SqlAudit
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.cli import MIGRATIONS
from keepgate.domain.audit import Actor, ActorKind, AuditEvent, EventKind, Outcome
from keepgate.security.audit_chain import entry_hash, verify_chain
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import AuditRecord

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(make_engine(database_url))
    yield store
    await store.close()


def chain_of(records: Sequence[AuditRecord]) -> list[tuple[dict[str, object], str, str]]:
    return [(SqlAudit.content(r.seq, r.at, r.event), r.prev_hash, r.hash) for r in records]


async def read_all(store: SqlStore) -> Sequence[AuditRecord]:
    async with store.unit_of_work(write=False) as uow:
        return await uow.audit.read()


async def test_the_actor_is_stored_apart_from_the_subject(store: SqlStore,
                                                          clock: FrozenClock) -> None:
    support = Actor.staff("staff-7", "Customer called from the number on file")
    async with store.unit_of_work(write=True) as uow:
        await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.SUCCESS, "acc-1"), clock.now())
        await uow.audit.append(AuditEvent(EventKind.BANNED, Outcome.SUCCESS, "acc-1",
                                          actor=Actor.system()), clock.now())
        await uow.audit.append(AuditEvent(EventKind.THROTTLED, Outcome.FAILURE), clock.now())
        await uow.audit.append(AuditEvent(EventKind.SESSIONS_REVOKED, Outcome.SUCCESS, "acc-1",
                                          actor=support), clock.now())
    records = await read_all(store)
    assert [r.event.actor for r in records] == [
        Actor.customer("acc-1"), Actor.system(), Actor.system(), support]
    assert [r.event.account_id for r in records] == ["acc-1", "acc-1", None, "acc-1"]
    assert verify_chain(chain_of(records)) is None


async def test_the_hash_covers_the_actor(store: SqlStore, clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        for n in range(3):
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.SUCCESS, f"acc-{n}"),
                                   clock.now())
    chain = chain_of(await read_all(store))
    content, prev, digest = chain[1]
    chain[1] = ({**content, "actor_kind": "staff", "actor_id": "staff-7"}, prev, digest)
    assert verify_chain(chain) == 1


def _alembic(url: str, verb: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    with ThreadPoolExecutor(max_workers=1) as pool:  # alembic's env runs its own loop
        pool.submit(getattr(command, verb), config, revision).result()


OLD_EVENTS = [(EventKind.LOGIN, "acc-1"), (EventKind.BANNED, "acc-1"),
              (EventKind.PASSWORD_REHASHED, "acc-1"), (EventKind.CAPTCHA_DEMANDED, None),
              (EventKind.PASSWORD_CHANGED, "acc-1")]


async def _write_before_actors(url: str, clock: FrozenClock) -> None:
    """Rows as revision 0005 wrote them: no actor columns, hashes without an actor."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            prev = "0" * 64
            for seq, (kind, account_id) in enumerate(OLD_EVENTS, start=1):
                row = {"seq": seq, "at": clock.now(), "kind": kind.value, "outcome": "success",
                       "account_id": account_id, "ip": "192.0.2.1", "user_agent": "ua",
                       "details": {"n": seq}}
                digest = entry_hash(prev, {**row, "at": clock.now().isoformat()})
                await conn.execute(sa.text(
                    "INSERT INTO audit_events (seq, at, kind, outcome, account_id, ip, "
                    "user_agent, details, prev_hash, hash) VALUES (:seq, :at, :kind, :outcome, "
                    ":account_id, :ip, :user_agent, :details, :prev_hash, :hash)"),
                    {**row, "details": json.dumps({"n": seq}), "prev_hash": prev, "hash": digest})
                prev = digest
            await conn.execute(sa.text(
                "UPDATE audit_head SET seq = :seq, last_hash = :hash WHERE id = 1"),
                {"seq": len(OLD_EVENTS), "hash": prev})
    finally:
        await engine.dispose()


async def test_rows_from_before_actors_keep_verifying(database_url: str,
                                                      clock: FrozenClock) -> None:
    _alembic(database_url, "downgrade", "0005")
    try:
        await _write_before_actors(database_url, clock)
    finally:
        _alembic(database_url, "upgrade", "head")
    store = SqlStore(make_engine(database_url))
    try:
        clock.advance(timedelta(seconds=1))
        async with store.unit_of_work(write=True) as uow:
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.SUCCESS, "acc-1"),
                                   clock.now())
        records = await read_all(store)
        assert verify_chain(chain_of(records)) is None
        old, new = records[:-1], records[-1]
        assert all(r.event.actor is None for r in old)
        assert [r.event.acted_by.kind for r in old] == [
            ActorKind.CUSTOMER, ActorKind.SYSTEM, ActorKind.SYSTEM, ActorKind.SYSTEM,
            ActorKind.CUSTOMER]
        assert new.event.actor == Actor.customer("acc-1")
        for statement in ("UPDATE audit_events SET actor_kind = 'staff'",
                          "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with store.engine.begin() as conn:
                    await conn.execute(sa.text(statement))
    finally:
        await store.close()
