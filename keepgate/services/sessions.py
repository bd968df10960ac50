"""Sessions: authenticate a bearer or cookie token, list, revoke. Every change is immediate.

Ending a session other than this one asks ``services.access`` (``END_OTHER_SESSIONS``): on an
account with a second factor, a stolen session must not evict the owner.

An account has at most ``SessionPolicy.max_active`` active sessions: issuing one more ends
the oldest, with a notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from keepgate.domain.access import Action, Resource
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import AuthenticationRequired, SessionNotFound
from keepgate.domain.principals import CustomerSession
from keepgate.domain.sessions import Session, SessionPolicy
from keepgate.security.tokens import hash_token
from keepgate.services.access import AccessService
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.devices import describe_device
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store, UnitOfWork

MAX_TOKEN_LENGTH = 128


class SessionService:
    def __init__(self, *, store: Store, clock: Clock, policy: SessionPolicy,
                 access: AccessService) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy
        self._access = access

    async def authenticate(self, token: str | None) -> CustomerSession:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationRequired()
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            found = await uow.sessions.with_account(hash_token(token))
        if found is None or not found[0].is_active(self.policy, now):
            raise AuthenticationRequired()
        session, account = found
        if session.needs_touch(self.policy, now):
            async with self._store.unit_of_work(write=True) as uow:
                await uow.sessions.touch(session.id, now)
        return CustomerSession(session, account)

    async def introspect(self, token: str) -> CustomerSession | None:
        """The active session this token opens, or None: for the exchange's other services.

        One read, and never a write: asking about a session is not using it, so it does not
        move the idle timer. A service that re-checks open sessions (a market-data stream, a
        queue of resting orders) would otherwise keep an abandoned one alive for good, and
        the idle timeout is only worth having if nothing but the holder can extend it: the
        customer's own app does, with its requests to Keepgate."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return None
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            found = await uow.sessions.with_account(hash_token(token))
        if found is None or not found[0].is_active(self.policy, now):
            return None
        return CustomerSession(*found)

    async def list_active(self, account_id: str) -> Sequence[Session]:
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            sessions = await uow.sessions.list_for_account(account_id)
        active = [s for s in sessions if s.is_active(self.policy, now)]
        return sorted(active, key=lambda s: s.last_seen_at, reverse=True)

    async def revoke(self, principal: CustomerSession, session_id: str,
                     ctx: RequestContext) -> None:
        own = session_id == principal.session.id
        now = self._clock.now()
        if not own:
            async with self._store.unit_of_work(write=False) as uow:
                found = await uow.sessions.get(session_id)
            if found is None or not found.is_active(self.policy, now):
                raise SessionNotFound()
            await self._access.require(principal, Action.END_OTHER_SESSIONS, ctx,
                                       Resource("session", session_id, found.account_id))
        async with self._store.unit_of_work(write=True) as uow:
            target = await uow.sessions.get(session_id)
            if (target is None or target.account_id != principal.account.id
                    or not target.is_active(self.policy, now)):
                raise SessionNotFound()
            await uow.sessions.revoke(session_id, now)
            kind = EventKind.LOGOUT if own else EventKind.SESSION_REVOKED
            await uow.audit.append(AuditEvent(kind, Outcome.SUCCESS, principal.account.id, ctx.ip,
                                              ctx.user_agent, {"session_id": session_id}), now)

    async def revoke_others(self, principal: CustomerSession, ctx: RequestContext) -> int:
        await self._access.require(principal, Action.END_OTHER_SESSIONS, ctx)
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            count = await uow.sessions.revoke_all(principal.account.id, now,
                                                  keep=principal.session.id)
            await uow.audit.append(AuditEvent(EventKind.SESSIONS_REVOKED, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"count": count}), now)
        return count

    async def logout(self, principal: CustomerSession, ctx: RequestContext) -> None:
        await self.revoke(principal, principal.session.id, ctx)


async def end_sessions_over_cap(uow: UnitOfWork, notifier: Notifier, new: Session,
                                policy: SessionPolicy, now: datetime) -> None:
    """With ``new`` issued, end the account's oldest sessions beyond ``policy.max_active``,
    each recorded and told to the owner (an intruder signing in over and over cannot evict
    the owner unnoticed)."""
    active = await uow.sessions.active_for_account(
        new.account_id, now=now, seen_since=now - policy.idle_timeout)
    over = [s for s in active if s.id != new.id][:max(0, len(active) - policy.max_active)]
    if not over:
        return
    account = await uow.accounts.get(new.account_id)
    assert account is not None
    for ended in over:
        await uow.sessions.revoke(ended.id, now)
        await uow.audit.append(AuditEvent(
            EventKind.SESSION_REVOKED, Outcome.SUCCESS, account.id, new.ip, new.user_agent,
            {"session_id": ended.id, "reason": "session_cap"}), now)
        await notifier.notify_account(uow, account, "session_ended", {
            "limit": policy.max_active, "device": describe_device(ended.user_agent),
            "ip": ended.ip or "unknown",
            "signed_in": ended.created_at.strftime("%Y-%m-%d %H:%M UTC")}, now)
