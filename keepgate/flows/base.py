"""The flow record, effects and step results shared by every flow.

A flow is a record, not a call stack: it has an id, a kind, a state from a closed set, an
expiry, the methods still open, attempt counters and a small context. Expiry is checked first
on every read and submit; it is not a state. A step is a pure function
``(flow, facts, now) -> StepResult(flow, effects, error)``; the service layer gathers the facts
(lookups, password hashes), persists the new flow and carries out the effects in one unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import KeepgateError
from keepgate.domain.factors import Factor
from keepgate.domain.holds import HoldReason
from keepgate.domain.identifiers import Identifier

COMPLETED = "completed"
FAILED = "failed"


class FlowKind(StrEnum):
    REGISTRATION = "registration"
    LOGIN = "login"
    SETTINGS = "settings"
    STEP_UP = "step_up"
    RECOVERY = "recovery"


class Channel(StrEnum):
    API = "api"  # mobile apps and services: JSON, bearer tokens
    BROWSER = "browser"  # pages: cookies, CSRF, redirects


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a flow tells the person driving it: shown on its page, listed as `messages`."""

    code: str
    text: str
    type: str = "info"  # "info" or "error"


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    kind: FlowKind
    channel: Channel
    state: str
    created_at: datetime
    expires_at: datetime
    version: int = 0
    context: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[Feedback, ...] = ()
    binding: str | None = None  # browser flows: a hash tying the flow to its browser
    account_id: str | None = None
    session_id: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @property
    def finished(self) -> bool:
        return self.state in (COMPLETED, FAILED)

    def evolve(self, **changes: Any) -> Flow:
        return replace(self, **changes)

    def with_context(self, **changes: Any) -> Flow:
        return replace(self, context={**self.context, **changes})


# Effects: what a step asks the service to do, in the same transaction as saving the flow.


@dataclass(frozen=True, slots=True)
class SendToContact:
    """Queue an email or SMS (by template) to an identifier, through the outbox."""

    template: str
    to: Identifier
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateAccount:
    identifier: Identifier
    password_hash: str


@dataclass(frozen=True, slots=True)
class IssueSession:
    account_id: str
    methods: tuple[str, ...]
    trust_device: bool = False  # remember this device (after a confirmed new-device code)


@dataclass(frozen=True, slots=True)
class ElevateSession:
    """A second factor proven in a signed-in session: aal2, a new token, a fresh stamp."""

    session_id: str
    method: str


@dataclass(frozen=True, slots=True)
class CreateFactor:
    factor: Factor
    first: bool = False  # the account's first factor: recovery codes come with it


@dataclass(frozen=True, slots=True)
class IssueRecoveryCodes:
    """Replace the account's recovery codes with ten new ones, revealed once to the client."""

    account_id: str


@dataclass(frozen=True, slots=True)
class ChangeContact:
    """Replace the account's email or phone (verified by a code sent to the new one)."""

    account_id: str
    new: Identifier
    expected_version: int


@dataclass(frozen=True, slots=True)
class UpdatePasswordHash:
    """Re-hash on sign-in when the configured parameters changed."""

    account_id: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class ResetPassword:
    """A forgotten password replaced: sessions, devices, a hold and every contact told."""

    account_id: str
    password_hash: str
    methods: tuple[str, ...]  # what proved it: the reset code's channel, the second factor


@dataclass(frozen=True, slots=True)
class RecordEvent:
    kind: EventKind
    outcome: Outcome
    account_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SettleAttempt:
    """A reserved sign-in attempt passed: its reservation is given back or, once the sign-in
    is complete, the failures it counted against (the trusted device's, if one) are cleared."""

    account_id: str
    device_id: str | None
    completed: bool


@dataclass(frozen=True, slots=True)
class NotifyAccount:
    """Tell the account's owner at every contact (muted only if the notice can be)."""

    account_id: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlaceHold:
    """Hold the account's withdrawals for a day after something an intruder would do."""

    account_id: str
    reason: HoldReason


Effect = (SendToContact | CreateAccount | IssueSession | ElevateSession | CreateFactor
          | IssueRecoveryCodes | ChangeContact | UpdatePasswordHash | ResetPassword
          | RecordEvent | SettleAttempt | NotifyAccount | PlaceHold)


@dataclass(frozen=True, slots=True)
class StepResult:
    flow: Flow
    effects: tuple[Effect, ...] = ()
    error: KeepgateError | None = None


Transitions = Mapping[str, Mapping[str, frozenset[str]]]


def open_methods(transitions: Transitions, state: str) -> tuple[str, ...]:
    return tuple(transitions.get(state, {}))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)
