"""Limits: reserve, commit, release (idempotent by the caller's key), and where an account stands.

Called by the exchange's other services (through the API) and by Keepgate's own pages::

    reserve(account_id, capability, amount, key) -> Reservation
    commit(account_id, key) -> Reservation
    release(account_id, key) -> Reservation
    status(account_id) -> TierStatus

A reservation is made in one write unit of work that first locks the account's usage of the
capability (``ports.LimitRepo.lock``), so any number of concurrent reservations against one
limit take turns and together never exceed it. It refuses what the decision point refuses
(``domain.access.authorize``: a locked account, a tier too low, a hold, the limit), raising
``LimitExceeded`` (with what is left) when the limit is the only reason and ``AccessDenied``
(with every reason) otherwise. The second-factor proof a withdrawal needs belongs to the
customer's confirmation, which the decision asked for; a reservation does not ask it again.
Reservations lapse unless committed within ``domain.limits.RESERVATION_LIFETIME``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal

from keepgate.domain.access import AccessFacts, Action, Reason
from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    AccessDenied,
    AccountNotFound,
    LimitExceeded,
    NotLimited,
    ReservationExpired,
    ReservationKeyConflict,
    ReservationKeyInvalid,
    ReservationNotFound,
    ReservationSettled,
)
from keepgate.domain.kyc import DAY, MONEY_CAPABILITIES, MONTH, Capability, Limit, Tier
from keepgate.domain.limits import (
    NO_USAGE,
    RESERVATION_LIFETIME,
    Headroom,
    Reservation,
    ReservationStatus,
    Usage,
)
from keepgate.domain.money import format_amount, parse_amount
from keepgate.domain.principals import AccountSubject
from keepgate.security.tokens import new_id
from keepgate.services.access import NO_FACTS, AccessService
from keepgate.services.clock import Clock
from keepgate.services.ports import DuplicateReservationKey, Store, UnitOfWork

_KEY = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True, slots=True)
class CapabilityLimit:
    """One limited capability of an account: its limit, what is used and what is left."""

    capability: Capability
    limit: Limit
    usage: Usage
    day_left: Decimal
    month_left: Decimal
    left: Decimal


@dataclass(frozen=True, slots=True)
class TierStatus:
    """Where an account stands: its tier, what it may do, its limits, and what comes next."""

    account_id: str
    tier: Tier
    currency: str
    unlocked: frozenset[Capability]
    limits: tuple[CapabilityLimit, ...]
    next_tier: Tier | None
    next_unlocks: frozenset[Capability]  # what the next tier adds (its limits rise too)


class LimitService:
    def __init__(self, *, store: Store, clock: Clock, access: AccessService) -> None:
        self._store = store
        self._clock = clock
        self._access = access

    async def reserve(self, account_id: str, capability: Capability, amount: Decimal | str,
                      key: str) -> Reservation:
        """Reserve ``amount`` of ``capability``'s limit under ``key``; the same key and amount
        again give back the same reservation (whatever became of it since)."""
        checked_key = _checked(key)
        value = parse_amount(amount)
        if capability not in MONEY_CAPABILITIES:
            raise NotLimited(details={"capability": capability.value})
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await _account(uow, account_id)
            await uow.limits.lock(account_id, capability, now)
            existing = await uow.limits.by_key(account_id, checked_key)
            if existing is not None:
                return _same(existing, capability, value)
            holds = await uow.holds.for_account(account_id)
            usage = await uow.limits.usage(account_id, now, day=DAY, month=MONTH)
            facts = replace(NO_FACTS, kyc_tier=account.kyc_tier, holds=tuple(holds),
                            locked=account.locked_at is not None, usage=usage)
            self._refuse_unless_allowed(account, capability, value, facts)
            reservation = Reservation(
                id=new_id(), account_id=account_id, capability=capability, key=checked_key,
                amount=value, status=ReservationStatus.RESERVED, created_at=now,
                expires_at=now + RESERVATION_LIFETIME)
            try:
                await uow.limits.create(reservation)
            except DuplicateReservationKey:  # the same key, meanwhile, under another lock
                taken = await uow.limits.by_key(account_id, checked_key)
                if taken is None:
                    raise
                return _same(taken, capability, value)
            return reservation

    def _refuse_unless_allowed(self, account: Account, capability: Capability,
                               amount: Decimal, facts: AccessFacts) -> None:
        decision = self._access.decide_on(AccountSubject(account), Action(capability.value),
                                          facts, amount=amount)
        reasons = [r for r in decision.reasons if r is not Reason.STEP_UP_REQUIRED]
        if reasons == [Reason.LIMIT_EXCEEDED]:
            assert decision.limit_left is not None
            raise LimitExceeded(details={"left": format_amount(decision.limit_left),
                                         "currency": decision.currency})
        if reasons:
            kept = replace(decision, reasons=tuple(reasons))
            raise AccessDenied(details={"reasons": [r.value for r in reasons],
                                        "messages": list(kept.messages),
                                        "decision": kept.details()})

    async def commit(self, account_id: str, key: str) -> Reservation:
        """The money moved: the reservation counts for good. Committing again is harmless."""
        return await self._settle(account_id, key, ReservationStatus.COMMITTED)

    async def release(self, account_id: str, key: str) -> Reservation:
        """The money did not move: the reservation gives its amount back. Harmless again."""
        return await self._settle(account_id, key, ReservationStatus.RELEASED)

    async def _settle(self, account_id: str, key: str, to: ReservationStatus) -> Reservation:
        checked_key = _checked(key)
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            for _ in range(2):  # once more if another request settled it meanwhile
                found = await uow.limits.by_key(account_id, checked_key)
                if found is None:
                    raise ReservationNotFound()
                if found.status is to:
                    return found
                if found.status is not ReservationStatus.RESERVED:
                    raise ReservationSettled(details={"status": found.status.value})
                if to is ReservationStatus.COMMITTED and found.lapsed(now):
                    raise ReservationExpired(details={"expired_at":
                                                      found.expires_at.isoformat()})
                if await uow.limits.settle(found.id, to, now):
                    return replace(found, status=to, settled_at=now)
        raise ReservationSettled()

    async def status(self, account_id: str) -> TierStatus:
        """The account's tier, what it unlocks, its limits used and left, and the next tier."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            account = await _account(uow, account_id)
            usage = await uow.limits.usage(account_id, now, day=DAY, month=MONTH)
        policy = self._access.tiers
        current = policy.tier(account.kyc_tier)
        limits = []
        for capability in sorted(current.limits):
            room = Headroom(current.limits[capability], usage.get(capability, NO_USAGE))
            limits.append(CapabilityLimit(capability, room.limit, room.usage, room.day_left,
                                          room.month_left, room.left))
        upcoming = policy.next_tiers(account.kyc_tier)
        following = upcoming[0] if upcoming else None
        return TierStatus(
            account_id=account_id, tier=current, currency=policy.currency,
            unlocked=current.capabilities, limits=tuple(limits), next_tier=following,
            next_unlocks=(following.capabilities - current.capabilities if following
                          else frozenset()))


def _same(existing: Reservation, capability: Capability, amount: Decimal) -> Reservation:
    """A key used again: the same reservation if asked the same, else a conflict."""
    if existing.capability is not capability or existing.amount != amount:
        raise ReservationKeyConflict()
    return existing


async def _account(uow: UnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise AccountNotFound()
    return account


def _checked(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ReservationKeyInvalid()
    return key
