"""The account's second factors and trusted devices outside of flows: list, remove, react.

Removing a factor needs step-up. An account never drops below one second factor once it has
one: the last factor's removal is refused with an explanation. "This wasn't me" (the link in
every new-device message) signs the account out everywhere, forgets every trusted device and
locks sign-in until the owner recovers the account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import FactorNotFound, LastFactor
from keepgate.domain.factors import FACTOR_LABELS, DefencePolicy, Factor, TrustedDevice
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.guards import require_privileged
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store
from keepgate.services.sessions import Principal


@dataclass(frozen=True, slots=True)
class FactorOverview:
    factors: Sequence[Factor]
    recovery_codes_left: int


class FactorService:
    def __init__(self, *, store: Store, clock: Clock, policy: DefencePolicy,
                 notifier: Notifier) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._notifier = notifier

    async def overview(self, account_id: str) -> FactorOverview:
        async with self._store.unit_of_work(write=False) as uow:
            factors = [f for f in await uow.factors.for_account(account_id) if f.active]
            left = await uow.recovery_codes.remaining(account_id)
        return FactorOverview(factors, left)

    async def remove(self, principal: Principal, factor_id: str, ctx: RequestContext) -> None:
        now = self._clock.now()
        await require_privileged(self._store, principal, self._policy, now)
        account = principal.account
        async with self._store.unit_of_work(write=True) as uow:
            factors = [f for f in await uow.factors.for_account(account.id) if f.active]
            target = next((f for f in factors if f.id == factor_id), None)
            if target is None:
                raise FactorNotFound()
            if len(factors) == 1 and not self._policy.allow_removing_last_factor:
                raise LastFactor()
            await uow.factors.delete(factor_id)
            await uow.audit.append(AuditEvent(EventKind.FACTOR_REMOVED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"kind": target.kind.value,
                                               "factor_id": target.id}), now)
            await self._notifier.notify_account(uow, account, "factor_removed", {
                "factor": target.label or FACTOR_LABELS[target.kind], "ip": ctx.ip}, now)

    async def devices(self, account_id: str) -> Sequence[TrustedDevice]:
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            devices = await uow.devices.for_account(account_id)
        return [d for d in devices if d.usable(now)]

    async def not_me(self, account_id: str, ctx: RequestContext) -> None:
        """Sign out everywhere, forget every trusted device, lock sign-in until recovery."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None:
                return
            sessions = await uow.sessions.revoke_all(account_id, now, keep=None)
            devices = await uow.devices.revoke_all(account_id, now)
            await uow.accounts.lock(account_id, now)
            await uow.audit.append(AuditEvent(EventKind.DEVICE_NOT_ME, Outcome.SUCCESS,
                                              account_id, ctx.ip, ctx.user_agent,
                                              {"sessions_revoked": sessions,
                                               "devices_forgotten": devices}), now)
            await self._notifier.notify_account(uow, account, "account_locked", {}, now)
