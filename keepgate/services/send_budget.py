"""How many messages may go to one address in an hour, per purpose.

Two budgets, so strangers cannot spend the owner's:
* ``foreign``: codes and notices that anyone can trigger toward an address — sign-up and
  contact-change codes. It is spent the same way whether or not a message really goes out
  (an address that already has an account gets a notice, or nothing), so hitting the limit
  reveals nothing about who has an account.
* ``owner``: codes the account's owner asks for after proving the password — sign-in,
  new-device and enrolment codes.
A third, tiny budget keeps the "someone tried to sign up with your address" notice to one
an hour. Counters live in the database: atomic, shared by every instance, on the injected
clock, and keyed by a keyed hash of the address.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta

from keepgate.domain.errors import SendLimitReached
from keepgate.services.clock import Clock
from keepgate.services.ports import Store

WINDOW = timedelta(hours=1)
NOTICE_LIMIT = 1


class SendBudget:
    def __init__(self, *, store: Store, clock: Clock, key: bytes, limit: int) -> None:
        self._store = store
        self._clock = clock
        self._key = key
        self.limit = limit

    def _slot(self, purpose: str, destination: str) -> str:
        message = f"{purpose}\x1f{destination}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def _spend(self, purpose: str, destination: str) -> tuple[int, int]:
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            count, start = await uow.counters.spend_send(self._slot(purpose, destination),
                                                         now, WINDOW)
        left = max(1, math.ceil((start + WINDOW - now).total_seconds()))
        return count, left

    async def spend(self, purpose: str, destination: str) -> None:
        """Count one send; raise ``SendLimitReached`` (with Retry-After) over the limit."""
        count, left = await self._spend(purpose, destination)
        if count > self.limit:
            raise SendLimitReached(retry_after=left)

    async def notice_allowed(self, destination: str, *, has_account: bool = True) -> bool:
        """Whether the owner may be told once more this hour. An address with no account
        spends a slot of its own, the same write, so both cost alike and a first sign-up
        does not use up the notice the owner should get of the next."""
        count, _ = await self._spend("notice" if has_account else "notice-unowned",
                                     destination)
        return has_account and count <= NOTICE_LIMIT
