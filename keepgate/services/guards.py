"""What an account can prove a second factor with: its active factors and recovery codes.

Whether an action needs one is decided in ``domain.access`` (through ``services.access``).
"""

from __future__ import annotations

from keepgate.domain.factors import RECOVERY_CODE, Factor
from keepgate.services.ports import Store, UnitOfWork


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
