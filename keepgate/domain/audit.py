"""Security events for the append-only, hash-chained audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    SIGNUP = "signup"
    SIGNUP_ATTEMPT_EXISTING = "signup.existing_identifier"
    LOGIN = "login"
    LOGOUT = "logout"
    SESSION_REVOKED = "session.revoked"
    SESSIONS_REVOKED = "session.revoked_others"
    PASSWORD_REHASHED = "password.rehashed"  # noqa: S105 (an event name)
    SECOND_FACTOR = "login.second_factor"
    BANNED = "login.banned"
    THROTTLED = "throttle.ip"
    CAPTCHA_DEMANDED = "captcha.demanded"
    NEW_DEVICE = "device.new"
    DEVICE_CONFIRMED = "device.confirmed"
    DEVICE_NOT_ME = "device.not_me"
    FACTOR_ADDED = "factor.added"
    FACTOR_REMOVED = "factor.removed"
    FACTOR_USED = "factor.used"
    RECOVERY_CODES_GENERATED = "recovery_codes.generated"
    STEP_UP = "step_up"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 (an event name)
    HOLD_PLACED = "hold.placed"
    ANTI_PHISHING_CHANGED = "anti_phishing.changed"
    NOTICES_CHANGED = "notices.changed"
    DEVICE_FORGOTTEN = "device.forgotten"
    SIGNED_OUT_EVERYWHERE = "session.revoked_all"
    FACTOR_RENAMED = "factor.renamed"
    CONTACT_CHANGED = "contact.changed"
    CONTACT_CHANGE_UNDONE = "contact.change_undone"
    BAN_LIFTED = "login.ban_lifted"
    SECRETS_REENCRYPTED = "secrets.reencrypted"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: EventKind
    outcome: Outcome
    account_id: str | None = None
    ip: str = ""
    user_agent: str = ""
    # Never a secret, code or password: identifiers are recorded masked.
    details: dict[str, Any] = field(default_factory=dict)
