"""Password hashing off the event loop, bounded to the number of CPUs.

Argon2 releases the GIL, so two threads use two cores; the limiter keeps a flood of sign-in
attempts from queueing unbounded hash jobs (each holds ~19 MiB while it runs).
"""

from __future__ import annotations

import os

import anyio

from keepgate.security.errors import InvalidPassword
from keepgate.security.passwords import PasswordHasher


class AsyncPasswordHasher:
    def __init__(self, hasher: PasswordHasher, concurrency: int | None = None) -> None:
        self._hasher = hasher
        self._limiter = anyio.CapacityLimiter(concurrency or os.cpu_count() or 1)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when it matches; an absent hash is checked against the dummy for equal timing."""
        def check() -> bool:
            try:
                if password_hash is None:
                    self._hasher.verify_dummy(password)
                else:
                    self._hasher.verify(password_hash, password)
            except InvalidPassword:
                return False
            return True

        return await anyio.to_thread.run_sync(check, limiter=self._limiter)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.needs_rehash(password_hash)
