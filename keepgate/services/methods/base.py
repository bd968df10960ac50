"""What every method shares: the protocol the runner drives, and the submissions it receives.

A method names the flow kinds it serves and takes one step; the flow's transition table
decides in which states it is open. A method may also ``prepare`` a flow as it starts (a
passkey challenge offered from the first page), and a method that ``read``s what it needs
in the unit of work that loads its flow saves a transaction on every submission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from keepgate.domain.errors import MalformedCode
from keepgate.flows.base import Flow, FlowKind, StepResult
from keepgate.services.context import RequestContext
from keepgate.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class PasswordSubmission:
    identifier: str
    password: str
    accept_terms: bool | None = None
    captcha: str | None = None  # the proof-of-work solution, when the flow demands one
    country: str | None = None  # the region of a number typed in its national format


@dataclass(frozen=True, slots=True)
class CodeSubmission:
    code: str | None = None
    action: str = "verify"  # or "resend"


@dataclass(frozen=True, slots=True)
class FactorSubmission:
    """``totp`` / ``recovery_code`` / ``sms_code`` / ``email_code`` / ``device_code``."""

    code: str | None = None
    action: str = "verify"  # or "send" / "resend" for codes we deliver, "regenerate"
    credential: dict[str, object] | None = None  # WebAuthn: the browser's toJSON() answer
    name: str | None = None  # a label for a new passkey or security key
    passkey: bool | None = None  # enrol a discoverable, user-verifying passkey (default)
    captcha: str | None = None  # passkey sign-in, when the flow demands proof of work
    kind: str | None = None  # contact change: "email" or "phone"
    value: str | None = None  # contact change: the new address or number
    country: str | None = None  # contact change: the region of a number in national format
    password: str | None = None  # adding a factor: the password again


@dataclass(frozen=True, slots=True)
class IdentifierSubmission:
    """Recovery's first step: where the reset code should go."""

    identifier: str
    captcha: str | None = None


@dataclass(frozen=True, slots=True)
class NewPasswordSubmission:
    """Recovery's last step: the password that replaces the forgotten one."""

    password: str


Submission = (PasswordSubmission | CodeSubmission | FactorSubmission | IdentifierSubmission
              | NewPasswordSubmission)


class Method(Protocol):
    name: str
    kinds: frozenset[FlowKind]

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult: ...


BoundStep = Callable[[], Awaitable[StepResult]]


@runtime_checkable
class ReadsWithFlow(Protocol):
    """A method whose facts are read in the unit of work that loads its flow: ``read``
    returns the step bound to them, in place of ``step``."""

    async def read(self, uow: UnitOfWork, flow: Flow, submission: Submission,
                   ctx: RequestContext, now: datetime) -> BoundStep: ...


def code_of(submission: Submission) -> str:
    """The code a submission carries, with any spaces the person typed taken out."""
    raw = submission.code if isinstance(submission, FactorSubmission | CodeSubmission) else None
    return "".join((raw or "").split())


def well_formed(code: str, digits: int, *, hint: str = "") -> str:
    """``code`` when it is ``digits`` ASCII digits; else ``MalformedCode`` (nothing compared)."""
    if len(code) != digits or not code.isascii() or not code.isdigit():
        raise MalformedCode(f"Enter the {digits}-digit code{hint}.")
    return code
