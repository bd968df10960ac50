"""Security holds: withdrawals held for a while after a change an intruder would make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

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


@dataclass(frozen=True, slots=True)
class SecurityHold:
    """Withdrawals are held after a change that an attacker holding the account would make.

    Nobody lifts a hold early, support included: it ends when it expires.
    """

    id: str
    account_id: str
    kind: str  # "withdrawal"
    reason: HoldReason
    created_at: datetime
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        return now < self.expires_at
