"""Sign-in defences: per-IP throttling, the account ban, trusted devices and CAPTCHA demand.

* Every sign-in attempt (password or second factor) is reserved before it is evaluated: the
  IP's budget in the throttle, then the account's (or trusted device's) counter in the
  database with one conditional UPDATE. Fifty parallel wrong guesses evaluate at most
  ``max_failures`` of them; the rest are refused without touching a hash.
* A reservation counts only for ``reservation_lifetime``; settling turns it into a failure or
  gives it back, and an unexpected error while the attempt is evaluated gives it back at
  once (``evaluating``). A request cut off in between (a killed worker, Redis gone in the failure
  path, a flow save that lost a race) therefore frees the account on its own; only settled
  failures, which are committed facts, add up to a ban.
* The fifth consecutive settled failure bans sign-in for an hour and emails the owner, in the
  unit of work that counts it. The public answer never changes: a banned account answers
  like a wrong password.
* A device that completed a full sign-in holds a trusted-device token. Its attempts are
  counted on the device, not the account, so strangers failing on the account never lock the
  owner out of a device they already proved; that device still needs password and factor.
* After ``captcha_after`` consecutive failures on an identifier (known or not, so the demand
  reveals nothing), or from an IP that was throttled, sign-in asks for proof of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import anyio

from keepgate.domain.accounts import Account
from keepgate.domain.audit import Actor, AuditEvent, EventKind, Outcome
from keepgate.domain.errors import KeepgateError
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
    number: int | None  # settled failures plus attempts in flight, this one included;
    #                     None when refused
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

        An identifier with no account, or a locked account, is counted too (on the
        identifier), with one write of the same cost as an account's, so the refusal takes the
        same time whether or not the account exists or is locked.
        """
        await self.throttle.reserve_sign_in(ctx.ip)
        now = self._clock.now()
        if account is None:
            async with self._store.unit_of_work(write=True) as uow:
                await uow.counters.reserve_unknown_attempt(
                    self.throttle.identifier_key(identifier), now)
            return Attempt(None, None, None, None)
        if device is True:  # not looked up by the caller yet
            device = await self.trusted_device(ctx.device_token, account.id)
        assert device is None or isinstance(device, TrustedDevice)
        if account.locked_at is not None:  # the same one write first, as for the others
            async with self._store.unit_of_work(write=True) as uow:
                await uow.counters.reserve_unknown_attempt(
                    self.throttle.identifier_key(identifier), now)
            return Attempt(account, device, None, "locked")
        limit, lifetime = self.policy.max_failures, self.policy.reservation_lifetime
        async with self._store.unit_of_work(write=True) as uow:
            if device is not None:
                number = await uow.devices.reserve_attempt(device.id, now, limit, lifetime)
            else:
                number = await uow.accounts.reserve_attempt(account.id, now, limit, lifetime)
        return Attempt(account, device, number, None if number is not None else "banned")

    @asynccontextmanager
    async def evaluating(self, attempt: Attempt, ctx: RequestContext) -> AsyncIterator[None]:
        """Where a reserved attempt is evaluated. A refusal (a ``KeepgateError``) is the
        caller's to settle; any other error (a secret that no longer decrypts, the database
        gone) gives the reservation back at once, the IP's slot and the counter's, and then
        propagates: a request cut short must not count against the owner."""
        try:
            yield
        except KeepgateError:
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._give_back(attempt, ctx)
            raise

    async def _give_back(self, attempt: Attempt, ctx: RequestContext) -> None:
        await self.throttle.release_sign_in(ctx.ip)
        if attempt.account is None or attempt.refused:
            return  # no counter was reserved
        device_id = attempt.device.id if attempt.device is not None else None
        async with self._store.unit_of_work(write=True) as uow:
            await write_settlement(uow, SettleAttempt(attempt.account.id, device_id, False),
                                   self._clock.now())

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

    async def failed(self, attempt: Attempt, ctx: RequestContext, identifier: str,
                     events: tuple[AuditEvent, ...] = ()) -> None:
        """Settle the attempt as a failure, banning at the limit, in one unit of work with
        ``events`` (its audit record: a failure counted is a failure recorded, even when the
        flow's own save then loses a race); then tell the identifier's CAPTCHA count. The
        database goes first: if Redis is gone, the failure and any ban are already written."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            for event in events:
                await uow.audit.append(event, now)
            account = attempt.account
            if account is None or attempt.refused:
                await uow.counters.record_unknown_failure(
                    self.throttle.identifier_key(identifier), now)
            elif attempt.device is not None:
                failures = await uow.devices.count_failure(attempt.device.id, now)
                if failures >= self.policy.max_failures:
                    await uow.devices.ban(attempt.device.id, now + self.policy.ban)
                    await self._banned(uow, attempt, ctx, failures, now)
            else:
                failures = await uow.accounts.count_failure(account.id, now)
                if failures >= self.policy.max_failures:
                    await uow.accounts.ban(account.id, now + self.policy.ban)
                    await self._banned(uow, attempt, ctx, failures, now)
        await self.throttle.identifier_failed(identifier)

    async def _banned(self, uow: UnitOfWork, attempt: Attempt, ctx: RequestContext,
                      failures: int, now: datetime) -> None:
        """Record the ban just written and tell the owner."""
        account = attempt.account
        assert account is not None
        until = now + self.policy.ban
        await uow.audit.append(AuditEvent(
            EventKind.BANNED, Outcome.SUCCESS, account.id, ctx.ip, ctx.user_agent,
            {"until": until.isoformat(), "scope": "device" if attempt.device else "account",
             "failures": failures}, Actor.system()), now)
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
    """Give a passed attempt's reservation back, clearing the failures once signed in."""
    if settlement.device_id is not None:
        if settlement.completed:
            await uow.devices.clear_failures(settlement.device_id, now)
        else:
            await uow.devices.release_attempt(settlement.device_id, now)
    elif settlement.completed:
        await uow.accounts.clear_failures(settlement.account_id, now)
    else:
        await uow.accounts.release_attempt(settlement.account_id, now)
