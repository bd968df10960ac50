"""The decision API's service: "may account A do capability C for amount X now?".

    decide(account_id, capability, amount=None, *, session_id=None) -> Decision

For the exchange's other services (the trading engine on every order, the wallet on every
withdrawal), exposed over HTTP elsewhere. The facts are read in one read unit of work and
``domain.access.authorize`` decides, as for every other request: there is no second rule book.
Without ``session_id`` the account is decided about as an ``AccountSubject``, which has no
second factor to show, so capabilities that need step-up (withdrawals, by default) answer
``step_up_required``; naming the customer's session in which they confirmed lets its
assurance count. A session that is not the account's or not active is ``session.not_found``.
No refusal is audited here (this sits on every order path); the API layer audits each call.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from keepgate.domain.access import Action, Decision
from keepgate.domain.errors import AccountNotFound, SessionNotFound
from keepgate.domain.kyc import DAY, MONEY_CAPABILITIES, MONTH, Capability
from keepgate.domain.money import parse_amount
from keepgate.domain.principals import AccountSubject, CustomerSession, Principal
from keepgate.domain.sessions import SessionPolicy
from keepgate.services.access import NO_FACTS, AccessService
from keepgate.services.clock import Clock
from keepgate.services.ports import Store


class DecisionService:
    def __init__(self, *, store: Store, clock: Clock, access: AccessService,
                 sessions: SessionPolicy) -> None:
        self._store = store
        self._clock = clock
        self._access = access
        self._sessions = sessions

    async def decide(self, account_id: str, capability: Capability,
                     amount: Decimal | str | None = None, *,
                     session_id: str | None = None) -> Decision:
        value = None if amount is None else parse_amount(amount)
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(account_id)
            if account is None:
                raise AccountNotFound()
            session = await uow.sessions.get(session_id) if session_id is not None else None
            if session_id is not None and (
                    session is None or session.account_id != account_id
                    or not session.is_active(self._sessions, now)):
                raise SessionNotFound()
            holds = await uow.holds.for_account(account_id)
            usage = await uow.limits.usage(account_id, now, day=DAY, month=MONTH) if (
                capability in MONEY_CAPABILITIES) else {}
        principal: Principal = (CustomerSession(session, account) if session is not None
                                else AccountSubject(account))
        facts = replace(
            NO_FACTS, kyc_tier=account.kyc_tier, holds=tuple(holds),
            locked=account.locked_at is not None, usage=usage,
            session_created_at=session.created_at if session else None,
            second_factor_at=session.second_factor_at if session else None,
            strong_factor_at=session.strong_factor_at if session else None,
            assurance=session.aal if session else None)
        return self._access.decide_on(principal, Action(capability.value), facts, amount=value)
