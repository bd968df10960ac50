"""keepgate.domain.access: every tier × capability × hold × limit × assurance case, as one table.

The expectations are written out here from the issue's default policy (what each tier grants,
its limits in USD), not read from ``domain.kyc``, so a change to either side shows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from keepgate.domain.access import AccessFacts, Action, Reason, authorize
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import HoldReason, SecurityHold
from keepgate.domain.kyc import DEFAULT_POLICY, Capability
from keepgate.domain.limits import Usage
from keepgate.domain.principals import AccountSubject, CustomerSession, Principal
from keepgate.domain.sessions import AAL, Session

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = DefencePolicy()
ACCOUNT = Account(id="acc-1", email="ann@example.com", phone=None, password_hash="h",
                  status=AccountStatus.ACTIVE, kyc_tier=0, created_at=NOW)
SESSION = Session(id="ses-1", account_id="acc-1", token_hash="t", aal=AAL.AAL2,
                  methods=("password", "totp"), channel="api", created_at=NOW,
                  last_seen_at=NOW, expires_at=NOW + timedelta(hours=12), ip="203.0.113.7",
                  user_agent="ua")
CUSTOMER = CustomerSession(SESSION, ACCOUNT)
SUBJECT = AccountSubject(ACCOUNT)

V, D, T, W, A = (Capability.VIEW_MARKETS, Capability.DEPOSIT, Capability.TRADE,
                 Capability.WITHDRAW, Capability.API_ACCESS)
GRANTS = {0: {V}, 1: {V, D, T, W}, 2: {V, D, T, W, A}, 3: {V, D, T, W, A}}
LOWEST = {V: 0, D: 1, T: 1, W: 1, A: 2}
# (daily, monthly) in USD, per tier and capability that moves money.
LIMITS = {
    1: {D: (10_000, 50_000), T: (25_000, 100_000), W: (5_000, 20_000)},
    2: {D: (100_000, 500_000), T: (250_000, 1_000_000), W: (50_000, 200_000)},
    3: {D: (1_000_000, 5_000_000), T: (2_500_000, 10_000_000), W: (500_000, 2_000_000)},
}


@dataclass(frozen=True)
class HoldCase:
    name: str
    holds: tuple[SecurityHold, ...]
    on: Capability | None  # the capability held now, if any


def _hold(capability: Capability, ends: datetime) -> SecurityHold:
    return SecurityHold("h", "acc-1", capability, HoldReason.PASSWORD_CHANGE,
                        NOW - timedelta(hours=1), ends, "password.changed")


HOLD_END = NOW + timedelta(hours=23)
HOLDS = [
    HoldCase("no hold", (), None),
    HoldCase("withdrawal hold", (_hold(W, HOLD_END),), W),
    HoldCase("hold ended", (_hold(W, NOW),), None),
    HoldCase("trade hold", (_hold(T, HOLD_END),), T),
]


@dataclass(frozen=True)
class LimitCase:
    """Usage is set relative to the capability's limits; ``left`` is what stays (or None)."""

    name: str
    amount: Decimal | None
    day_used: Decimal  # as "daily limit minus this" when ``near`` else absolute
    month_used: Decimal
    near: bool
    exceeded: bool
    left: Decimal | None


def usage_for(case: LimitCase, daily: int, monthly: int) -> Usage:
    if case.near:
        return Usage(Decimal(daily) - case.day_used, Decimal(monthly) - case.month_used)
    return Usage(case.day_used, case.month_used)


Z = Decimal("0.00")
LIMIT_CASES = [
    LimitCase("no amount, nothing used", None, Z, Z, False, False, None),
    LimitCase("100 of nothing used", Decimal("100.00"), Z, Z, False, False, None),
    LimitCase("exactly the rest of the day", Decimal("100.00"), Decimal(100), Decimal(500),
              True, False, None),
    LimitCase("a cent over the day", Decimal("100.01"), Decimal(100), Decimal(500), True, True,
              Decimal("100.00")),
    LimitCase("the month binds", Decimal("60.00"), Decimal(500), Decimal(50), True, True,
              Decimal("50.00")),
    LimitCase("no amount, day used up", None, Z, Decimal(500), True, True, Z),
]


@dataclass(frozen=True)
class AssuranceCase:
    name: str
    principal: Principal
    strong_at: datetime | None
    proven: bool  # a strong factor within the step-up window


