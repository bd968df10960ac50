"""Security events for the append-only, hash-chained audit log.

An event names whose account it concerns (``account_id``, the subject) apart from who acted
(``actor``): the customer themself, a staff member, a service client, an API key, or the
system. A staff member's action always carries a reason.

Most events are the subject's own doing, so an event made without an actor is taken to be by
the account's holder (or by someone claiming to be them, on a sign-in), and by the system when
it concerns no account or is one of ``SYSTEM_EVENTS``. Events recorded before actors were
(``actor`` read back as None) are read by the same rule; their hashes never covered an actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    SIGNUP = "signup"
    SIGNUP_ATTEMPT_EXISTING = "signup.existing_identifier"
    SIGNUP_CODE_SENT = "signup.code_sent"
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
    ACCESS_DENIED = "access.denied"  # refused by ``domain.access.authorize``
    UNAUTHENTICATED = "access.unauthenticated"  # a request without a valid session
    BAN_LIFTED = "login.ban_lifted"
    UNLOCKED = "login.unlocked"  # an operator lifted a "this wasn't me" lock
    SECRETS_REENCRYPTED = "secrets.reencrypted"
    RECOVERY_CODE_CONFIRMED = "recovery.code_confirmed"
    PASSWORD_RESET = "password.reset"  # noqa: S105 (an event name)
    SERVICE_CLIENT_CREATED = "service_client.created"
    SERVICE_CLIENT_ROTATED = "service_client.rotated"  # a new secret; the old one stops at once
    SERVICE_CLIENT_REVOKED = "service_client.revoked"
    # A service client's introspections, counted per client, instance and minute (one event
    # for many calls: see ``services.service_clients``).
    SERVICE_INTROSPECTIONS = "service_client.introspections"


# What Keepgate does on its own, even when the event concerns an account.
SYSTEM_EVENTS = frozenset({EventKind.BANNED, EventKind.PASSWORD_REHASHED, EventKind.THROTTLED,
                           EventKind.CAPTCHA_DEMANDED})


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    SERVICE = "service"
    API_KEY = "api_key"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a kind and, for anyone but the system, their id; staff give a reason."""

    kind: ActorKind
    id: str | None = None
    reason: str | None = None  # why a staff member acted: shown to auditors

    def __post_init__(self) -> None:
        if (self.kind is ActorKind.SYSTEM) != (self.id is None):
            raise ValueError("the system acts without an id; everyone else with one")
        if self.kind is ActorKind.STAFF and not (self.reason and self.reason.strip()):
            raise ValueError("a staff member's action always carries a reason")

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM)

    @classmethod
    def customer(cls, account_id: str) -> Actor:
        return cls(ActorKind.CUSTOMER, account_id)

    @classmethod
    def staff(cls, staff_id: str, reason: str) -> Actor:
        return cls(ActorKind.STAFF, staff_id, reason)

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(ActorKind.SERVICE, name)


def default_actor(kind: EventKind, account_id: str | None) -> Actor:
    """The account's holder for their own events; the system for the rest."""
    if account_id is None or kind in SYSTEM_EVENTS:
        return Actor.system()
    return Actor.customer(account_id)


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
    actor: Actor | None = None  # None: as ``default_actor`` says

    @property
    def acted_by(self) -> Actor:
        return self.actor or default_actor(self.kind, self.account_id)
