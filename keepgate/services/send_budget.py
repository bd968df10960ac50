"""How many codes may go out: per destination, and per account and IP that ask for them.

Per destination, at most ``limit`` an hour, in two budgets so strangers cannot spend the
owner's:
* ``foreign``: codes and notices that anyone can trigger toward an address — sign-up and
  contact-change codes. It is spent the same way whether or not a message really goes out
  (an address that already has an account gets a notice, or nothing), so hitting the limit
  reveals nothing about who has an account.
* ``owner``: codes the account's owner asks for after proving the password — sign-in,
  new-device and enrolment codes.
A third, tiny budget keeps the "someone tried to sign up with your address" notice to one
an hour.

Per sender, whatever the destinations: at most 3 codes a minute and 10 a day for each account
and each IP address that asks, so nobody fans codes out to many numbers (premium-rate ones
among them) or many addresses. Every budget a send touches is counted, in one transaction,
also when one of them refuses it.

Counters live in the database: atomic, shared by every instance, on the injected clock, and
keyed by a keyed hash of the address, account id or IP, none of which is stored in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from keepgate.domain.errors import SendLimitReached
from keepgate.services.clock import Clock
from keepgate.services.ports import Store

WINDOW = timedelta(hours=1)
NOTICE_LIMIT = 1


@dataclass(frozen=True, slots=True)
class Sender:
    """Who asks for a code: the account (none before sign-up) and the client's IP."""

    account_id: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class SenderLimits:
    per_minute: int = 3
    per_day: int = 10


@dataclass(frozen=True, slots=True)
class _Budget:
    slot: str
    window: timedelta
    limit: int


class SendBudget:
    def __init__(self, *, store: Store, clock: Clock, key: bytes, limit: int,
                 senders: SenderLimits | None = None) -> None:
        self._store = store
        self._clock = clock
        self._key = key
        self.limit = limit
        self.senders = senders or SenderLimits()

    def _slot(self, purpose: str, destination: str) -> str:
        message = f"{purpose}\x1f{destination}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _budgets(self, purpose: str, destination: str, sender: Sender | None) -> list[_Budget]:
        budgets = [_Budget(self._slot(purpose, destination), WINDOW, self.limit)]
        whom = [] if sender is None else [
            (kind, value) for kind, value in (("account", sender.account_id), ("ip", sender.ip))
            if value]
        for kind, value in whom:
            budgets += [
                _Budget(self._slot(f"{kind}-minute", value), timedelta(minutes=1),
                        self.senders.per_minute),
                _Budget(self._slot(f"{kind}-day", value), timedelta(days=1),
                        self.senders.per_day)]
        return budgets

    async def _count(self, budgets: list[_Budget], now: datetime) -> list[tuple[int, int]]:
        """Each budget's count after this send, and the seconds left in its window."""
        counted = []
        async with self._store.unit_of_work(write=True) as uow:
            for budget in budgets:
                count, start = await uow.counters.spend_send(budget.slot, now, budget.window)
                left = max(1, math.ceil((start + budget.window - now).total_seconds()))
                counted.append((count, left))
        return counted

    async def spend(self, purpose: str, destination: str, *,
                    sender: Sender | None = None) -> None:
        """Count one send to ``destination`` and, when given, by ``sender``; raise
        ``SendLimitReached`` (with Retry-After, the longest wait) over any limit."""
        budgets = self._budgets(purpose, destination, sender)
        counted = await self._count(budgets, self._clock.now())
        waits = [left for budget, (count, left) in zip(budgets, counted, strict=True)
                 if count > budget.limit]
        if waits:
            raise SendLimitReached(retry_after=max(waits))

    async def notice_allowed(self, destination: str, *, has_account: bool = True) -> bool:
        """Whether the owner may be told once more this hour. An address with no account
        spends a slot of its own, the same write, so both cost alike and a first sign-up
        does not use up the notice the owner should get of the next."""
        purpose = "notice" if has_account else "notice-unowned"
        (count, _), = await self._count([_Budget(self._slot(purpose, destination), WINDOW,
                                                 NOTICE_LIMIT)], self._clock.now())
        return has_account and count <= NOTICE_LIMIT
