"""Per-IP and per-identifier counters in fixed windows (``ports.WindowCounters``).

In memory for the embedded single-process default; in Redis when ``KEEPGATE_REDIS_URL`` is
set, so several app instances share one view. Keys never hold an identifier in clear: they
hold a keyed hash of it.

An IP's sign-in attempts are reserved *before* any password hash is computed (an atomic
increment), so a flood is refused without costing Argon2 work, and parallel requests cannot
slip past the limit together. A successful attempt gives its reservation back, so the budget
counts failures, as the baseline asks. The counters keep their own wall clock: windows are
real time, which is why tests check counts within a window rather than the window's end.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from keepgate.domain.errors import Throttled
from keepgate.domain.factors import DefencePolicy
from keepgate.services.ports import TimeUnit, Window, WindowCounters


@dataclass(frozen=True, slots=True)
class Limits:
    ip_failures: Window
    ip_flag: Window
    signups: Window
    identifier_failures: Window

    @classmethod
    def from_policy(cls, policy: DefencePolicy) -> Limits:
        window = int(policy.ip_window.total_seconds())
        return cls(
            ip_failures=Window("kg-ip", policy.ip_failures, window, TimeUnit.SECOND),
            ip_flag=Window("kg-ipflag", 1_000_000, 1, TimeUnit.HOUR),
            signups=Window("kg-signup", policy.signups_per_ip, 1, TimeUnit.HOUR),
            identifier_failures=Window("kg-idfail", 10_000, 60, TimeUnit.MINUTE),
        )


class Throttle:
    def __init__(self, counters: WindowCounters, policy: DefencePolicy, key: bytes) -> None:
        self._counters = counters
        self._limits = Limits.from_policy(policy)
        self._policy = policy
        self._key = key

    def _hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def identifier_key(self, identifier: str) -> str:
        """A keyed hash: counters never hold an identifier in clear."""
        return self._hash(identifier)

    async def reserve_sign_in(self, ip: str) -> None:
        """Reserve one sign-in attempt for ``ip``; raise ``Throttled`` over the limit."""
        item = self._limits.ip_failures
        if not await self._counters.hit(item, ip):
            await self._counters.hit(self._limits.ip_flag, ip)  # demand proof of work for a while
            raise Throttled(retry_after=await self._counters.seconds_left(item, ip))

    async def release_sign_in(self, ip: str) -> None:
        """A successful attempt hands its reservation back: only failures use the budget."""
        await self._counters.give_back(self._limits.ip_failures, ip)

    async def ip_flagged(self, ip: str) -> bool:
        return await self._counters.count(self._limits.ip_flag, ip) > 0

    async def reserve_sign_up(self, ip: str) -> None:
        item = self._limits.signups
        if not await self._counters.hit(item, ip):
            raise Throttled(retry_after=await self._counters.seconds_left(item, ip))

    async def identifier_failed(self, identifier: str) -> None:
        await self._counters.hit(self._limits.identifier_failures, self._hash(identifier))

    async def identifier_failures(self, identifier: str) -> int:
        return await self._counters.count(self._limits.identifier_failures,
                                          self._hash(identifier))

    async def identifier_succeeded(self, identifier: str) -> None:
        await self._counters.clear(self._limits.identifier_failures, self._hash(identifier))

    async def captcha_needed(self, identifier: str | None, ip: str) -> bool:
        if await self.ip_flagged(ip):
            return True
        if identifier is None:
            return False
        return await self.identifier_failures(identifier) >= self._policy.captcha_after
