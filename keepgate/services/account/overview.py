"""The security overview: a checklist and score, the counts behind them, and active holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keepgate.domain.accounts import Account
from keepgate.domain.factors import FactorKind
from keepgate.domain.holds import SecurityHold
from keepgate.domain.principals import CustomerSession
from keepgate.services.clock import Clock
from keepgate.services.ports import Store

RECOVERY_CODES_LOW = 3


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    key: str
    done: bool
    title: str
    action: str


@dataclass(frozen=True, slots=True)
class Overview:
    account: Account
    score: int  # 0..100
    checklist: tuple[ChecklistItem, ...]
    factors: int
    passkeys: int
    recovery_codes_left: int
    trusted_devices: int
    holds: tuple[SecurityHold, ...]


def checklist(account: Account, factors: int, passkeys: int,
              recovery_codes_left: int) -> tuple[ChecklistItem, ...]:
    """What makes an account safer, each done or not. Recovery codes come with the first
    factor, so they join the list only once there is one: before, they cannot be a to-do."""
    items = (
        ChecklistItem("second_factor", factors > 0, "Two-factor sign-in",
                      "Add an authenticator app, a passkey, or a code by SMS or email."),
        ChecklistItem("passkey", passkeys > 0, "A passkey",
                      "Passkeys cannot be phished: add one from this device."),
        ChecklistItem("anti_phishing_code", account.anti_phishing_code is not None,
                      "Anti-phishing code",
                      "Set a code that every genuine message from us will show."),
    )
    if factors == 0:
        return items
    return (*items, ChecklistItem(
        "recovery_codes", recovery_codes_left > RECOVERY_CODES_LOW, "Recovery codes",
        "Keep enough recovery codes: generate new ones when few remain."))


class SecurityOverview:
    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def overview(self, principal: CustomerSession) -> Overview:
        now = self._clock.now()
        account_id = principal.account.id
        async with self._store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(account_id)
            factors = [f for f in await uow.factors.for_account(account_id) if f.active]
            left = await uow.recovery_codes.remaining(account_id)
            devices = [d for d in await uow.devices.for_account(account_id) if d.usable(now)]
            holds = tuple(h for h in await uow.holds.for_account(account_id) if h.active(now))
        assert account is not None
        passkeys = sum(1 for f in factors if f.kind is FactorKind.WEBAUTHN and f.passkey)
        items = checklist(account, len(factors), passkeys, left)
        score = round(100 * sum(item.done for item in items) / len(items))
        return Overview(account, score, items, len(factors), passkeys, left, len(devices), holds)

    async def holds(self, account_id: str) -> Sequence[SecurityHold]:
        """The holds still in force."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            return [h for h in await uow.holds.for_account(account_id) if h.active(now)]
