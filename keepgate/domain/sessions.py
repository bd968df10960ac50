"""Sessions and assurance levels, and the strength of what a session has proven.

The assurance level says how many factors a sign-in proved (``aal1`` a password, ``aal2`` a
password and a second factor, or a passkey). Second factors differ in strength: an email code
only proves the mailbox, which whoever holds the password often holds too (the same reset
link opens both). So an email-code sign-in reaches ``aal2`` for signing in, but is not
*strong*: ``Session.strong_factor_at`` is stamped only by TOTP, a passkey or security key, an
SMS code or a recovery code, and security changes (``domain.access``) ask for that stamp.

A recovery code counts as strong: it is a look-up secret of at least 80 bits, printed or
stored apart from the mailbox, and the documented way back after losing the phone; its use is
told to every contact and holds withdrawals (see ``SECURITY.md``, "recovery-code use").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

FIRST_FACTOR_METHODS = frozenset({"password"})
# A passkey with user verification is two factors in one (the device, and the PIN or
# biometric that unlocks it), so it alone reaches aal2.
MULTI_FACTOR_METHODS = frozenset({"passkey"})
# Second factors that may approve a security change; an email code is not one of them.
STRONG_FACTOR_METHODS = frozenset({"totp", "sms_code", "webauthn", "passkey", "recovery_code"})


class AAL(StrEnum):
    AAL1 = "aal1"  # one factor (password)
    AAL2 = "aal2"  # password plus a second factor


def assurance_level(methods: Iterable[str]) -> AAL:
    """Derived from the methods used: a second factor raises the level, it is not a special case."""
    used = set(methods)
    if used & MULTI_FACTOR_METHODS:
        return AAL.AAL2
    return AAL.AAL2 if used - FIRST_FACTOR_METHODS and used & FIRST_FACTOR_METHODS else AAL.AAL1


def proves_strong_factor(methods: Iterable[str]) -> bool:
    """Whether ``methods`` include a factor strong enough for security changes."""
    return bool(set(methods) & STRONG_FACTOR_METHODS)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    # last_seen is written at most this often, so reads stay reads; the idle timeout is
    # therefore enforced to within this interval.
    touch_interval: timedelta = timedelta(seconds=60)
    # A new session beyond this many active ones ends the oldest (the owner is told).
    max_active: int = 10


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    account_id: str
    token_hash: str
    aal: AAL
    methods: tuple[str, ...]
    channel: str  # "browser" or "api"
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute limit
    ip: str
    user_agent: str
    revoked_at: datetime | None = None
    second_factor_at: datetime | None = None  # last time a second factor was proven here
    strong_factor_at: datetime | None = None  # last time a strong one was (never an email code)

    def is_active(self, policy: SessionPolicy, now: datetime) -> bool:
        return (
            self.revoked_at is None
            and now < self.expires_at
            and now < self.last_seen_at + policy.idle_timeout
        )

    def idle_expires_at(self, policy: SessionPolicy) -> datetime:
        return min(self.expires_at, self.last_seen_at + policy.idle_timeout)

    def needs_touch(self, policy: SessionPolicy, now: datetime) -> bool:
        return now - self.last_seen_at >= policy.touch_interval
