"""Guards for sensitive actions: step-up and fresh sign-in.

Changing sign-in methods (and, later, passwords, contacts, API keys, the withdrawal whitelist
and withdrawals) needs a second factor proven in this session within the last five minutes.
An account with no second factor yet has nothing to step up with; for it, the first
enrolment needs a sign-in from the last fifteen minutes instead.
"""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.errors import FreshSignInRequired, StepUpRequired
from keepgate.domain.factors import RECOVERY_CODE, DefencePolicy, Factor
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.sessions import Principal


async def factor_methods(store: Store, account_id: str) -> list[str]:
    """What the account can prove a second factor with, recovery codes included."""
    async with store.unit_of_work(write=False) as uow:
        _, kinds = await enrolled_methods(uow, account_id)
    return kinds


async def enrolled_methods(uow: UnitOfWork, account_id: str) -> tuple[list[Factor], list[str]]:
    """The account's active factors, and the methods they (and recovery codes) prove."""
    factors = [f for f in await uow.factors.for_account(account_id) if f.active]
    kinds = sorted({f.kind.value for f in factors})
    if kinds and await uow.recovery_codes.remaining(account_id):
        kinds.append(RECOVERY_CODE)
    return factors, kinds


async def has_factor(store: Store, account_id: str) -> bool:
    async with store.unit_of_work(write=False) as uow:
        return any(f.active for f in await uow.factors.for_account(account_id))


async def require_privileged(store: Store, principal: Principal, policy: DefencePolicy,
                             now: datetime) -> None:
    session = principal.session
    if await has_factor(store, principal.account.id):
        proven = session.second_factor_at
        if proven is None or now - proven > policy.step_up_window:
            raise StepUpRequired()
    elif now - session.created_at > policy.fresh_sign_in:
        raise FreshSignInRequired()
