"""The one decision point: may this principal take this action, given these facts?

``authorize(principal, action, facts, now)`` is pure: the facts are loaded beforehand, once per
request, by ``services.access``. It answers a ``Decision``: allowed, or denied with reasons
that a machine (``Reason``, a stable code) and a person (``REASON_TEXT``) can read.

Security changes (a password, a contact, the second factors, the recovery codes, the
anti-phishing code) are for a customer's own session only, and need a *strong* second factor
(TOTP, a passkey or security key, SMS, a recovery code: ``domain.sessions``) proven in this
session within the step-up window. An email code proves the second factor for signing in but
never approves a security change alone:

==========================================  ==============================================
the account has                             a security change needs
==========================================  ==============================================
a strong factor                             a strong factor proven within the window
                                            (an email code alone: ``strong_factor_required``)
only an email code                          a strong factor enrolled first
                                            (``second_factor_required``); adding that first
                                            strong factor takes the email code
no second factor                            a second factor enrolled first
                                            (``second_factor_required``); adding the first
                                            takes a sign-in at most 5 minutes old (and the
                                            password again, in the enrolment)
==========================================  ==============================================

An object of another account (``AccessFacts.resource``) is refused as ``not_owner`` before
anything else, for any action: the service answers as if it did not exist.

Renaming a factor or forgetting a trusted device needs only the session. Ending other
sessions (one, all others, or all) needs a second factor proven within the step-up window on
an account that has one, so a stolen session cannot evict the owner; any factor will do, an
email code included, since it changes no way of signing in. An account without a factor ends
them on its session alone.

Capability actions (``view_markets`` … ``api_access``) follow the tier policy
(``domain.kyc.TierPolicy``), optionally for an amount, and every reason that applies is given,
each with what a machine needs to act on it (``Decision.details``):

====================  ====================================================================
``account_locked``    the account is locked ("this wasn't me"): it takes no capability
``tier_too_low``      the tier does not grant it; ``tier_needed`` is the lowest that does
``hold_active``       a security hold on the capability is in force; ``hold_until``, its end
``limit_exceeded``    the amount is over what the rolling day's and month's limits leave
                      (with no amount: nothing is left); ``limit_left``, what is
``step_up_required``  the capability needs a strong second factor (the policy's ``step_up``,
                      withdrawals by default) proven within the step-up window, and none was
====================  ====================================================================

An API key takes only the capability actions in its scopes, on an account whose tier grants API
access; its IP allowlist stands in for step-up. An ``AccountSubject`` (another of the
exchange's services asking about an account, with no session of the customer's) is decided
like the customer's session, but it has no second factor to show: step-up capabilities are
refused to it with ``step_up_required`` unless a session is named. Staff sessions and service
clients themselves take no actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import SecurityHold
from keepgate.domain.kyc import DEFAULT_POLICY, Capability, TierPolicy
from keepgate.domain.limits import NO_USAGE, Headroom, Usage
from keepgate.domain.money import format_amount
from keepgate.domain.principals import (
    AccountSubject,
    ApiKeyPrincipal,
    CustomerSession,
    Principal,
)
from keepgate.domain.sessions import AAL


class Action(StrEnum):
    """Every action that is guarded, by the name ``authorize`` knows it by."""

    CHANGE_PASSWORD = "change_password"  # noqa: S105 (an action, not a password)
    CHANGE_CONTACT = "change_contact"
    ADD_FACTOR = "add_factor"
    REMOVE_FACTOR = "remove_factor"
    RENAME_FACTOR = "rename_factor"
    FORGET_DEVICE = "forget_device"
    REGENERATE_RECOVERY_CODES = "regenerate_recovery_codes"
    SET_ANTI_PHISHING_CODE = "set_anti_phishing_code"
    END_OTHER_SESSIONS = "end_other_sessions"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
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
SESSION_ONLY = frozenset({Action.RENAME_FACTOR, Action.FORGET_DEVICE})
# Ending sessions other than this one: a second factor proven recently, on an account with one.
ENDING_SESSIONS = frozenset({Action.END_OTHER_SESSIONS, Action.SIGN_OUT_EVERYWHERE})
CAPABILITIES: dict[Action, Capability] = {Action(c.value): c for c in Capability}


class Reason(StrEnum):
    """Why an action is refused: stable codes, also the public error codes where one is raised."""

    STEP_UP_REQUIRED = "step_up_required"
    STRONG_FACTOR_REQUIRED = "strong_factor_required"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    FRESH_SIGN_IN_REQUIRED = "fresh_sign_in_required"
    TIER_TOO_LOW = "tier_too_low"
    HOLD_ACTIVE = "hold_active"
    LIMIT_EXCEEDED = "limit_exceeded"
    ACCOUNT_LOCKED = "account_locked"
    PRINCIPAL_NOT_ALLOWED = "principal_not_allowed"
    NOT_OWNER = "not_owner"


REASON_TEXT: dict[Reason, str] = {
    Reason.STEP_UP_REQUIRED: "Confirm it is you with your second factor first.",
    Reason.STRONG_FACTOR_REQUIRED: ("An email code is not enough for this: confirm it is you "
                                    "with your authenticator app, passkey, text-message code "
                                    "or a recovery code."),
    Reason.SECOND_FACTOR_REQUIRED: ("Set up an authenticator app, a passkey or text-message "
                                    "codes first: security changes need one."),
    Reason.FRESH_SIGN_IN_REQUIRED: "For your security, sign in again first.",
    Reason.TIER_TOO_LOW: "Your verification level does not allow this yet.",
    Reason.HOLD_ACTIVE: "This is on hold after a recent security change.",
    Reason.LIMIT_EXCEEDED: "This is over what your limits leave for now.",
    Reason.ACCOUNT_LOCKED: "Your account is locked until it is recovered.",
    Reason.PRINCIPAL_NOT_ALLOWED: "This cannot be done with this kind of access.",
    Reason.NOT_OWNER: "There is nothing like that on your account.",
}


@dataclass(frozen=True, slots=True)
class Resource:
    """The object an action is asked on (a session, a factor, a device) and whose it is."""

    kind: str
    id: str
    owner_id: str  # the account it belongs to

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class AccessFacts:
    """Everything ``authorize`` looks at, read once per request; nothing here reads a clock."""

    kyc_tier: int
    holds: tuple[SecurityHold, ...]  # in force or not: ``authorize`` compares with ``now``
    locked: bool
    has_second_factor: bool
    has_strong_factor: bool  # a second factor other than an email code
    session_created_at: datetime | None  # None for principals without a session
    second_factor_at: datetime | None  # last time this session proved a second factor
    strong_factor_at: datetime | None  # … a strong one (``domain.sessions``)
    assurance: AAL | None
    resource: Resource | None = None  # the object the action is asked on, if any
    # Limit usage per capability that moves money, in the rolling windows; absent: none used.
    usage: Mapping[Capability, Usage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    reasons: tuple[Reason, ...] = ()
    tier_needed: int | None = None  # with ``tier_too_low``: the lowest tier granting it
    hold_until: datetime | None = None  # with ``hold_active``: when the last hold ends
    limit_left: Decimal | None = None  # with ``limit_exceeded``: what may still be used
    currency: str | None = None  # the limits' reference currency, with ``limit_left``

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(REASON_TEXT[r] for r in self.reasons)

    def details(self) -> list[dict[str, Any]]:
        """Each reason as a machine reads it: its code and what goes with it (JSON-ready;
        amounts are strings)."""
        out: list[dict[str, Any]] = []
        for reason in self.reasons:
            item: dict[str, Any] = {"code": reason.value, "message": REASON_TEXT[reason]}
            if reason is Reason.TIER_TOO_LOW and self.tier_needed is not None:
                item["tier_needed"] = self.tier_needed
            if reason is Reason.HOLD_ACTIVE and self.hold_until is not None:
                item["until"] = self.hold_until.isoformat()
            if reason is Reason.LIMIT_EXCEEDED and self.limit_left is not None:
                item["left"] = format_amount(self.limit_left)
                item["currency"] = self.currency
            out.append(item)
        return out


ALLOW = Decision()


def authorize(principal: Principal, action: Action, facts: AccessFacts, now: datetime,
              policy: DefencePolicy, *, amount: Decimal | None = None,
              tiers: TierPolicy = DEFAULT_POLICY) -> Decision:
    """The decision for ``action`` (for ``amount``, in the tier policy's currency, when it
    moves money); ``policy`` gives the step-up and fresh sign-in windows, ``tiers`` what each
    tier grants and its limits."""
    if _not_theirs(principal, facts.resource):
        return Decision((Reason.NOT_OWNER,))
    if action in CAPABILITIES:
        return _capability(principal, CAPABILITIES[action], facts, now, policy, amount, tiers)
    if not isinstance(principal, CustomerSession):
        return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
    if action in SESSION_ONLY:
        return ALLOW
    if action in ENDING_SESSIONS:
        return _ending_sessions(facts, now, policy)
    return _security_change(action, facts, now, policy)


def _not_theirs(principal: Principal, resource: Resource | None) -> bool:
    """A customer's session or key reaching for an object of another account."""
    return resource is not None and isinstance(
        principal, CustomerSession | ApiKeyPrincipal | AccountSubject) and (
        resource.owner_id != principal.account.id)


