"""Changing an account's security settings without losing a race.

Each change is compare-and-swap on the account's ``security_version``, so two windows changing
the same setting cannot silently overwrite each other: the later one is told, and nothing of it
is kept.
"""

from __future__ import annotations

from keepgate.domain.accounts import Account
from keepgate.domain.errors import SecurityConflict
from keepgate.services.ports import UnitOfWork


async def save_if_current(uow: UnitOfWork, account: Account, expected_version: int | None,
                          **values: object) -> None:
    """Write ``values`` only if the settings are still at ``expected_version`` (by default,
    the version of ``account`` as just read); otherwise raise ``SecurityConflict``."""
    version = account.security_version if expected_version is None else expected_version
    if not await uow.accounts.update_security(account.id, version, **values):
        raise SecurityConflict()