ASSURANCE = [
    AssuranceCase("session, strong factor now", CUSTOMER, NOW, True),
    AssuranceCase("session, strong factor 5 minutes ago", CUSTOMER,
                  NOW - timedelta(minutes=5), True),
    AssuranceCase("session, strong factor 6 minutes ago", CUSTOMER,
                  NOW - timedelta(minutes=6), False),
    AssuranceCase("session, no strong factor", CUSTOMER, None, False),
    AssuranceCase("service asking, no session", SUBJECT, None, False),
]


Expected = tuple[tuple[Reason, ...], dict[str, object]]


def expected(level: int, capability: Capability, hold: HoldCase, limit: LimitCase,
             assurance: AssuranceCase, locked: bool) -> Expected:
    reasons: list[Reason] = []
    extra: dict[str, object] = {}
    if locked:
        reasons.append(Reason.ACCOUNT_LOCKED)
    granted = capability in GRANTS[level]
    if not granted:
        reasons.append(Reason.TIER_TOO_LOW)
        extra["tier_needed"] = LOWEST[capability]
    if hold.on is capability:
        reasons.append(Reason.HOLD_ACTIVE)
        extra["hold_until"] = HOLD_END
    if granted and capability in LIMITS.get(level, {}) and limit.exceeded:
        reasons.append(Reason.LIMIT_EXCEEDED)
        extra["limit_left"] = limit.left
    if capability is W and not assurance.proven:
        reasons.append(Reason.STEP_UP_REQUIRED)
    return tuple(reasons), extra


REST = list(itertools.product(HOLDS, LIMIT_CASES, ASSURANCE, [False, True]))


@pytest.mark.parametrize(("level", "capability"),
                         list(itertools.product(range(4), list(Capability))),
                         ids=lambda v: f"tier{v}" if isinstance(v, int) else v.value)
def test_the_decision_table(level: int, capability: Capability) -> None:
    """For one tier and capability, every hold × limit × assurance × lock case
    (4 × 6 × 5 × 2 = 240; 4,800 in all)."""
    for hold, limit, assurance, locked in REST:
        case = f"{hold.name} / {limit.name} / {assurance.name} / locked={locked}"
        usage = {}
        if level in LIMITS and capability in LIMITS[level]:
            usage = {capability: usage_for(limit, *LIMITS[level][capability])}
        facts = AccessFacts(kyc_tier=level, holds=hold.holds, locked=locked,
                            has_second_factor=True, has_strong_factor=True,
                            session_created_at=NOW, second_factor_at=assurance.strong_at,
                            strong_factor_at=assurance.strong_at, assurance=AAL.AAL2,
                            usage=usage)
        decision = authorize(assurance.principal, Action(capability.value), facts, NOW,
                             POLICY, amount=limit.amount, tiers=DEFAULT_POLICY)
        reasons, extra = expected(level, capability, hold, limit, assurance, locked)
        assert decision.reasons == reasons, case
        assert decision.allowed is (not reasons), case
        assert decision.tier_needed == extra.get("tier_needed"), case
        assert decision.hold_until == extra.get("hold_until"), case
        assert decision.limit_left == extra.get("limit_left"), case
        assert decision.currency == ("USD" if "limit_left" in extra else None), case


def test_the_policy_limits_are_the_tables() -> None:
    """The table above and the built-in policy say the same."""
    for level, tier in enumerate(DEFAULT_POLICY.tiers):
        assert tier.capabilities == GRANTS[level]
        assert {c: (int(lim.daily), int(lim.monthly)) for c, lim in tier.limits.items()} == (
            LIMITS.get(level, {}))


def test_reasons_read_for_machines() -> None:
    facts = AccessFacts(kyc_tier=1, holds=(_hold(W, HOLD_END),), locked=True,
                        has_second_factor=True, has_strong_factor=True,
                        session_created_at=NOW, second_factor_at=None, strong_factor_at=None,
                        assurance=AAL.AAL1, usage={W: Usage(Decimal("4900"), Decimal("4900"))})
    decision = authorize(SUBJECT, Action.WITHDRAW, facts, NOW, POLICY,
                         amount=Decimal("250.00"))
    assert [d["code"] for d in decision.details()] == [
        "account_locked", "hold_active", "limit_exceeded", "step_up_required"]
    by_code = {d["code"]: d for d in decision.details()}
    assert by_code["hold_active"]["until"] == HOLD_END.isoformat()
    assert by_code["limit_exceeded"]["left"] == "100.00"
    assert by_code["limit_exceeded"]["currency"] == "USD"
    tier0 = authorize(CUSTOMER, Action.API_ACCESS, replace(facts, kyc_tier=0, locked=False,
                                                            holds=()), NOW, POLICY)
    assert tier0.details() == [{"code": "tier_too_low", "tier_needed": 2,
                                "message": tier0.messages[0]}]
