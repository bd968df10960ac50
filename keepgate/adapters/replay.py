"""Replay guards (``ports.ReplayGuard``): remember a key for a while, say whether it is new.

``MemoryReplayGuard`` serves a single process (development, tests); ``RedisReplayGuard`` serves
any number of workers, because ``SET key 1 NX EX ttl`` is one atomic command on the server.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from redis.asyncio import Redis


def _check_ttl(ttl_seconds: int) -> None:
    if type(ttl_seconds) is not int or ttl_seconds < 1:
        raise ValueError("ttl_seconds must be a positive integer")


class MemoryReplayGuard:
    """A dict of key -> expiry on an injected clock; expired keys are dropped as time passes."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._expiry: dict[str, datetime] = {}
        self._queue: list[tuple[datetime, str]] = []  # min-heap of (expiry, key)
        self._lock = threading.Lock()  # nothing below awaits; the lock covers threaded callers

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        _check_ttl(ttl_seconds)
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            if key in self._expiry:
                return False
            expires = now + timedelta(seconds=ttl_seconds)
            self._expiry[key] = expires
            heapq.heappush(self._queue, (expires, key))
            return True

    def _forget_expired(self, now: datetime) -> None:
        while self._queue and self._queue[0][0] <= now:
            expires, key = heapq.heappop(self._queue)
            if self._expiry.get(key) == expires:
                del self._expiry[key]

    def __len__(self) -> int:
        return len(self._expiry)


class RedisReplayGuard:
    """``SET <prefix><key> 1 NX EX <ttl>``: only the first caller within the ttl sets it."""

    def __init__(self, client: Redis, *, prefix: str = "keepgate:replay:") -> None:
        self._client = client
        self._prefix = prefix

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        _check_ttl(ttl_seconds)
        created = await self._client.set(self._prefix + key, b"1", nx=True, ex=ttl_seconds)
        return bool(created)
