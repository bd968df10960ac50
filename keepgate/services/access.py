"""Access decisions for a request: the facts are read once, ``domain.access.authorize`` decides.

``require`` turns a refusal into the public error for its first reason: ``StepUpRequired``,
``StrongFactorRequired`` (a step-up with a strong factor), ``SecondFactorRequired`` (enrol
one first), ``FreshSignInRequired``, and ``AccessDenied`` (with the reasons in its details)
otherwise.
"""

from __future__ import annotations

from keepgate.domain.access import AccessFacts, Action, Decision, Reason, authorize
from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    AccessDenied,
    FreshSignInRequired,
    KeepgateError,
    SecondFactorRequired,
    StepUpRequired,
    StrongFactorRequired,
)
from keepgate.domain.factors import STRONG_FACTOR_KINDS, DefencePolicy
from keepgate.domain.principals import ApiKeyPrincipal, CustomerSession, Principal
from keepgate.services.clock import Clock
from keepgate.services.ports import Store

NO_FACTS = AccessFacts(kyc_tier=0, holds=(), locked=False, has_second_factor=False,
                       has_strong_factor=False, session_created_at=None,
                       second_factor_at=None, strong_factor_at=None, assurance=None)


class AccessService:
    def __init__(self, *, store: Store, clock: Clock, policy: DefencePolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy

    async def facts(self, principal: Principal) -> AccessFacts:
        """What ``authorize`` needs about the principal's account, in one read unit of work."""
        account = _account_of(principal)
        if account is None:
            return NO_FACTS
        async with self._store.unit_of_work(write=False) as uow:
            factors = await uow.factors.for_account(account.id)
            holds = await uow.holds.for_account(account.id)
        session = principal.session if isinstance(principal, CustomerSession) else None
        active = [f for f in factors if f.active]
        return AccessFacts(
            kyc_tier=account.kyc_tier, holds=tuple(holds), locked=account.locked_at is not None,
            has_second_factor=bool(active),
            has_strong_factor=any(f.kind in STRONG_FACTOR_KINDS for f in active),
            session_created_at=session.created_at if session else None,
            second_factor_at=session.second_factor_at if session else None,
            strong_factor_at=session.strong_factor_at if session else None,
            assurance=session.aal if session else None)

    async def decide(self, principal: Principal, action: Action) -> Decision:
        facts = await self.facts(principal)
        return authorize(principal, action, facts, self._clock.now(), self._policy)

    async def require(self, principal: Principal, action: Action) -> None:
        """Return if ``action`` is allowed; raise the error its first reason calls for."""
        decision = await self.decide(principal, action)
        if not decision.allowed:
            raise refusal(decision)


def _account_of(principal: Principal) -> Account | None:
    if isinstance(principal, CustomerSession | ApiKeyPrincipal):
        return principal.account
    return None


def refusal(decision: Decision) -> KeepgateError:
    """The public error for a refused decision."""
    first = decision.reasons[0]
    if first is Reason.STEP_UP_REQUIRED:
        return StepUpRequired()
    if first is Reason.STRONG_FACTOR_REQUIRED:
        return StrongFactorRequired()
    if first is Reason.SECOND_FACTOR_REQUIRED:
        return SecondFactorRequired()
    if first is Reason.FRESH_SIGN_IN_REQUIRED:
        return FreshSignInRequired()
    return AccessDenied(details={"reasons": [r.value for r in decision.reasons],
                                 "messages": list(decision.messages)})
