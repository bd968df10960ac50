"""Changing the password while signed in.

It needs the current password and step-up. The current password is checked under the same
sign-in defences as a login (``reauth``: throttling, lock-out), and the new one is screened
like any other.
A change ends every other session and holds withdrawals.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from keepgate.domain.access import Action
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import PasswordUnchanged
from keepgate.domain.holds import HoldReason
from keepgate.domain.policy import PasswordPolicy
from keepgate.domain.principals import CustomerSession
from keepgate.security.password_screen import screen_password
from keepgate.services.access import AccessService
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.account.security_version import save_if_current
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.devices import describe_device
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.holds import place_hold
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store


class PasswordService:
    def __init__(self, *, store: Store, clock: Clock, hasher: AsyncPasswordHasher,
                 reauth: PasswordReauth, notifier: Notifier, password_policy: PasswordPolicy,
                 access: AccessService,
                 range_check: Callable[[str], bool] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._reauth = reauth
        self._notifier = notifier
        self._password_policy = password_policy
        self._access = access
        self._range_check = range_check

    async def change(self, principal: CustomerSession, current: str, new: str,
                     ctx: RequestContext) -> int:
        """Returns how many other sessions were signed out."""
        now = self._clock.now()
        await self._access.require(principal, Action.CHANGE_PASSWORD, ctx)
        await self._reauth.verify(principal.account, current, ctx,
                                  failure=EventKind.PASSWORD_CHANGED)
        if new == current:
            raise PasswordUnchanged()
        account = principal.account
        inputs = [v for v in (account.email, account.phone) if v]
        await anyio.to_thread.run_sync(
            lambda: screen_password(new, user_inputs=inputs, policy=self._password_policy,
                                    range_check=self._range_check))
        new_hash = await self._hasher.hash(new)
        async with self._store.unit_of_work(write=True) as uow:
            fresh = await uow.accounts.get(account.id)
            assert fresh is not None
            await save_if_current(uow, fresh, None, password_hash=new_hash)
            revoked = await uow.sessions.revoke_all(account.id, now, keep=principal.session.id)
            await place_hold(uow, account.id, HoldReason.PASSWORD_CHANGE, ctx, now)
            await uow.audit.append(AuditEvent(EventKind.PASSWORD_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"sessions_revoked": revoked}), now)
            await self._notifier.notify_account(uow, fresh, "password_changed", {
                "ip": ctx.ip or "unknown", "device": describe_device(ctx.user_agent)}, now)
        return revoked
