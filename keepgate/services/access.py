"""Access decisions for a request: the facts are read once, ``domain.access.authorize`` decides.

``require`` turns a refusal into the public error for its first reason: ``StepUpRequired``,
``StrongFactorRequired`` (a step-up with a strong factor), ``SecondFactorRequired`` (enrol
one first), ``FreshSignInRequired``, the object's own not-found error for another account's
object (so its existence is not revealed), and ``AccessDenied`` (with the reasons in its
details) otherwise.

Every refusal is audited (``access.denied``: who, which action, on what, why), and so is every
request that comes without a valid session (``access.unauthenticated``: which path, from
where). A loop must not flood the log, so each is recorded at most once a minute per session
(or key, or staff session, or service) and action, and per address and path. The counters are
fixed windows on ``ports.WindowCounters``, shared between instances when Redis is configured.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from keepgate.domain.access import (
    CAPABILITIES,
    AccessFacts,
    Action,
    Decision,
    Reason,
    Resource,
    authorize,
)
from keepgate.domain.accounts import Account
from keepgate.domain.audit import Actor, ActorKind, AuditEvent, EventKind, Outcome
from keepgate.domain.errors import (
    AccessDenied,
    DeviceNotFound,
    FactorNotFound,
    FreshSignInRequired,
    KeepgateError,
    NotFound,
    SecondFactorRequired,
    SessionNotFound,
    StepUpRequired,
    StrongFactorRequired,
)
from keepgate.domain.factors import STRONG_FACTOR_KINDS, DefencePolicy
from keepgate.domain.kyc import DAY, DEFAULT_POLICY, MONEY_CAPABILITIES, MONTH, TierPolicy
from keepgate.domain.principals import (
    AccountSubject,
    ApiKeyPrincipal,
    CustomerSession,
    Principal,
    ServiceClient,
    StaffSession,
)
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.ports import Store, TimeUnit, Window, WindowCounters

NO_FACTS = AccessFacts(kyc_tier=0, holds=(), locked=False, has_second_factor=False,
                       has_strong_factor=False, session_created_at=None,
                       second_factor_at=None, strong_factor_at=None, assurance=None)
REFUSALS_RECORDED = Window("kg-audit-refused", 1, 1, TimeUnit.MINUTE)
UNAUTHENTICATED_RECORDED = Window("kg-audit-unauth", 1, 1, TimeUnit.MINUTE)
NOT_FOUND: dict[str, type[NotFound]] = {
    "session": SessionNotFound, "factor": FactorNotFound, "device": DeviceNotFound}


class AccessService:
    def __init__(self, *, store: Store, clock: Clock, policy: DefencePolicy,
                 counters: WindowCounters, tiers: TierPolicy = DEFAULT_POLICY) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._counters = counters
        self.tiers = tiers

    async def facts(self, principal: Principal, resource: Resource | None = None, *,
                    usage: bool = False) -> AccessFacts:
        """What ``authorize`` needs about the principal's account, in one read unit of work;
        ``usage`` adds the limit usage (for capabilities that move money)."""
        account = _account_of(principal)
        if account is None:
            return NO_FACTS if resource is None else replace(NO_FACTS, resource=resource)
        async with self._store.unit_of_work(write=False) as uow:
            factors = await uow.factors.for_account(account.id)
            holds = await uow.holds.for_account(account.id)
            used = await uow.limits.usage(account.id, self._clock.now(), day=DAY,
                                          month=MONTH) if usage else {}
        session = principal.session if isinstance(principal, CustomerSession) else None
        active = [f for f in factors if f.active]
        return AccessFacts(
            kyc_tier=account.kyc_tier, holds=tuple(holds), locked=account.locked_at is not None,
            has_second_factor=bool(active),
            has_strong_factor=any(f.kind in STRONG_FACTOR_KINDS for f in active),
            session_created_at=session.created_at if session else None,
            second_factor_at=session.second_factor_at if session else None,
            strong_factor_at=session.strong_factor_at if session else None,
            assurance=session.aal if session else None, resource=resource, usage=used)

    async def decide(self, principal: Principal, action: Action,
                     resource: Resource | None = None, *,
                     amount: Decimal | None = None) -> Decision:
        """The one decision for ``action`` (for ``amount`` of money, where it moves some)."""
        money = CAPABILITIES.get(action) in MONEY_CAPABILITIES
        facts = await self.facts(principal, resource, usage=money)
        return self.decide_on(principal, action, facts, amount=amount)

    def decide_on(self, principal: Principal, action: Action, facts: AccessFacts, *,
                  amount: Decimal | None = None) -> Decision:
        """The decision on facts already read (``facts``)."""
        return authorize(principal, action, facts, self._clock.now(), self._policy,
                         amount=amount, tiers=self.tiers)

    async def require(self, principal: Principal, action: Action, ctx: RequestContext,
                      resource: Resource | None = None, *,
                      amount: Decimal | None = None) -> None:
        """Return if ``action`` (on ``resource``, for ``amount``) is allowed; otherwise audit
        the refusal and raise the error its first reason calls for."""
        decision = await self.decide(principal, action, resource, amount=amount)
        if not decision.allowed:
            await self._record_refusal(principal, action, decision, ctx, resource)
            raise refusal(decision, resource)

    async def record_unauthenticated(self, ctx: RequestContext, path: str, reason: str) -> None:
        """A request that needed a session came without a valid one (``reason``: ``no_token``
        or ``invalid_token``); recorded at most once a minute per address and path."""
        if not await self._counters.hit(UNAUTHENTICATED_RECORDED, f"{ctx.ip}|{path}"):
            return
        await self._append(AuditEvent(EventKind.UNAUTHENTICATED, Outcome.FAILURE, None, ctx.ip,
                                      ctx.user_agent, {"path": path, "reason": reason}))

    async def _record_refusal(self, principal: Principal, action: Action, decision: Decision,
                              ctx: RequestContext, resource: Resource | None) -> None:
        actor, key = _actor_of(principal)
        if not await self._counters.hit(REFUSALS_RECORDED, f"{key}|{action.value}"):
            return
        details: dict[str, object] = {"action": action.value,
                                      "reasons": [r.value for r in decision.reasons]}
        if isinstance(principal, CustomerSession):
            details["session_id"] = principal.session.id
        if resource is not None:
            details.update(resource=str(resource), owner=resource.owner_id)
        account = _account_of(principal)
        await self._append(AuditEvent(EventKind.ACCESS_DENIED, Outcome.FAILURE,
                                      account.id if account else None, ctx.ip, ctx.user_agent,
                                      details, actor))

    async def _append(self, event: AuditEvent) -> None:
        async with self._store.unit_of_work(write=True) as uow:
            await uow.audit.append(event, self._clock.now())


def _account_of(principal: Principal) -> Account | None:
    if isinstance(principal, CustomerSession | ApiKeyPrincipal | AccountSubject):
        return principal.account
    return None


def _actor_of(principal: Principal) -> tuple[Actor, str]:
    """Who asked, and the key their refusals are counted under (their session, key, …)."""
    if isinstance(principal, CustomerSession):
        return Actor.customer(principal.account.id), f"session:{principal.session.id}"
    if isinstance(principal, ApiKeyPrincipal):
        return Actor(ActorKind.API_KEY, principal.key_id), f"key:{principal.key_id}"
    if isinstance(principal, StaffSession):
        return (Actor.staff(principal.staff_id, "refused by the access policy"),
                f"staff:{principal.session_id}")
    if isinstance(principal, AccountSubject):
        return Actor(ActorKind.SERVICE, "decision"), f"subject:{principal.account.id}"
    assert isinstance(principal, ServiceClient)
    return Actor(ActorKind.SERVICE, principal.name), f"service:{principal.name}"


def refusal(decision: Decision, resource: Resource | None = None) -> KeepgateError:
    """The public error for a refused decision."""
    first = decision.reasons[0]
    if first is Reason.NOT_OWNER and resource is not None:
        return NOT_FOUND[resource.kind]()
    if first is Reason.STEP_UP_REQUIRED:
        return StepUpRequired()
    if first is Reason.STRONG_FACTOR_REQUIRED:
        return StrongFactorRequired()
    if first is Reason.SECOND_FACTOR_REQUIRED:
        return SecondFactorRequired()
    if first is Reason.FRESH_SIGN_IN_REQUIRED:
        return FreshSignInRequired()
    return AccessDenied(details={"reasons": [r.value for r in decision.reasons],
                                 "messages": list(decision.messages),
                                 "decision": decision.details()})
