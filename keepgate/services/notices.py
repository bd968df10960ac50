"""Putting messages in the outbox: every email and SMS goes through here and the renderer.

This is where the recipient account's anti-phishing code is looked up and handed to the one
renderer, so no caller can send a message without it. Security notices go to the account's
email address and, when it has one, its phone; only non-critical notices can be muted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keepgate.domain.accounts import Account
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.services.messages import MessageRenderer
from keepgate.services.ports import UnitOfWork


class Notifier:
    def __init__(self, renderer: MessageRenderer) -> None:
        self.renderer = renderer

    async def enqueue(self, uow: UnitOfWork, to: Identifier, template: str,
                      params: Mapping[str, Any], now: datetime,
                      account: Account | None = None) -> None:
        """Render and enqueue in the caller's transaction: sent only if the change commits.

        ``account`` is the account the message is about; by default, whoever owns ``to``.
        """
        owner = account or await uow.accounts.find(to)
        code = owner.anti_phishing_code if owner is not None else None
        rendered = self.renderer.render(template, to, params, anti_phishing_code=code)
        await uow.outbox.enqueue(rendered.channel, rendered.destination, rendered.template,
                                 rendered.subject, rendered.body, now)

    async def notify_account(self, uow: UnitOfWork, account: Account, template: str,
                             params: Mapping[str, Any], now: datetime) -> None:
        if template in MUTABLE_NOTICES and template in account.muted_notices:
            return
        for kind in (IdentifierKind.EMAIL, IdentifierKind.PHONE):
            to = account.identifier_for(kind)
            if to is not None:
                await self.enqueue(uow, to, template, params, now, account=account)
