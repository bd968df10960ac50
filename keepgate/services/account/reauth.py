"""Re-entering the password while signed in: to change it, or to add a second factor.

It is checked exactly as a sign-in checks it: the same hasher (a banned account is verified
against the dummy hash, so the answer takes the same time), and the same defences, so wrong
passwords here count towards the same ban as wrong passwords at sign-in, and a right one
clears the count.
"""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import CurrentPasswordIncorrect
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.defences import SignInDefences
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.ports import Store


class PasswordReauth:
    def __init__(self, *, store: Store, clock: Clock, hasher: AsyncPasswordHasher,
                 defences: SignInDefences) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._defences = defences

    async def verify(self, account: Account, password: str, ctx: RequestContext, *,
                     failure: EventKind) -> None:
        """Return if ``password`` is the account's; otherwise count the failure, audit it as
        a failed ``failure`` event, and raise ``CurrentPasswordIncorrect``."""
        identifier = account.email or account.phone or ""
        attempt = await self._defences.reserve(ctx, account)
        async with self._defences.evaluating(attempt, ctx):
            verified = await self._hasher.verify(
                None if attempt.refused else account.password_hash, password)
        if verified:
            await self._defences.succeeded(attempt, ctx, identifier)
            return
        await self._defences.failed(attempt, ctx, identifier)
        await self._record_failure(account, ctx, failure, self._clock.now())
        raise CurrentPasswordIncorrect()

    async def _record_failure(self, account: Account, ctx: RequestContext, kind: EventKind,
                              now: datetime) -> None:
        async with self._store.unit_of_work(write=True) as uow:
            await uow.audit.append(AuditEvent(kind, Outcome.FAILURE, account.id, ctx.ip,
                                              ctx.user_agent,
                                              {"reason": "current_password_incorrect"}), now)
