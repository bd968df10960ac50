"""Fixed-window counters (``ports.WindowCounters``) on the ``limits`` library.

``in_memory`` serves the embedded single-process default; ``on_redis`` shares one view between
any number of app instances. Either way a hit is one atomic increment, so parallel requests
cannot slip past a limit together.

``limits`` keeps its own wall clock: windows are real time, not the injected ``Clock``. A
counter's stored key names the window's namespace, amount, length and unit (for example
``kg-signup/<ip>/10/1/hour``), so changing any of them starts that counter afresh.
"""

from __future__ import annotations

import math
import time
from functools import cache
from typing import Any

from limits import RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.limits import RateLimitItem
from redis.asyncio import ConnectionPool

from keepgate.services.ports import TimeUnit, Window

_ITEMS: dict[TimeUnit, type[RateLimitItem]] = {
    TimeUnit.SECOND: RateLimitItemPerSecond,
    TimeUnit.MINUTE: RateLimitItemPerMinute,
    TimeUnit.HOUR: RateLimitItemPerHour,
}


@cache
def _item(window: Window) -> RateLimitItem:
    return _ITEMS[window.unit](window.amount, window.length, namespace=window.namespace)


class LimitsWindowCounters:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    @classmethod
    def in_memory(cls) -> LimitsWindowCounters:
        """Counters for one process: every app instance would count on its own."""
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, redis_url: str, pool: ConnectionPool) -> LimitsWindowCounters:
        """Counters in Redis (through redis-py, over the caller's connection pool)."""
        options: dict[str, Any] = {"connection_pool": pool}  # typed as scalars upstream
        return cls(RedisStorage(f"async+{redis_url}", implementation="redispy", **options))

    async def hit(self, window: Window, key: str) -> bool:
        return await self._limiter.hit(_item(window), key)

    async def give_back(self, window: Window, key: str) -> None:
        item = _item(window)
        await self._storage.incr(item.key_for(key), item.get_expiry(), amount=-1)

    async def count(self, window: Window, key: str) -> int:
        stats = await self._limiter.get_window_stats(_item(window), key)
        return window.amount - stats.remaining

    async def seconds_left(self, window: Window, key: str) -> int:
        stats = await self._limiter.get_window_stats(_item(window), key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, window: Window, key: str) -> None:
        await self._limiter.clear(_item(window), key)
