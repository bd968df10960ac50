"""Two stateless app instances sharing PostgreSQL and Redis hold one view of the defences."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import redis.asyncio as aioredis

from keepgate.config import Settings
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate, build
from tests import backends
from tests.conftest import PASSWORD, register

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.redis]
WRONG = "definitely not the password"


async def forget_counters() -> None:
    """Delete only what Keepgate writes, in the database reserved for tests (15)."""
    client = aioredis.Redis.from_url(backends.REDIS_URL)
    try:
        for pattern in ("LIMITS:*", "keepgate:replay:*"):
            async for key in client.scan_iter(pattern):
                await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
async def shared_redis() -> AsyncIterator[str]:
    backends.need("redis")
    await forget_counters()  # an interrupted earlier run may have left an IP's count
    yield backends.REDIS_URL
    await forget_counters()


@pytest.fixture
async def two_instances(postgres_database: str, shared_redis: str, clock: FrozenClock
                        ) -> AsyncIterator[tuple[Keepgate, httpx.AsyncClient,
                                                 httpx.AsyncClient]]:
    from tests.conftest import base_settings, reset_postgres

    await reset_postgres(postgres_database)
    # a secret of its own, so counters from other runs in the same Redis never collide
    settings = dataclasses.replace(base_settings(postgres_database), redis_url=shared_redis,
                                   secret_key=type(Settings().secret_key)(
                                       secrets.token_urlsafe(32)))
    first, second = build(settings, clock=clock), build(settings, clock=clock)
    clients = []
    for kg, ip in ((first, "198.51.100.10"), (second, "198.51.100.10")):
        transport = httpx.ASGITransport(app=create_app(settings, keepgate=kg), client=(ip, 1))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://localhost"))
    try:
        yield first, clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        await first.close()
        await second.close()


async def attempt(client: httpx.AsyncClient, password: str,
                  captcha_solver: bool = True) -> httpx.Response:
    from keepgate.security.captcha import solve_for_tests

    flow = (await client.post("/api/v1/flows/login")).json()
    body = {"method": "password", "identifier": "shared@example.com", "password": password}
    response = await client.post(f"/api/v1/flows/{flow['id']}", json=body)
    if response.status_code == 400 and captcha_solver:
        body["captcha"] = solve_for_tests(response.json()["flow"]["data"]["captcha"])
        response = await client.post(f"/api/v1/flows/{flow['id']}", json=body)
    return response


async def test_a_ban_earned_on_one_instance_holds_on_the_other(
        two_instances: tuple[Keepgate, httpx.AsyncClient, httpx.AsyncClient]) -> None:
    kg, one, two = two_instances
    await register(one, kg, "shared@example.com")
    for n in range(5):  # alternate instances: the count is in the shared database
        response = await attempt(one if n % 2 else two, WRONG)
        assert response.status_code == 401
    refused = await attempt(two, PASSWORD)
    assert refused.status_code == 401  # banned, whichever instance answers
    refused = await attempt(one, PASSWORD)
    assert refused.status_code == 401


async def test_captcha_demand_and_ip_budget_are_shared_through_redis(
        two_instances: tuple[Keepgate, httpx.AsyncClient, httpx.AsyncClient]) -> None:
    kg, one, two = two_instances
    await register(one, kg, "shared@example.com")
    for client in (one, two, one):
        assert (await attempt(client, WRONG)).status_code == 401
    demanded = await attempt(two, WRONG, captcha_solver=False)
    assert demanded.json()["error"]["code"] == "captcha.required"  # counted in Redis

    statuses: list[int] = []

    async def stranger(client: httpx.AsyncClient, n: int) -> None:
        flow = (await client.post("/api/v1/flows/login")).json()
        response = await client.post(f"/api/v1/flows/{flow['id']}", json={
            "method": "password", "identifier": f"nobody{n}@example.com", "password": WRONG})
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:  # both instances, one IP, in parallel
        for n in range(30):
            group.start_soon(stranger, one if n % 2 else two, n)
    # 20 failures per IP per window in all, across both instances (3 were used above)
    assert statuses.count(401) == 20 - 3
    assert len(statuses) == 30 and set(statuses) <= {401, 429, 400}
