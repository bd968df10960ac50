"""Security-centre records and rules: holds, the anti-phishing code, notification kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from keepgate.domain.errors import InputRejected

HOLD_DURATION = timedelta(hours=24)
ANTI_PHISHING_RE = re.compile(r"[A-Za-z0-9]{4,20}")


class HoldReason(StrEnum):
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (a reason, not a password)
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a reason, not a password)
    FACTOR_RESET = "factor_reset"
    EMAIL_CHANGE = "email_change"
    PHONE_CHANGE = "phone_change"
    SUSPICIOUS_SIGN_IN = "suspicious_sign_in"


HOLD_TEXT = {
    HoldReason.PASSWORD_CHANGE: "Your password was changed",
    HoldReason.PASSWORD_RESET: "Your password was reset",
    HoldReason.FACTOR_RESET: "Your second factor was reset",
    HoldReason.EMAIL_CHANGE: "Your email address was changed",
    HoldReason.PHONE_CHANGE: "Your phone number was changed",
    HoldReason.SUSPICIOUS_SIGN_IN: "You reported a sign-in that was not you",
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


class InvalidAntiPhishingCode(InputRejected):
    code = "anti_phishing.invalid"
    message = "Use 4 to 20 letters and digits (A-Z, a-z, 0-9), with no spaces."


def parse_anti_phishing_code(raw: object) -> str:
    if not isinstance(raw, str) or not ANTI_PHISHING_RE.fullmatch(raw):
        raise InvalidAntiPhishingCode()
    return raw


# Security notifications. Critical ones can never be muted.
CRITICAL_NOTICES = frozenset({
    "device_code", "signin_banned", "password_changed", "factor_added", "factor_removed",
    "contact_changed", "account_locked", "registration_attempt_existing",
})
# Only what an intruder gains nothing by hiding may be muted.
MUTABLE_NOTICES = frozenset({"anti_phishing_changed", "recovery_codes_regenerated"})
