"""keepgate.domain.access: authorize over principal kind × action × facts, as one table.

Security changes need a strong second factor (never an email code alone) proven in this session
within five minutes. An account without a factor is asked to enrol one first, and enrols it on a
sign-in at most five minutes old. Capability actions follow the KYC tier.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.access import (
    CAPABILITIES,
    ENDING_SESSIONS,
    PRIVILEGED,
    REASON_TEXT,
    SESSION_ONLY,
    AccessFacts,
    Action,
    Reason,
    Resource,
    authorize,
)
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import HoldReason, SecurityHold
from keepgate.domain.kyc import Capability
from keepgate.domain.principals import (
    ApiKeyPrincipal,
    CustomerSession,
    Principal,
    ServiceClient,
    StaffSession,
)
from keepgate.domain.sessions import AAL, Session

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = DefencePolicy()
ACCOUNT = Account(id="acc-1", email="ann@example.com", phone=None, password_hash="h",
                  status=AccountStatus.RESTRICTED, kyc_tier=0, created_at=NOW)
SESSION = Session(id="ses-1", account_id="acc-1", token_hash="t", aal=AAL.AAL1,
                  methods=("password",), channel="api", created_at=NOW, last_seen_at=NOW,
                  expires_at=NOW + timedelta(hours=12), ip="203.0.113.7", user_agent="ua")

CUSTOMER = CustomerSession(SESSION, ACCOUNT)
API_KEY = ApiKeyPrincipal("key-1", ACCOUNT, frozenset({"view_markets", "trade"}))
STAFF = StaffSession("staff-1", frozenset({"support"}), "staff-ses-1")
SERVICE = ServiceClient("withdrawals", frozenset({"withdraw"}))

BASE = AccessFacts(kyc_tier=0, holds=(), locked=False, has_second_factor=False,
                   has_strong_factor=False, session_created_at=NOW, second_factor_at=None,
                   strong_factor_at=None, assurance=AAL.AAL1)
WITH_FACTOR = replace(BASE, has_second_factor=True, has_strong_factor=True)  # e.g. TOTP
EMAIL_ONLY = replace(BASE, has_second_factor=True)  # an email code is its only factor


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def strong(facts: AccessFacts, at: datetime) -> AccessFacts:
    """A strong factor proven at ``at`` (it is a second factor too)."""
    return replace(facts, second_factor_at=at, strong_factor_at=at)


def weak(facts: AccessFacts, at: datetime) -> AccessFacts:
    """Only an email code proven at ``at``."""
    return replace(facts, second_factor_at=at)


def hold(expires_in: timedelta) -> SecurityHold:
    return SecurityHold("hold-1", "acc-1", Capability.WITHDRAW, HoldReason.PASSWORD_CHANGE,
                        NOW - timedelta(hours=1), NOW + expires_in, "password.changed")


STEP_UP = (Reason.STEP_UP_REQUIRED,)
STRONG = (Reason.STRONG_FACTOR_REQUIRED,)
ENROL = (Reason.SECOND_FACTOR_REQUIRED,)
FRESH = (Reason.FRESH_SIGN_IN_REQUIRED,)
NOT_ALLOWED = (Reason.PRINCIPAL_NOT_ALLOWED,)

# With a strong factor, for every privileged action: (facts, expected reasons).
GUARD_CASES: list[tuple[str, AccessFacts, tuple[Reason, ...]]] = [
    ("factor, never proven", WITH_FACTOR, STEP_UP),
    ("factor, proven just now", strong(WITH_FACTOR, NOW), ()),
    ("factor, proven 5 minutes ago", strong(WITH_FACTOR, ago(5)), ()),
    ("factor, proven 5 minutes 1 second ago", strong(WITH_FACTOR, ago(5 + 1 / 60)), STEP_UP),
    ("factor, fresh sign-in is not enough",
     replace(WITH_FACTOR, session_created_at=NOW, second_factor_at=None), STEP_UP),
    ("locked and high tier change nothing",
     replace(strong(WITH_FACTOR, NOW), locked=True, kyc_tier=2,
             holds=(hold(timedelta(hours=1)),)), ()),
]


@pytest.mark.parametrize("action", sorted(PRIVILEGED))
@pytest.mark.parametrize(("facts", "reasons"), [(f, r) for _, f, r in GUARD_CASES],
                         ids=[name for name, _, _ in GUARD_CASES])
def test_privileged_actions_need_a_recent_second_factor(
        action: Action, facts: AccessFacts, reasons: tuple[Reason, ...]) -> None:
    assert authorize(CUSTOMER, action, facts, NOW, POLICY).reasons == reasons


# The strength of what was proven (finding 1): an email code alone approves no security
# change on an account with a strong factor, but lets an email-only account add its first one.
STRENGTH_CASES: list[tuple[str, AccessFacts, Action, tuple[Reason, ...]]] = [
    *[(f"email code just now: {a}", weak(WITH_FACTOR, NOW), a, STRONG)
      for a in sorted(PRIVILEGED)],
    ("email code 6 minutes ago", weak(WITH_FACTOR, ago(6)), Action.REMOVE_FACTOR, STEP_UP),
    ("strong 6 minutes ago, email code now", replace(strong(WITH_FACTOR, ago(6)),
                                                     second_factor_at=NOW),
     Action.REMOVE_FACTOR, STRONG),
    ("strong 4 minutes ago, email code now", replace(strong(WITH_FACTOR, ago(4)),
                                                     second_factor_at=NOW),
     Action.REMOVE_FACTOR, ()),
    ("email only: add a strong factor with an email code", weak(EMAIL_ONLY, NOW),
     Action.ADD_FACTOR, ()),
    ("email only: adding still needs step-up", EMAIL_ONLY, Action.ADD_FACTOR, STEP_UP),
    *[(f"email only: enrol a strong factor first: {a}", strong(EMAIL_ONLY, NOW), a, ENROL)
      for a in sorted(PRIVILEGED - {Action.ADD_FACTOR})],
]


@pytest.mark.parametrize(("facts", "action", "reasons"), [c[1:] for c in STRENGTH_CASES],
                         ids=[c[0] for c in STRENGTH_CASES])
def test_an_email_code_alone_approves_no_security_change(
        facts: AccessFacts, action: Action, reasons: tuple[Reason, ...]) -> None:
    assert authorize(CUSTOMER, action, facts, NOW, POLICY).reasons == reasons


# Without a second factor (finding 3): enrol one first; enrolling it is the only change, on a
# sign-in at most five minutes old (the enrolment also asks for the password again).
NO_FACTOR_CASES: list[tuple[str, AccessFacts, tuple[Reason, ...]]] = [
    ("signed in just now", BASE, ()),
    ("signed in 5 minutes ago", replace(BASE, session_created_at=ago(5)), ()),
    ("signed in 5 minutes 1 second ago", replace(BASE, session_created_at=ago(5 + 1 / 60)),
     FRESH),
    ("a stale sign-in with a stray proof", strong(replace(BASE, session_created_at=ago(60)), NOW),
     FRESH),
]


@pytest.mark.parametrize(("facts", "reasons"), [(f, r) for _, f, r in NO_FACTOR_CASES],
                         ids=[name for name, _, _ in NO_FACTOR_CASES])
def test_without_a_factor_only_the_first_one_is_enrolled(
        facts: AccessFacts, reasons: tuple[Reason, ...]) -> None:
    assert authorize(CUSTOMER, Action.ADD_FACTOR, facts, NOW, POLICY).reasons == reasons
    for action in PRIVILEGED - {Action.ADD_FACTOR}:
        assert authorize(CUSTOMER, action, facts, NOW, POLICY).reasons == ENROL


# Ending other sessions (finding 18): a stolen session must not evict the owner, so an account
# with a factor proves one first (any, an email code included: this changes no sign-in method).
ENDING_CASES: list[tuple[str, AccessFacts, tuple[Reason, ...]]] = [
    ("no factor: the session suffices", replace(BASE, session_created_at=ago(600)), ()),
    ("factor, never proven", WITH_FACTOR, STEP_UP),
    ("factor, proven 6 minutes ago", strong(WITH_FACTOR, ago(6)), STEP_UP),
    ("factor, proven just now", strong(WITH_FACTOR, NOW), ()),
    ("email only, email code just now", weak(EMAIL_ONLY, NOW), ()),
    ("strong factor, email code just now", weak(WITH_FACTOR, NOW), ()),
]


@pytest.mark.parametrize("action", sorted(ENDING_SESSIONS))
@pytest.mark.parametrize(("facts", "reasons"), [(f, r) for _, f, r in ENDING_CASES],
                         ids=[name for name, _, _ in ENDING_CASES])
def test_ending_other_sessions_needs_step_up_with_a_factor(
        action: Action, facts: AccessFacts, reasons: tuple[Reason, ...]) -> None:
    assert authorize(CUSTOMER, action, facts, NOW, POLICY).reasons == reasons
    assert authorize(API_KEY, action, facts, NOW, POLICY).reasons == NOT_ALLOWED


# Another customer's objects (finding 9): refused as not theirs, whatever else holds, so the
# service answers as if the object did not exist (and the refusal is audited).
THEIRS = Resource("factor", "fac-9", owner_id="acc-2")
MINE = Resource("factor", "fac-1", owner_id="acc-1")


@pytest.mark.parametrize("action", [Action.REMOVE_FACTOR, Action.RENAME_FACTOR,
                                    Action.END_OTHER_SESSIONS, Action.FORGET_DEVICE])
def test_another_customers_object_is_not_theirs(action: Action) -> None:
    fresh = strong(WITH_FACTOR, NOW)
    theirs = replace(fresh, resource=THEIRS)
    assert authorize(CUSTOMER, action, theirs, NOW, POLICY).reasons == (Reason.NOT_OWNER,)
    assert authorize(CUSTOMER, action, replace(fresh, resource=MINE), NOW, POLICY).allowed
    assert authorize(API_KEY, action, theirs, NOW, POLICY).reasons == (Reason.NOT_OWNER,)


def test_forgetting_a_trusted_device_needs_only_the_session() -> None:
    assert authorize(CUSTOMER, Action.FORGET_DEVICE, WITH_FACTOR, NOW, POLICY).allowed


def test_the_fresh_sign_in_window_is_five_minutes() -> None:
    assert POLICY.fresh_sign_in == timedelta(minutes=5)


@pytest.mark.parametrize("facts", [f for _, f, _ in GUARD_CASES],
                         ids=[name for name, _, _ in GUARD_CASES])
def test_renaming_a_factor_needs_only_the_session(facts: AccessFacts) -> None:
    assert authorize(CUSTOMER, Action.RENAME_FACTOR, facts, NOW, POLICY).allowed


def test_the_windows_come_from_the_policy() -> None:
    tight = DefencePolicy(step_up_window=timedelta(minutes=1),
                          fresh_sign_in=timedelta(minutes=1))
    proven = strong(WITH_FACTOR, ago(2))
    signed_in = replace(BASE, session_created_at=ago(2))
    assert authorize(CUSTOMER, Action.ADD_FACTOR, proven, NOW, tight).reasons == STEP_UP
    assert authorize(CUSTOMER, Action.ADD_FACTOR, signed_in, NOW, tight).reasons == FRESH


@pytest.mark.parametrize("principal", [API_KEY, STAFF, SERVICE], ids=["api_key", "staff",
                                                                      "service"])
@pytest.mark.parametrize("action", sorted(PRIVILEGED | SESSION_ONLY))
def test_security_changes_are_for_the_customer_session_only(
        principal: Principal, action: Action) -> None:
    fresh = strong(WITH_FACTOR, NOW)
    assert authorize(principal, action, fresh, NOW, POLICY).reasons == NOT_ALLOWED


# Capabilities for a customer session: (tier, action, extra facts, expected reasons).
CAPABILITY_CASES: list[tuple[int, Action, dict[str, object], tuple[Reason, ...]]] = [
    (0, Action.VIEW_MARKETS, {}, ()),
    (0, Action.DEPOSIT, {}, (Reason.TIER_TOO_LOW,)),
    (0, Action.TRADE, {}, (Reason.TIER_TOO_LOW,)),
    (0, Action.WITHDRAW, {}, (Reason.TIER_TOO_LOW,)),
    (0, Action.API_ACCESS, {}, (Reason.TIER_TOO_LOW,)),
    (1, Action.DEPOSIT, {}, ()),
    (1, Action.TRADE, {}, ()),
    (1, Action.WITHDRAW, {}, ()),
    (1, Action.API_ACCESS, {}, (Reason.TIER_TOO_LOW,)),
    (2, Action.API_ACCESS, {}, ()),
    (2, Action.WITHDRAW, {"holds": (hold(timedelta(hours=1)),)}, (Reason.HOLD_ACTIVE,)),
    (2, Action.WITHDRAW, {"holds": (hold(timedelta(0)),)}, ()),
    (2, Action.TRADE, {"holds": (hold(timedelta(hours=1)),)}, ()),
    (2, Action.TRADE, {"locked": True}, (Reason.ACCOUNT_LOCKED,)),
    (0, Action.WITHDRAW, {"locked": True, "holds": (hold(timedelta(hours=1)),)},
     (Reason.ACCOUNT_LOCKED, Reason.TIER_TOO_LOW, Reason.HOLD_ACTIVE)),
]


@pytest.mark.parametrize(("level", "action", "extra", "reasons"), CAPABILITY_CASES)
def test_capabilities_follow_the_tier(level: int, action: Action, extra: dict[str, object],
                                      reasons: tuple[Reason, ...]) -> None:
    # A strong factor proven just now: withdrawals need one (the decision table covers it).
    facts = replace(strong(WITH_FACTOR, NOW), kyc_tier=level, **extra)  # type: ignore[arg-type]
    assert authorize(CUSTOMER, action, facts, NOW, POLICY).reasons == reasons


@pytest.mark.parametrize(("level", "action", "reasons"), [
    (2, Action.TRADE, ()),
    (2, Action.VIEW_MARKETS, ()),
    (2, Action.WITHDRAW, NOT_ALLOWED),  # not in the key's scopes
    (1, Action.TRADE, (Reason.TIER_TOO_LOW,)),  # the tier grants no API access
])
def test_an_api_key_takes_its_scopes_on_a_tier_with_api_access(
        level: int, action: Action, reasons: tuple[Reason, ...]) -> None:
    facts = replace(BASE, kyc_tier=level, session_created_at=None, assurance=None)
    assert authorize(API_KEY, action, facts, NOW, POLICY).reasons == reasons


@pytest.mark.parametrize("principal", [STAFF, SERVICE], ids=["staff", "service"])
@pytest.mark.parametrize("action", sorted(CAPABILITIES))
def test_staff_and_services_have_no_capability_actions_yet(principal: Principal,
                                                           action: Action) -> None:
    assert authorize(principal, action, replace(BASE, kyc_tier=2), NOW, POLICY).reasons == (
        NOT_ALLOWED)


def test_every_action_is_decided_by_one_rule() -> None:
    rules = [PRIVILEGED, SESSION_ONLY, ENDING_SESSIONS, frozenset(CAPABILITIES)]
    assert sum(len(rule) for rule in rules) == len(Action)
    assert frozenset().union(*rules) == frozenset(Action)


def test_a_refusal_reads_for_people_and_machines() -> None:
    decision = authorize(CUSTOMER, Action.CHANGE_PASSWORD, WITH_FACTOR, NOW, POLICY)
    assert not decision.allowed
    assert [r.value for r in decision.reasons] == ["step_up_required"]
    assert decision.messages == (REASON_TEXT[Reason.STEP_UP_REQUIRED],)
    assert set(REASON_TEXT) == set(Reason)
