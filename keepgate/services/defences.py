"""Sign-in defences: per-IP throttling, the account ban, trusted devices and CAPTCHA demand.

* Every sign-in attempt (password or second factor) is reserved before it is evaluated: the
  IP's budget in the throttle, then the account's (or trusted device's) failure counter in
  the database with one conditional UPDATE. Fifty parallel wrong guesses evaluate at most
  ``max_failures`` of them; the rest are refused without touching a hash.
* The fifth consecutive failure bans sign-in for an hour and emails the owner. The public
  answer never changes: a banned account answers like a wrong password.
* A device that completed a full sign-in holds a trusted-device token. Its attempts are
  counted on the device, not the account, so strangers failing on the account never lock the
  owner out of a device they already proved; that device still needs password and factor.
* After ``captcha_after`` consecutive failures on an identifier (known or not, so the demand
  reveals nothing), or from an IP that was throttled, sign-in asks for proof of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import Actor, AuditEvent, EventKind, Outcome
from keepgate.domain.factors import DefencePolicy, TrustedDevice
from keepgate.flows.base import SettleAttempt
from keepgate.security.tokens import hash_token
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.throttle import Throttle


@dataclass(frozen=True, slots=True)
class Attempt:
    account: Account | None
    device: TrustedDevice | None  # a trusted device of this account, presented by the client
    number: int | None  # which consecutive attempt this is; None when refused
    refusal: str | None  # why it was refused without evaluation: "banned", "locked"

    @property
    def refused(self) -> bool:
        return self.refusal is not None


class SignInDefences:
    def __init__(self, *, store: Store, clock: Clock, throttle: Throttle,
                 policy: DefencePolicy, notifier: Notifier) -> None:
        self._store = store
        self._clock = clock
        self.throttle = throttle
        self.policy = policy
        self._notifier = notifier

    async def trusted_device(self, token: str | None, account_id: str) -> TrustedDevice | None:
        async with self._store.unit_of_work(write=False) as uow:
            return await trusted_device_in(uow, token, account_id, self._clock.now())

    async def reserve(self, ctx: RequestContext, account: Account | None,
                      identifier: str = "", *,
                      device: TrustedDevice | bool | None = True) -> Attempt:
        """Reserve an attempt; raises ``Throttled`` before anything else when the IP is over.

        An identifier with no account is counted too, with one write of the same cost as an
        account's, so the refusal takes the same time whether or not the account exists.
        """
        await self.throttle.reserve_sign_in(ctx.ip)
        if account is None:
            async with self._store.unit_of_work(write=True) as uow:
                await uow.counters.record_unknown_attempt(
                    self.throttle.identifier_key(identifier), self._clock.now())
            return Attempt(None, None, None, None)
        if device is True:  # not looked up by the caller yet
            device = await self.trusted_device(ctx.device_token, account.id)
        assert device is None or isinstance(device, TrustedDevice)
        if account.locked_at is not None:
            return Attempt(account, device, None, "locked")
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            if device is not None:
                number = await uow.devices.reserve_attempt(device.id, now,
                                                           self.policy.max_failures)
            else:
                number = await uow.accounts.reserve_attempt(account.id, now,
                                                            self.policy.max_failures)
        return Attempt(account, device, number, None if number is not None else "banned")

    async def passed(self, attempt: Attempt, ctx: RequestContext, identifier: str, *,
                     completed: bool) -> tuple[SettleAttempt, ...]:
        """A step passed: the IP's reservation is given back now; the failure counter's
        settlement is returned, to be written with the flow (``write_settlement``).

        Only a finished sign-in clears the failure count: a right password followed by wrong
        codes must still add up to a ban, so a step that leads to another only gives back its
        own reservation."""
        await self.throttle.release_sign_in(ctx.ip)
        if completed:
            await self.throttle.identifier_succeeded(identifier)
        if attempt.account is None:
            return ()
        device_id = attempt.device.id if attempt.device is not None else None
        return (SettleAttempt(attempt.account.id, device_id, completed),)

    async def settle(self, attempt: Attempt, ctx: RequestContext, identifier: str, *,
                     completed: bool) -> None:
        """``passed``, written at once: for an attempt that saves no flow."""
        settlements = await self.passed(attempt, ctx, identifier, completed=completed)
        if settlements:
            async with self._store.unit_of_work(write=True) as uow:
                for settlement in settlements:
                    await write_settlement(uow, settlement, self._clock.now())

    async def succeeded(self, attempt: Attempt, ctx: RequestContext, identifier: str) -> None:
        await self.settle(attempt, ctx, identifier, completed=True)

    async def failed(self, attempt: Attempt, ctx: RequestContext, identifier: str) -> None:
        await self.throttle.identifier_failed(identifier)
        account = attempt.account
        if account is None or attempt.number is None or attempt.number < self.policy.max_failures:
            return
        now = self._clock.now()
        until = now + self.policy.ban
        async with self._store.unit_of_work(write=True) as uow:
            if attempt.device is not None:
                await uow.devices.ban(attempt.device.id, until)
            else:
                await uow.accounts.ban(account.id, until)
            await uow.audit.append(AuditEvent(
                EventKind.BANNED, Outcome.SUCCESS, account.id, ctx.ip, ctx.user_agent,
                {"until": until.isoformat(), "scope": "device" if attempt.device else "account",
                 "failures": attempt.number}, Actor.system()), now)
            await self._notifier.notify_account(uow, account, "signin_banned", {
                "minutes": int(self.policy.ban.total_seconds() // 60), "ip": ctx.ip,
                "scope": "on that confirmed device; your other devices are not affected"
                if attempt.device is not None else "on devices you have not confirmed; "
                "devices you already confirmed can still sign in with your password and "
                "second factor"}, now)

    async def captcha_needed(self, identifier: str | None, ip: str) -> bool:
        return await self.throttle.captcha_needed(identifier, ip)


async def trusted_device_in(uow: UnitOfWork, token: str | None, account_id: str,
                            now: datetime) -> TrustedDevice | None:
    """The account's usable trusted device that ``token`` names, read in ``uow``."""
    if not token or len(token) > 128:
        return None
    device = await uow.devices.by_token_hash(hash_token(token))
    if device is None or device.account_id != account_id:
        return None
    return device if device.usable(now) else None


async def write_settlement(uow: UnitOfWork, settlement: SettleAttempt, now: datetime) -> None:
    """Give a passed attempt's reservation back, or clear the failures once signed in."""
    if settlement.device_id is not None:
        if settlement.completed:
            await uow.devices.clear_failures(settlement.device_id, now)
        else:
            await uow.devices.refund_attempt(settlement.device_id)
    elif settlement.completed:
        await uow.accounts.clear_failures(settlement.account_id)
    else:
        await uow.accounts.refund_attempt(settlement.account_id)
