"""Security holds: a capability held for a while after a change an intruder would make.

A hold is a capability (withdrawals, today), a reason, a start, an end and the event that
caused it. ``domain.access.authorize`` refuses the capability while a hold on it is in force
(``hold_active``, with the hold's end). Nobody lifts a hold early, staff included: there is no
operation that shortens or removes one (``services.ports.HoldRepo`` only creates and reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from keepgate.domain.audit import EventKind
from keepgate.domain.kyc import Capability

HOLD_DURATION = timedelta(hours=24)


class HoldReason(StrEnum):
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (a reason, not a password)
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a reason, not a password)
    FACTOR_RESET = "factor_reset"
    STRONG_FACTOR_REMOVED = "strong_factor_removed"
    EMAIL_CHANGE = "email_change"
    PHONE_CHANGE = "phone_change"
    SUSPICIOUS_SIGN_IN = "suspicious_sign_in"
    RECOVERY_CODE_USED = "recovery_code_used"


HOLD_TEXT = {
    HoldReason.PASSWORD_CHANGE: "Your password was changed",
    HoldReason.PASSWORD_RESET: "Your password was reset",
    HoldReason.FACTOR_RESET: "Your second factor was reset",
    HoldReason.STRONG_FACTOR_REMOVED: ("Your last authenticator app, passkey or SMS sign-in "
                                       "was removed"),
    HoldReason.EMAIL_CHANGE: "Your email address was changed",
    HoldReason.PHONE_CHANGE: "Your phone number was changed",
    HoldReason.SUSPICIOUS_SIGN_IN: "You reported a sign-in that was not you",
    HoldReason.RECOVERY_CODE_USED: "A recovery code was used: set up your second factor "
                                   "again or make new recovery codes",
}


# The event that causes each kind of hold, recorded with the hold.
HOLD_CAUSES: dict[HoldReason, EventKind] = {
    HoldReason.PASSWORD_CHANGE: EventKind.PASSWORD_CHANGED,
    HoldReason.PASSWORD_RESET: EventKind.PASSWORD_RESET,
    HoldReason.FACTOR_RESET: EventKind.FACTOR_REMOVED,
    HoldReason.STRONG_FACTOR_REMOVED: EventKind.FACTOR_REMOVED,
    HoldReason.EMAIL_CHANGE: EventKind.CONTACT_CHANGED,
    HoldReason.PHONE_CHANGE: EventKind.CONTACT_CHANGED,
    HoldReason.SUSPICIOUS_SIGN_IN: EventKind.DEVICE_NOT_ME,
    HoldReason.RECOVERY_CODE_USED: EventKind.FACTOR_USED,
}


@dataclass(frozen=True, slots=True)
class SecurityHold:
    """``capability`` is held from ``created_at`` (its start) until ``expires_at`` (its end),
    because of ``reason``; ``cause`` is the kind of the audit event that caused it.

    Nobody lifts a hold early, support included: it ends when it expires.
    """

    id: str
    account_id: str
    capability: Capability
    reason: HoldReason
    created_at: datetime
    expires_at: datetime
    cause: str = ""

    def active(self, now: datetime) -> bool:
        return self.created_at <= now < self.expires_at

    def holds(self, capability: Capability, now: datetime) -> bool:
        return self.capability is capability and self.active(now)