def _ending_sessions(facts: AccessFacts, now: datetime, policy: DefencePolicy) -> Decision:
    if facts.has_second_factor and not _within(facts.second_factor_at, now,
                                               policy.step_up_window):
        return Decision((Reason.STEP_UP_REQUIRED,))
    return ALLOW


def _security_change(action: Action, facts: AccessFacts, now: datetime,
                     policy: DefencePolicy) -> Decision:
    if not facts.has_second_factor:
        if action is not Action.ADD_FACTOR:
            return Decision((Reason.SECOND_FACTOR_REQUIRED,))
        return _fresh_sign_in(facts, now, policy)
    if not facts.has_strong_factor:
        if action is not Action.ADD_FACTOR:
            return Decision((Reason.SECOND_FACTOR_REQUIRED,))
        # Adding the first strong factor: the email code is all this account can prove.
        return ALLOW if _within(facts.second_factor_at, now, policy.step_up_window) else (
            Decision((Reason.STEP_UP_REQUIRED,)))
    if _within(facts.strong_factor_at, now, policy.step_up_window):
        return ALLOW
    if _within(facts.second_factor_at, now, policy.step_up_window):
        return Decision((Reason.STRONG_FACTOR_REQUIRED,))
    return Decision((Reason.STEP_UP_REQUIRED,))


