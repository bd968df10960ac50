"""Typed access to the parts of a flow's context that several kinds share.

``Flow.context`` is stored as a small JSON object; no code outside ``keepgate.flows`` reads
or writes its keys. What one kind alone keeps (a registration's pending password hash, a
settings flow's pending TOTP secret) has its accessors in that kind's module; what several
kinds keep alike lives here: the account a flow concerns, the identifier an attempt counts
against, the enrolled factors, the CAPTCHA demand, the WebAuthn challenge and the codes we
send (one slot per purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keepgate.flows.base import Flow, from_iso, iso


def account_id_of(flow: Flow) -> str:
    """The account a signed-in flow (or a sign-in past its first factor) concerns."""
    return str(flow.context["account_id"])


def enrolled_factors(flow: Flow) -> tuple[str, ...] | None:
    """The account's second factors (sign-in past the password, step-up), or ``None``."""
    factors = flow.context.get("factors")
    return None if factors is None else tuple(factors)


def recovery_codes_left(flow: Flow) -> int | None:
    left = flow.context.get("recovery_codes_left")
    return None if left is None else int(left)


def with_recovery_codes_left(flow: Flow, left: int) -> Flow:
    return flow.with_context(recovery_codes_left=left)


@dataclass(frozen=True, slots=True)
class Claimed:
    """The identifier a sign-in attempt counts against: as typed, and masked for records."""

    value: str
    masked: str


def claimed(flow: Flow) -> Claimed:
    """Empty in a step-up flow: the defences then count against the account alone."""
    return Claimed(str(flow.context.get("identifier_value", "")),
                   str(flow.context.get("masked_identifier", "")))


def with_claimed_value(flow: Flow, value: str) -> Flow:
    return flow.with_context(identifier_value=value)


def captcha_required(flow: Flow) -> bool:
    return bool(flow.context.get("captcha_required"))


def with_captcha_required(flow: Flow, required: bool) -> Flow:
    return flow.with_context(captcha_required=required)


@dataclass(frozen=True, slots=True)
class WebAuthnRequest:
    """A pending single-use WebAuthn challenge and the options the browser was given."""

    challenge: str | None
    expires_at: datetime | None
    options: Mapping[str, Any] | None
    passkey: bool  # enrolment: a discoverable, user-verifying passkey was asked for


def webauthn_request(flow: Flow) -> WebAuthnRequest:
    expires = flow.context.get("webauthn_expires_at")
    options = flow.context.get("webauthn_options")
    challenge = flow.context.get("webauthn_challenge")
    return WebAuthnRequest(
        challenge=str(challenge) if challenge else None,
        expires_at=from_iso(str(expires)) if expires else None,
        options=dict(options) if options else None,
        passkey=bool(flow.context.get("webauthn_passkey")))


def webauthn_options(flow: Flow) -> Mapping[str, Any] | None:
    """What the browser's WebAuthn call needs now, if a challenge is pending."""
    return webauthn_request(flow).options


def with_webauthn_request(flow: Flow, *, challenge: str, expires_at: datetime,
                          options: Mapping[str, Any], passkey: bool | None = None) -> Flow:
    pending: dict[str, Any] = {"webauthn_challenge": challenge,
                               "webauthn_expires_at": iso(expires_at),
                               "webauthn_options": dict(options)}
    if passkey is not None:
        pending["webauthn_passkey"] = passkey
    return flow.with_context(**pending)


def with_webauthn_retry(flow: Flow, *, challenge: str, options: Mapping[str, Any]) -> Flow:
    """A new challenge after a spent one, with the same expiry and allow list."""
    return flow.with_context(webauthn_challenge=challenge, webauthn_options=dict(options))


def without_webauthn_challenge(flow: Flow, *, options: bool = False) -> Flow:
    """The challenge is spent (and, with ``options``, the browser's options dropped)."""
    if options:
        return flow.with_context(webauthn_challenge=None, webauthn_options=None)
    return flow.with_context(webauthn_challenge=None)


@dataclass(frozen=True, slots=True)
class SentCode:
    """One purpose's code in a flow (``device_code``, ``sms_code``, ``contact``, ...)."""

    digest: str | None = None  # None once spent or killed: no code can match
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    failures: int = 0

    @property
    def sent(self) -> bool:
        return self.expires_at is not None


def sent_code(flow: Flow, slot: str) -> SentCode:
    sent_at = flow.context.get(f"{slot}_sent_at")
    expires_at = flow.context.get(f"{slot}_expires_at")
    digest = flow.context.get(f"{slot}_digest")
    return SentCode(digest=None if digest is None else str(digest),
                    sent_at=from_iso(str(sent_at)) if sent_at is not None else None,
                    expires_at=from_iso(str(expires_at)) if expires_at is not None else None,
                    failures=int(flow.context.get(f"{slot}_failures", 0)))


def with_code_sent(flow: Flow, slot: str, *, digest: str | None, sent_at: datetime,
                   expires_at: datetime, failures: int) -> Flow:
    return flow.with_context(**{f"{slot}_digest": digest, f"{slot}_sent_at": iso(sent_at),
                                f"{slot}_expires_at": iso(expires_at),
                                f"{slot}_failures": failures})


def with_code_spent(flow: Flow, slot: str) -> Flow:
    return flow.with_context(**{f"{slot}_digest": None})


def with_code_failure(flow: Flow, slot: str, *, failures: int, killed: bool) -> Flow:
    """Count a wrong code; a killed code keeps no digest, so nothing can match it again."""
    return flow.with_context(**{f"{slot}_failures": failures,
                                **({f"{slot}_digest": None} if killed else {})})
