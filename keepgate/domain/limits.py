"""Limit usage: reserved before money moves, then committed or released.

A caller (the wallet or the trading engine, through ``services.limits``) reserves an amount
under a key of its own before it moves money, commits it once the money moved, or releases it
when it did not (a failed payout gives its amount back). The key makes each step idempotent:
the same key and amount give back the same reservation; the same key with another amount or
capability is a conflict (``limits.key_conflict``).

A reservation that is neither committed nor released lapses ``RESERVATION_LIFETIME`` after it
was made (15 minutes: long enough for a payout to be signed and broadcast, short enough that a
crashed caller does not eat a customer's limit for long); from then on it counts for nothing
and can no longer be committed (``limits.reservation_expired``).

Usage counts what was committed and what is reserved and still alive, made within the rolling
window: the last 24 hours for the daily limit, the last 30 days for the monthly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from keepgate.domain.kyc import Capability, Limit
from keepgate.domain.money import ZERO

RESERVATION_LIFETIME = timedelta(minutes=15)


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    account_id: str
    capability: Capability
    key: str
    amount: Decimal
    status: ReservationStatus
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None = None

    def lapsed(self, now: datetime) -> bool:
        return self.status is ReservationStatus.RESERVED and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Usage:
    """How much of one capability is used (committed or reserved) in each rolling window."""

    day: Decimal = ZERO
    month: Decimal = ZERO


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class Headroom:
    """A limit, what of it is used, and what is left, per window."""

    limit: Limit
    usage: Usage

    @property
    def day_left(self) -> Decimal:
        return max(self.limit.daily - self.usage.day, ZERO)

    @property
    def month_left(self) -> Decimal:
        return max(self.limit.monthly - self.usage.month, ZERO)

    @property
    def left(self) -> Decimal:
        """What may still be used now: the smaller of the two windows' rests."""
        return min(self.day_left, self.month_left)

    def allows(self, amount: Decimal | None) -> bool:
        """Whether ``amount`` fits; with no amount, whether anything is left at all."""
        return self.left > 0 if amount is None else amount <= self.left