def _fresh_sign_in(facts: AccessFacts, now: datetime, policy: DefencePolicy) -> Decision:
    if not _within(facts.session_created_at, now, policy.fresh_sign_in):
        return Decision((Reason.FRESH_SIGN_IN_REQUIRED,))
    return ALLOW


def _within(at: datetime | None, now: datetime, window: timedelta) -> bool:
    return at is not None and now - at <= window


def _capability(principal: Principal, capability: Capability, facts: AccessFacts,
                now: datetime, policy: DefencePolicy, amount: Decimal | None,
                tiers: TierPolicy) -> Decision:
    if isinstance(principal, ApiKeyPrincipal):
        if capability.value not in principal.scopes:
            return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
        needed: Sequence[Capability] = (capability, Capability.API_ACCESS)
    elif isinstance(principal, CustomerSession | AccountSubject):
        needed = (capability,)
    else:
        return Decision((Reason.PRINCIPAL_NOT_ALLOWED,))
    reasons: list[Reason] = []
    found: dict[str, Any] = {}
    if facts.locked:
        reasons.append(Reason.ACCOUNT_LOCKED)
    granted = tiers.tier(facts.kyc_tier).capabilities
    if not set(needed) <= granted:
        reasons.append(Reason.TIER_TOO_LOW)
        levels = [t.level for t in tiers.tiers if set(needed) <= t.capabilities]
        found["tier_needed"] = min(levels) if levels else None
    held = [h.expires_at for h in facts.holds if h.holds(capability, now)]
    if held:
        reasons.append(Reason.HOLD_ACTIVE)
        found["hold_until"] = max(held)
    limit = tiers.limit(facts.kyc_tier, capability) if set(needed) <= granted else None
    if limit is not None:
        room = Headroom(limit, facts.usage.get(capability, NO_USAGE))
        if not room.allows(amount):
            reasons.append(Reason.LIMIT_EXCEEDED)
            found.update(limit_left=room.left, currency=tiers.currency)
    if (capability in tiers.step_up and not isinstance(principal, ApiKeyPrincipal)
            and not _within(facts.strong_factor_at, now, policy.step_up_window)):
        reasons.append(Reason.STEP_UP_REQUIRED)
    return Decision(tuple(reasons), **found)
