"""The one decision point: may this principal take this action, given these facts?

``authorize(principal, action, facts, now)`` is pure: the facts are loaded beforehand, once per
request, by ``services.access``. It answers a ``Decision``: allowed, or denied with reasons
that a machine (``Reason``, a stable code) and a person (``REASON_TEXT``) can read.

Security changes (a password, a contact, the second factors, the recovery codes, the
anti-phishing code) are for a customer's own session only. Changing sign-in methods needs a
second factor proven in this session within the step-up window once the account has a factor;
an account with none has nothing to step up with, so it needs a recent sign-in instead.
Renaming a factor needs only the session.

Capability actions (``view_markets`` … ``api_access``) follow the KYC tier (``domain.kyc``);
a locked account takes none of them, and a withdrawal hold stops withdrawals. An API key takes
only the capability actions in its scopes, on an account whose tier grants API access. Staff
sessions and service clients have no actions yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import SecurityHold
from keepgate.domain.kyc import Capability, tier
from keepgate.domain.principals import ApiKeyPrincipal, CustomerSession, Principal
from keepgate.domain.sessions import AAL


class Action(StrEnum):
    """Every action that is guarded, by the name ``authorize`` knows it by."""

    CHANGE_PASSWORD = "change_password"  # noqa: S105 (an action, not a password)
    CHANGE_CONTACT = "change_contact"
    ADD_FACTOR = "add_factor"
    REMOVE_FACTOR = "remove_factor"
    RENAME_FACTOR = "rename_factor"
    REGENERATE_RECOVERY_CODES = "regenerate_recovery_codes"
    SET_ANTI_PHISHING_CODE = "set_anti_phishing_code"
    MUTE_NOTICE = "mute_notice"  # hearing less of what changes; unmuting needs nothing
    VIEW_MARKETS = Capability.VIEW_MARKETS.value
    DEPOSIT = Capability.DEPOSIT.value
    TRADE = Capability.TRADE.value
    WITHDRAW = Capability.WITHDRAW.value
    API_ACCESS = Capability.API_ACCESS.value


# Changing how the account signs in or is reached: step-up, or a fresh sign-in without a factor.
PRIVILEGED = frozenset({Action.CHANGE_PASSWORD, Action.CHANGE_CONTACT, Action.ADD_FACTOR,
                        Action.REMOVE_FACTOR, Action.REGENERATE_RECOVERY_CODES,
                        Action.SET_ANTI_PHISHING_CODE, Action.MUTE_NOTICE})
# The customer's own session suffices.
SESSION_ONLY = frozenset({Action.RENAME_FACTOR})
CAPABILITIES: dict[Action, Capability] = {Action(c.value): c for c in Capability}


class Reason(StrEnum):
    """Why an action is refused: stable codes, also the public error codes where one is raised."""

    STEP_UP_REQUIRED = "step_up_required"
    FRESH_SIGN_IN_REQUIRED = "fresh_sign_in_required"
    TIER_TOO_LOW = "tier_too_low"
    HOLD_ACTIVE = "hold_active"
    ACCOUNT_LOCKED = "account_locked"
    PRINCIPAL_NOT_ALLOWED = "principal_not_allowed"


REASON_TEXT: dict[Reason, str] = {
    Reason.STEP_UP_REQUIRED: "Confirm it is you with your second factor first.",
    Reason.FRESH_SIGN_IN_REQUIRED: "For your security, sign in again first.",
    Reason.TIER_TOO_LOW: "Your verification level does not allow this yet.",
    Reason.HOLD_ACTIVE: "This is on hold after a recent security change.",
    Reason.ACCOUNT_LOCKED: "Your account is locked until it is recovered.",
    Reason.PRINCIPAL_NOT_ALLOWED: "This cannot be done with this kind of access.",
}


@dataclass(frozen=True, slots=True)
class AccessFacts:
    """Everything ``authorize`` looks at, read once per request; nothing here reads a clock."""

    kyc_tier: int
    holds: tuple[SecurityHold, ...]  # in force or not: ``authorize`` compares with ``now``
    locked: bool
    has_second_factor: bool
    session_created_at: datetime | None  # None for principals without a session
    second_factor_at: datetime | None  # last time this session proved a second factor
    assurance: AAL | None


@dataclass(frozen=True, slots=True)
class Decision:
    reasons: tuple[Reason, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(REASON_TEXT[r] for r in self.reasons)


ALLOW = Decision()


def authorize(principal: Principal, action: Action, facts: AccessFacts, now: datetime,
              policy: DefencePolicy) -> Decision:
    """The decision for ``action``; ``policy`` gives the step-up and fresh sign-in windows."""
    if action in CAPABILITIES:
        return _capability(principal, CAPABILITIES[action], facts, now)
    if not isinstance(principal, CustomerSession):
        return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
    if action in SESSION_ONLY:
        return ALLOW
    return _fresh_enough(facts, now, policy)


def _fresh_enough(facts: AccessFacts, now: datetime, policy: DefencePolicy) -> Decision:
    if facts.has_second_factor:
        proven = facts.second_factor_at
        if proven is None or now - proven > policy.step_up_window:
            return Decision((Reason.STEP_UP_REQUIRED,))
        return ALLOW
    started = facts.session_created_at
    if started is None or now - started > policy.fresh_sign_in:
        return Decision((Reason.FRESH_SIGN_IN_REQUIRED,))
    return ALLOW


def _capability(principal: Principal, capability: Capability, facts: AccessFacts,
                now: datetime) -> Decision:
    if isinstance(principal, ApiKeyPrincipal):
        if capability.value not in principal.scopes:
            return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
        needed: Sequence[Capability] = (capability, Capability.API_ACCESS)
    elif isinstance(principal, CustomerSession):
        needed = (capability,)
    else:
        return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
    reasons: list[Reason] = []
    if facts.locked:
        reasons.append(Reason.ACCOUNT_LOCKED)
    if not set(needed) <= tier(facts.kyc_tier).capabilities:
        reasons.append(Reason.TIER_TOO_LOW)
    if capability is Capability.WITHDRAW and any(
            h.kind == "withdrawal" and h.active(now) for h in facts.holds):
        reasons.append(Reason.HOLD_ACTIVE)
    return Decision(tuple(reasons))
