"""What the owner chooses about the notices we send: which ones are muted, and the
anti-phishing code every genuine email and SMS shows.

Setting the anti-phishing code needs step-up: an intruder who could set it could make their
own phishing look genuine. So does muting a notice (hearing more never does): an intruder
who could mute one could then make that change unheard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from keepgate.domain.access import Action
from keepgate.domain.anti_phishing import parse_anti_phishing_code
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import NoticeNotMutable
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.domain.principals import CustomerSession
from keepgate.services.access import AccessService
from keepgate.services.account.security_version import save_if_current
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store


class NoticeSettings:
    def __init__(self, *, store: Store, clock: Clock, notifier: Notifier,
                 access: AccessService) -> None:
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._access = access

    async def set_muted(self, principal: CustomerSession, muted: Sequence[str], ctx: RequestContext,
                        expected_version: int | None = None) -> tuple[str, ...]:
        """Mutes exactly ``muted`` (critical notices cannot be); returns them sorted."""
        unknown = set(muted) - MUTABLE_NOTICES
        if unknown:
            raise NoticeNotMutable(
                f"These notices cannot be muted: {', '.join(sorted(unknown))}. Only "
                f"{', '.join(sorted(MUTABLE_NOTICES))} can.")
        chosen = tuple(sorted(set(muted)))
        now = self._clock.now()
        if set(chosen) - set(principal.account.muted_notices):
            await self._access.require(principal, Action.MUTE_NOTICE, ctx)
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(principal.account.id)
            assert account is not None
            await save_if_current(uow, account, expected_version, muted_notices=list(chosen))
            await uow.audit.append(AuditEvent(EventKind.NOTICES_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"muted": list(chosen)}), now)
        return chosen

    async def set_anti_phishing_code(self, principal: CustomerSession, raw: object,
                                     ctx: RequestContext,
                                     expected_version: int | None = None) -> None:
        code = parse_anti_phishing_code(raw)
        now = self._clock.now()
        await self._access.require(principal, Action.SET_ANTI_PHISHING_CODE, ctx)
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(principal.account.id)
            assert account is not None
            await save_if_current(uow, account, expected_version, anti_phishing_code=code)
            await uow.audit.append(AuditEvent(EventKind.ANTI_PHISHING_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent, {}), now)
            changed = dataclasses.replace(account, anti_phishing_code=code)
            await self._notifier.notify_account(uow, changed, "anti_phishing_changed", {}, now)
