"""Second factors and trusted devices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class FactorKind(StrEnum):
    TOTP = "totp"
    SMS_CODE = "sms_code"
    EMAIL_CODE = "email_code"
    WEBAUTHN = "webauthn"


FACTOR_LABELS = {
    FactorKind.TOTP: "Authenticator app",
    FactorKind.SMS_CODE: "Text message (SMS) code",
    FactorKind.EMAIL_CODE: "Email code",
    FactorKind.WEBAUTHN: "Passkey or security key",
}
# Second factors that may approve security changes: every kind but the email code, which
# whoever holds the password often holds too (``domain.sessions``).
STRONG_FACTOR_KINDS = frozenset({FactorKind.TOTP, FactorKind.SMS_CODE, FactorKind.WEBAUTHN})
RECOVERY_CODE = "recovery_code"
# The order in which the sign-in page offers factors: strongest first.
FACTOR_PREFERENCE = ("webauthn", "totp", "sms_code", "email_code", RECOVERY_CODE)


def clean_label(text: str, limit: int = 64) -> str:
    """A person's name for a key: printable text, single spaces, at most ``limit`` long."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:limit]


@dataclass(frozen=True, slots=True)
class Factor:
    id: str
    account_id: str
    kind: FactorKind
    label: str
    created_at: datetime
    confirmed_at: datetime | None = None  # TOTP and passkeys count only once confirmed
    last_used_at: datetime | None = None
    secret: str | None = None  # TOTP seed, encrypted with the key ring
    last_step: int | None = None  # TOTP replay guard
    destination: str | None = None  # SMS or email address the codes go to
    credential_id: str | None = None  # WebAuthn, base64url
    public_key: str | None = None  # WebAuthn, base64url (COSE)
    sign_count: int = 0
    transports: tuple[str, ...] = ()
    passkey: bool = False  # discoverable and user-verifying: usable without a password

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None


def removes_last_strong_factor(factors: Sequence[Factor], removing: Factor) -> bool:
    """Whether removing ``removing`` leaves ``factors`` without a strong one (an email code at
    most): that holds withdrawals, as a factor reset would."""
    return removing.kind in STRONG_FACTOR_KINDS and not any(
        f.kind in STRONG_FACTOR_KINDS for f in factors if f.id != removing.id)


@dataclass(frozen=True, slots=True)
class TrustedDevice:
    id: str
    account_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime
    ip: str
    user_agent: str
    failed_logins: int = 0
    banned_until: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class DefencePolicy:
    max_failures: int = 5  # consecutive, password or second factor → ban
    # How long a reserved attempt counts before it is settled. Far longer than a password hash
    # takes even queued behind a full CPU (seconds), so a slow attempt is never let through
    # twice; short enough that attempts cut off mid-request free the account soon after.
    reservation_lifetime: timedelta = timedelta(minutes=2)
    ban: timedelta = timedelta(hours=1)
    captcha_after: int = 3  # consecutive failures on an identifier → proof of work
    ip_failures: int = 20  # per IP per window, across accounts → 429
    ip_window: timedelta = timedelta(minutes=10)
    signups_per_ip: int = 10  # per hour → 429
    device_trust: timedelta = timedelta(days=30)
    step_up_window: timedelta = timedelta(minutes=5)
    fresh_sign_in: timedelta = timedelta(minutes=5)  # first enrolment without a factor yet
    sign_in_code_lifetime: timedelta = timedelta(minutes=5)
    webauthn_challenge_lifetime: timedelta = timedelta(minutes=5)
    # Once an account has a second factor it keeps one, unless the operator allows going
    # back to a password alone (KEEPGATE_ALLOW_REMOVING_LAST_FACTOR).
    allow_removing_last_factor: bool = False
