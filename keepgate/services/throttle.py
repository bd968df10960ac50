"""Per-IP and per-identifier counters on the ``limits`` library.

In memory for the embedded single-process default; in Redis when ``KEEPGATE_REDIS_URL`` is
set, so several app instances share one view. Keys never hold an identifier in clear: they
hold a keyed hash of it.

An IP's sign-in attempts are reserved *before* any password hash is computed (an atomic
increment), so a flood is refused without costing Argon2 work, and parallel requests cannot
slip past the limit together. A successful attempt gives its reservation back, so the budget
counts failures, as the baseline asks. ``limits`` keeps its own wall clock: windows are real
time, which is why tests check counts within a window rather than the window's end.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.limits import RateLimitItem

from keepgate.domain.errors import Throttled
from keepgate.domain.factors import DefencePolicy


def make_storage(redis_url: str | None = None, pool: Any = None) -> Storage:
    """Memory for one process; Redis (redis-py, over the caller's pool) when shared."""
    if redis_url:
        options = {"connection_pool": pool} if pool is not None else {}
        return RedisStorage(f"async+{redis_url}", implementation="redispy", **options)
    return MemoryStorage()


@dataclass(frozen=True, slots=True)
class Limits:
    ip_failures: RateLimitItem
    ip_flag: RateLimitItem
    signups: RateLimitItem
    identifier_failures: RateLimitItem

    @classmethod
    def from_policy(cls, policy: DefencePolicy) -> Limits:
        window = int(policy.ip_window.total_seconds())
        return cls(
            ip_failures=RateLimitItemPerSecond(policy.ip_failures, window, namespace="kg-ip"),
            ip_flag=RateLimitItemPerHour(1_000_000, 1, namespace="kg-ipflag"),
            signups=RateLimitItemPerHour(policy.signups_per_ip, 1, namespace="kg-signup"),
            identifier_failures=RateLimitItemPerMinute(10_000, 60, namespace="kg-idfail"),
        )


class Throttle:
    def __init__(self, storage: Storage, policy: DefencePolicy, key: bytes) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._limits = Limits.from_policy(policy)
        self._policy = policy
        self._key = key

    def _hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def identifier_key(self, identifier: str) -> str:
        """A keyed hash: counters never hold an identifier in clear."""
        return self._hash(identifier)

    async def _retry_after(self, item: RateLimitItem, *ids: str) -> int:
        stats = await self._limiter.get_window_stats(item, *ids)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reserve_sign_in(self, ip: str) -> None:
        """Reserve one sign-in attempt for ``ip``; raise ``Throttled`` over the limit."""
        if not await self._limiter.hit(self._limits.ip_failures, ip):
            await self._limiter.hit(self._limits.ip_flag, ip)  # demand proof of work for a while
            raise Throttled(retry_after=await self._retry_after(self._limits.ip_failures, ip))

    async def release_sign_in(self, ip: str) -> None:
        """A successful attempt hands its reservation back: only failures use the budget."""
        item = self._limits.ip_failures
        await self._storage.incr(item.key_for(ip), item.get_expiry(), amount=-1)

    async def ip_flagged(self, ip: str) -> bool:
        stats = await self._limiter.get_window_stats(self._limits.ip_flag, ip)
        return stats.remaining < self._limits.ip_flag.amount

    async def reserve_sign_up(self, ip: str) -> None:
        if not await self._limiter.hit(self._limits.signups, ip):
            raise Throttled(retry_after=await self._retry_after(self._limits.signups, ip))

    async def identifier_failed(self, identifier: str) -> None:
        await self._limiter.hit(self._limits.identifier_failures, self._hash(identifier))

    async def identifier_failures(self, identifier: str) -> int:
        item = self._limits.identifier_failures
        stats = await self._limiter.get_window_stats(item, self._hash(identifier))
        return item.amount - stats.remaining

    async def identifier_succeeded(self, identifier: str) -> None:
        await self._limiter.clear(self._limits.identifier_failures, self._hash(identifier))

    async def captcha_needed(self, identifier: str | None, ip: str) -> bool:
        if await self.ip_flagged(ip):
            return True
        if identifier is None:
            return False
        return await self.identifier_failures(identifier) >= self._policy.captcha_after
