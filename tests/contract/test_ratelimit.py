"""One contract for every WindowCounters: the same tests in memory and on the real Redis server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.services.ports import TimeUnit, Window
from tests import backends

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.anyio


@dataclass
class Harness:
    counters: LimitsWindowCounters
    namespace: str  # our own per test: counters of other runs never meet ours
    redis: Redis | None = None

    def window(self, amount: int, length: int = 1, unit: TimeUnit = TimeUnit.HOUR) -> Window:
        return Window(self.namespace, amount, length, unit)


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    namespace = f"kg-test-{secrets.token_hex(8)}"
    if request.param == "memory":
        yield Harness(LimitsWindowCounters.in_memory(), namespace)
        return
    backends.need("redis")
    from redis.asyncio import ConnectionPool, Redis

    pool = ConnectionPool.from_url(backends.REDIS_URL)
    client = Redis(connection_pool=pool)
    try:
        yield Harness(LimitsWindowCounters.on_redis(backends.REDIS_URL, pool), namespace,
                      client)
    finally:
        keys = [key async for key in client.scan_iter(match=f"LIMITS:{namespace}/*")]
        if keys:
            await client.delete(*keys)
        await pool.aclose()


async def test_hits_count_up_to_the_amount(harness: Harness) -> None:
    window = harness.window(3)
    assert [await harness.counters.hit(window, "ip") for _ in range(4)] == [True] * 3 + [False]
    assert await harness.counters.count(window, "ip") == 3
    assert await harness.counters.count(window, "other") == 0


async def test_a_hit_given_back_frees_its_place(harness: Harness) -> None:
    window = harness.window(2)
    await harness.counters.hit(window, "ip")
    await harness.counters.hit(window, "ip")
    await harness.counters.give_back(window, "ip")
    assert await harness.counters.count(window, "ip") == 1
    assert await harness.counters.hit(window, "ip") is True


async def test_clear_forgets_a_key_only(harness: Harness) -> None:
    window = harness.window(5)
    for key in ("a", "b"):
        await harness.counters.hit(window, key)
    await harness.counters.clear(window, "a")
    assert await harness.counters.count(window, "a") == 0
    assert await harness.counters.count(window, "b") == 1


async def test_seconds_left_is_within_the_window(harness: Harness) -> None:
    window = harness.window(1, 90, TimeUnit.SECOND)
    await harness.counters.hit(window, "ip")
    assert 1 <= await harness.counters.seconds_left(window, "ip") <= 90


async def test_windows_with_other_amounts_count_apart(harness: Harness) -> None:
    await harness.counters.hit(harness.window(5), "ip")
    assert await harness.counters.count(harness.window(6), "ip") == 0
    assert await harness.counters.count(harness.window(5, 60, TimeUnit.MINUTE), "ip") == 0


async def test_twenty_parallel_hits_pass_the_amount_exactly(harness: Harness) -> None:
    window = harness.window(5)
    results: list[bool] = []

    async def hit() -> None:
        results.append(await harness.counters.hit(window, "ip"))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(hit)
    assert results.count(True) == 5


# What only Redis can show: the stored key, which must stay the same from one release to the
# next, or every counter in flight would start afresh on deploy.


@pytest.mark.redis
async def test_redis_keys_name_the_window() -> None:
    backends.need("redis")
    from redis.asyncio import ConnectionPool, Redis

    namespace = f"kg-test-{secrets.token_hex(8)}"
    key = f"LIMITS:{namespace}/ip/10/60/minute"
    pool = ConnectionPool.from_url(backends.REDIS_URL)
    client = Redis(connection_pool=pool)
    try:
        counters = LimitsWindowCounters.on_redis(backends.REDIS_URL, pool)
        await counters.hit(Window(namespace, 10, 60, TimeUnit.MINUTE), "ip")
        assert await client.exists(key) == 1
    finally:
        await client.delete(key)
        await pool.aclose()
