"""Authenticator-app codes (RFC 6238): SHA-1, 6 digits, 30-second steps, 160-bit secrets.

The current step and one step either side are accepted; each step's code is accepted once:
the caller stores the step ``verify`` returns and passes it back as ``last_step``.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from keepgate.security.errors import VerificationFailed

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1


class InvalidTotp(VerificationFailed):
    pass


class ReplayedTotp(InvalidTotp):
    """The right code for a time step that was already accepted: someone who can see the
    code, or who watched it typed, is using it a second time."""


def new_secret() -> str:
    """160 random bits, base32 (pyotp.random_base32 draws from ``secrets``)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer)


def step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def verify(secret: str, code: str, *, now: datetime, last_step: int | None) -> int:
    """Return the step the code belongs to; raise ``InvalidTotp`` if wrong, ``ReplayedTotp``
    if right for a step at or before ``last_step`` (already used)."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        raise InvalidTotp()  # also keeps non-ASCII input away from compare_digest
    current = step_of(now)
    matched: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare against every candidate step so timing does not reveal which one matched.
        if hmac.compare_digest(code_at(secret, step), code) and matched is None:
            matched = step
    if matched is None:
        raise InvalidTotp()
    if last_step is not None and matched <= last_step:
        raise ReplayedTotp()
    return matched
