"""Taking the account back when someone else has it.

Three ways in, one answer at the core: sign out and forget every trusted device.

- "This wasn't me" from the login history, by the signed-in owner: every *other* session ends,
  withdrawals are held, and the owner changes the password next. Sign-in is not locked: the
  owner, here, has proven it is them, with step-up where ending other sessions needs it.
- "This wasn't me" from the link in a new-device message, and the undo link sent to the old
  address after a contact change: whoever signed in (or changed the address) may hold the
  account, so every session ends and sign-in stays locked until the owner recovers it.

The links are signed tokens (``keepgate.security.link_tokens``); a GET only asks, because mail
scanners follow links, and the POST acts. A "this wasn't me" link acts once: whoever can read
or forward the message must not lock the account again and again (an operator lifts a lock
with ``keepgate admin unlock``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Any

from keepgate.domain.access import Action
from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.holds import HoldReason
from keepgate.domain.principals import CustomerSession
from keepgate.security.link_tokens import InvalidLinkToken, LinkSigner
from keepgate.security.tokens import hash_token
from keepgate.services.access import AccessService
from keepgate.services.account.security_version import save_if_current
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.holds import place_hold
from keepgate.services.notices import Notifier
from keepgate.services.ports import ReplayGuard, Store, UnitOfWork

CONTACT_FIELDS = ("email", "phone")


class SignedLink(StrEnum):
    """The purpose each link token is signed for."""

    NOT_ME = "not-me"
    UNDO_CONTACT = "undo-contact"


async def _sign_out_and_forget(uow: UnitOfWork, account_id: str, now: datetime, *,
                               keep_session: str | None) -> dict[str, int]:
    return {"sessions_revoked": await uow.sessions.revoke_all(account_id, now, keep=keep_session),
            "devices_forgotten": await uow.devices.revoke_all(account_id, now)}


class TakeoverReports:
    def __init__(self, *, store: Store, clock: Clock, notifier: Notifier,
                 links: LinkSigner, access: AccessService, spent_links: ReplayGuard) -> None:
        self._store = store
        self._spent_links = spent_links
        self._access = access
        self._clock = clock
        self._notifier = notifier
        self._links = links

    def check_link(self, link: SignedLink, token: str) -> None:
        """Raises ``InvalidLinkToken`` unless ``token`` is a live link signed for ``link``."""
        self._read(link, token)

    async def not_me(self, principal: CustomerSession, ctx: RequestContext) -> None:
        """'This wasn't me' from the login history, by the signed-in owner. It ends every other
        session, so it asks what ending them asks (``END_OTHER_SESSIONS``): a stolen session
        must not evict the owner."""
        await self._access.require(principal, Action.END_OTHER_SESSIONS, ctx)
        now = self._clock.now()
        account_id = principal.account.id
        async with self._store.unit_of_work(write=True) as uow:
            counts = await _sign_out_and_forget(uow, account_id, now,
                                                keep_session=principal.session.id)
            await place_hold(uow, account_id, HoldReason.SUSPICIOUS_SIGN_IN, ctx, now)
            await uow.audit.append(AuditEvent(EventKind.DEVICE_NOT_ME, Outcome.SUCCESS,
                                              account_id, ctx.ip, ctx.user_agent,
                                              {**counts, "from": "login_history"}), now)

    async def not_me_by_link(self, token: str, ctx: RequestContext) -> bool:
        """The link in a new-device message: lock the account out. Always ``True``: the page
        says it is done whether or not the account still exists."""
        payload = self._read(SignedLink.NOT_ME, token)
        await self._spend(token, payload)
        account_id = str(payload["a"])
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None:
                return True
            counts = await self._lock_out(uow, account, now)
            await uow.audit.append(AuditEvent(EventKind.DEVICE_NOT_ME, Outcome.SUCCESS,
                                              account_id, ctx.ip, ctx.user_agent, counts), now)
            await self._notify_locked(uow, account, now)
        return True

    async def undo_contact_change(self, token: str, ctx: RequestContext) -> bool:
        """The old address's undo link: restore it, then lock the account out.

        Whoever changed the address held a signed-in, stepped-up session, so the account is
        treated as taken over. ``False`` when there is nothing to undo any more.
        """
        payload = self._read(SignedLink.UNDO_CONTACT, token)
        account_id, field = str(payload["a"]), str(payload["k"])
        old, new = str(payload["o"]) or None, str(payload["n"])
        if field not in CONTACT_FIELDS:
            return False
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None or getattr(account, field) != new:
                return False  # already undone, or changed again since
            restored = (dataclasses.replace(account, email=old) if field == "email"
                        else dataclasses.replace(account, phone=old))
            if restored.email is None and restored.phone is None:
                return False  # an account always keeps a way to reach its owner
            await save_if_current(uow, account, None, **{field: old})
            await self._lock_out(uow, account, now)
            await uow.audit.append(AuditEvent(EventKind.CONTACT_CHANGE_UNDONE, Outcome.SUCCESS,
                                              account_id, ctx.ip, ctx.user_agent,
                                              {"kind": field}), now)
            await self._notify_locked(uow, restored, now)
        return True

    def _read(self, link: SignedLink, token: str) -> dict[str, Any]:
        return self._links.verify(link.value, token, now=self._clock.now())

    async def _spend(self, token: str, payload: dict[str, Any]) -> None:
        """Raises ``InvalidLinkToken`` when the link was used before; remembered until it
        expires."""
        left = int(payload["exp"]) - int(self._clock.now().timestamp()) + 1
        if not await self._spent_links.first_use(f"spent-link:{hash_token(token)}",
                                                 max(left, 1)):
            raise InvalidLinkToken()

    @staticmethod
    async def _lock_out(uow: UnitOfWork, account: Account, now: datetime) -> dict[str, int]:
        """Sign out everywhere, forget every trusted device, lock sign-in until recovery."""
        counts = await _sign_out_and_forget(uow, account.id, now, keep_session=None)
        await uow.accounts.lock(account.id, now)
        return counts

    async def _notify_locked(self, uow: UnitOfWork, account: Account, now: datetime) -> None:
        await self._notifier.notify_account(uow, account, "account_locked", {}, now)
