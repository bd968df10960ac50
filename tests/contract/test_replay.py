"""One contract for every ReplayGuard: the same tests in memory and on the real Redis server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from keepgate.adapters.replay import MemoryReplayGuard, RedisReplayGuard
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import ReplayGuard
from tests import backends

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.anyio


@dataclass
class Harness:
    guard: ReplayGuard
    memory: MemoryReplayGuard | None = None
    clock: FrozenClock | None = None
    redis: Redis | None = None
    prefix: str = ""

    async def remaining_seconds(self, key: str) -> float | None:
        """How long the guard will still remember ``key`` (None: not remembered)."""
        if self.redis is not None:
            millis = await self.redis.pttl(self.prefix + key)
            return None if millis < 0 else millis / 1000
        assert self.memory is not None and self.clock is not None
        expires = self.memory._expiry.get(key)
        return None if expires is None else (expires - self.clock.now()).total_seconds()


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FrozenClock()
        memory = MemoryReplayGuard(clock.now)
        yield Harness(guard=memory, memory=memory, clock=clock)
        return
    backends.need("redis")
    from redis.asyncio import Redis

    client = Redis.from_url(backends.REDIS_URL)
    # Our own random prefix: we read and delete only our keys, never FLUSHDB a shared server.
    prefix = f"keepgate-test:replay:{secrets.token_hex(8)}:"
    try:
        yield Harness(guard=RedisReplayGuard(client, prefix=prefix), redis=client, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_first_use_only_once(harness: Harness) -> None:
    assert await harness.guard.first_use("captcha:a", 60) is True
    assert await harness.guard.first_use("captcha:a", 60) is False
    assert await harness.guard.first_use("captcha:a", 600) is False


async def test_keys_are_independent(harness: Harness) -> None:
    assert await harness.guard.first_use("captcha:a", 60) is True
    assert await harness.guard.first_use("captcha:b", 60) is True
    assert await harness.guard.first_use("captcha:A", 60) is True
    assert await harness.guard.first_use("captcha:a", 60) is False


async def test_a_key_is_remembered_for_its_ttl_and_not_forever(harness: Harness) -> None:
    assert await harness.remaining_seconds("captcha:t") is None
    await harness.guard.first_use("captcha:t", 300)
    remaining = await harness.remaining_seconds("captcha:t")
    assert remaining is not None and 299 < remaining <= 300
    # A repeat does not extend the memory (so nobody can keep a key alive forever).
    await harness.guard.first_use("captcha:t", 9000)
    again = await harness.remaining_seconds("captcha:t")
    assert again is not None and again <= 300


async def test_odd_keys_are_just_keys(harness: Harness) -> None:
    for key in ("", " ", "with space", "ünïcödé", "a" * 1000, "*", "prefix:*:glob?[x]"):
        assert await harness.guard.first_use(key, 60) is True, key
        assert await harness.guard.first_use(key, 60) is False, key


async def test_a_ttl_below_one_second_is_refused(harness: Harness) -> None:
    # One test id per guard (no second parametrize), so the "[redis]" id marks it for -m redis.
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            await harness.guard.first_use("captcha:z", ttl)
    assert await harness.guard.first_use("captcha:z", 1) is True


async def test_twenty_parallel_first_uses_of_one_key_yield_exactly_one_true(
        harness: Harness) -> None:
    results: list[bool] = []

    async def attempt() -> None:
        results.append(await harness.guard.first_use("captcha:race", 60))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(attempt)
    assert len(results) == 20
    assert results.count(True) == 1


# What only the in-memory guard can show without waiting: time passing on its injected clock.


async def test_memory_guard_forgets_a_key_when_its_ttl_has_passed() -> None:
    clock = FrozenClock()
    guard = MemoryReplayGuard(clock.now)
    assert await guard.first_use("k", 60) is True
    clock.advance(timedelta(seconds=59))
    assert await guard.first_use("k", 60) is False
    clock.advance(timedelta(seconds=1))
    assert await guard.first_use("k", 60) is True
    clock.advance(timedelta(seconds=59))
    assert await guard.first_use("k", 60) is False


async def test_memory_guard_does_not_grow_without_bound() -> None:
    clock = FrozenClock()
    guard = MemoryReplayGuard(clock.now)
    for n in range(1000):
        await guard.first_use(f"k{n}", 10)
        clock.advance(timedelta(seconds=1))
    assert len(guard) <= 10
