"""The account's second factors outside of flows: list, rename, remove.

Adding one goes through the settings flow. Removing one needs step-up, and an account never
drops below one second factor once it has one: the last factor's removal is refused with an
explanation. Removing the last strong factor (leaving an email code at most) holds
withdrawals for 24 hours, and, like every removal, is told to the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keepgate.domain.access import Action, Resource
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import FactorNameRequired, FactorNotFound, LastFactor
from keepgate.domain.factors import (
    FACTOR_LABELS,
    DefencePolicy,
    Factor,
    clean_label,
    removes_last_strong_factor,
)
from keepgate.domain.holds import HoldReason
from keepgate.domain.principals import CustomerSession
from keepgate.services.access import AccessService
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.holds import place_hold
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store


@dataclass(frozen=True, slots=True)
class FactorOverview:
    factors: Sequence[Factor]
    recovery_codes_left: int


class FactorService:
    def __init__(self, *, store: Store, clock: Clock, policy: DefencePolicy,
                 notifier: Notifier, access: AccessService) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._notifier = notifier
        self._access = access

    async def _resource(self, factor_id: str) -> Resource:
        """The factor as ``authorize`` sees it: whose it is. ``FactorNotFound`` if none."""
        async with self._store.unit_of_work(write=False) as uow:
            factor = await uow.factors.get(factor_id)
        if factor is None or not factor.active:
            raise FactorNotFound()
        return Resource("factor", factor_id, factor.account_id)

    async def overview(self, account_id: str) -> FactorOverview:
        async with self._store.unit_of_work(write=False) as uow:
            factors = [f for f in await uow.factors.for_account(account_id) if f.active]
            left = await uow.recovery_codes.remaining(account_id)
        return FactorOverview(factors, left)

    async def remove(self, principal: CustomerSession, factor_id: str, ctx: RequestContext) -> None:
        now = self._clock.now()
        await self._access.require(principal, Action.REMOVE_FACTOR, ctx,
                                   await self._resource(factor_id))
        account = principal.account
        async with self._store.unit_of_work(write=True) as uow:
            factors = [f for f in await uow.factors.for_account(account.id) if f.active]
            target = next((f for f in factors if f.id == factor_id), None)
            if target is None:
                raise FactorNotFound()
            if len(factors) == 1 and not self._policy.allow_removing_last_factor:
                raise LastFactor()
            await uow.factors.delete(factor_id)
            if removes_last_strong_factor(factors, target):
                await place_hold(uow, account.id, HoldReason.STRONG_FACTOR_REMOVED, ctx, now)
            await uow.audit.append(AuditEvent(EventKind.FACTOR_REMOVED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"kind": target.kind.value,
                                               "factor_id": target.id}), now)
            await self._notifier.notify_account(uow, account, "factor_removed", {
                "factor": target.label or FACTOR_LABELS[target.kind], "ip": ctx.ip}, now)

    async def rename(self, principal: CustomerSession, factor_id: str, label: str,
                     ctx: RequestContext) -> None:
        name = clean_label(label)
        if not name:
            raise FactorNameRequired()
        await self._access.require(principal, Action.RENAME_FACTOR, ctx,
                                   await self._resource(factor_id))
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            factor = await uow.factors.get(factor_id)
            if factor is None or factor.account_id != principal.account.id or not factor.active:
                raise FactorNotFound()
            await uow.factors.rename(factor_id, name)
            await uow.audit.append(AuditEvent(EventKind.FACTOR_RENAMED, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"factor_id": factor_id}), now)
