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
