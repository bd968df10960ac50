"""Parallel submissions on one sign-in flow: one saves the flow, the others lose the race
(409). What each evaluated attempt did still holds: every failure is counted *and* audited,
and a passed step that lost gives its reservation back."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from keepgate.adapters.sql import tables as t
from keepgate.domain.audit import EventKind, Outcome
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import enrol_totp
from tests.conftest import PASSWORD, register, sign_in

pytestmark = pytest.mark.anyio
ID = "race@example.com"
PARALLEL = 4


def verify_together(kg: Keepgate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold each password check until all ``PARALLEL`` have read the flow, so all but one
    lose the race to save it."""
    verify, arrived, all_in = kg.hasher.verify, [0], anyio.Event()

    async def together(password_hash: str | None, password: str) -> bool:
        arrived[0] += 1
        if arrived[0] == PARALLEL:
            all_in.set()
        await all_in.wait()
        return await verify(password_hash, password)

    monkeypatch.setattr(kg.hasher, "verify", together)


async def in_parallel(client: httpx.AsyncClient, password: str) -> list[int]:
    flow = (await client.post("/api/v1/flows/login")).json()
    statuses: list[int] = []

    async def guess() -> None:
        answer = await client.post(f"/api/v1/flows/{flow['id']}", json={
            "method": "password", "identifier": ID, "password": password})
        statuses.append(answer.status_code)

    async with anyio.create_task_group() as tasks:
        for _ in range(PARALLEL):
            tasks.start_soon(guess)
    return sorted(statuses)


async def account_row(kg: Keepgate) -> Any:
    async with kg.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(sa.select(t.accounts.c.failed_logins, t.accounts.c.pending)
                                   .where(t.accounts.c.email == ID))).one()


async def test_every_counted_failure_is_audited(client: httpx.AsyncClient, kg: Keepgate,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    await register(client, kg, ID)
    verify_together(kg, monkeypatch)
    assert await in_parallel(client, "definitely not the password") == [401, 409, 409, 409]
    async with kg.store.unit_of_work(write=False) as uow:
        records = await uow.audit.read(limit=1000)
    failures = [r for r in records
                if r.event.kind is EventKind.LOGIN and r.event.outcome is Outcome.FAILURE]
    assert len(failures) == PARALLEL
    assert tuple(await account_row(kg)) == (PARALLEL, 0)


async def test_a_passed_step_that_lost_gives_its_reservation_back(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await register(client, kg, ID)
    await enrol_totp(client, await sign_in(client, ID), clock)  # the password leads on
    verify_together(kg, monkeypatch)
    assert await in_parallel(client, PASSWORD) == [200, 409, 409, 409]
    assert tuple(await account_row(kg)) == (0, 0)
