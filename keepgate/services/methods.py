"""Flow methods as strategies.

Each method gathers the facts its pure step needs (lookups, password hashing, fresh codes),
then calls the step in ``flows``. A method names the flow kinds it serves; the flow's
transition table decides in which states it is open. Second factors (``totp``, ``sms_code``,
``email_code``, ``recovery_code``, ``webauthn``, ``device_code``) plug in here the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import anyio

from keepgate.domain.errors import InvalidCode, TermsNotAccepted
from keepgate.domain.identifiers import parse_identifier
from keepgate.domain.policy import Policies
from keepgate.flows import registration
from keepgate.flows.base import Flow, FlowKind, StepResult
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.password_screen import screen_password
from keepgate.services.context import RequestContext
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.ports import Store

if TYPE_CHECKING:
    from keepgate.services.captcha import CaptchaGate
    from keepgate.services.send_budget import SendBudget
    from keepgate.services.throttle import Throttle


@dataclass(frozen=True, slots=True)
class PasswordSubmission:
    identifier: str
    password: str
    accept_terms: bool | None = None
    captcha: str | None = None  # the proof-of-work solution, when the flow demands one


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
    password: str | None = None  # adding a factor: the password again


Submission = PasswordSubmission | CodeSubmission | FactorSubmission


@dataclass(frozen=True, slots=True)
class Toolkit:
    """What methods may use: storage for lookups, the hasher, code digests and policies."""

    store: Store
    hasher: AsyncPasswordHasher
    digester: CodeDigester
    policies: Policies
    throttle: Throttle
    captcha: CaptchaGate
    budget: SendBudget
    range_check: Callable[[str], bool] | None = None  # a breached-password range API


class Method(Protocol):
    name: str
    kinds: frozenset[FlowKind]

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult: ...


class RegistrationPassword:
    name = "password"
    kinds = frozenset({FlowKind.REGISTRATION})

    def __init__(self, tools: Toolkit) -> None:
        self.tools = tools

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, PasswordSubmission)
        identifier = parse_identifier(submission.identifier)
        demanded = await self.tools.captcha.demanded(flow, None, ctx.ip, submission.captcha)
        if demanded is not None:
            return demanded
        policy = self.tools.policies
        await anyio.to_thread.run_sync(
            lambda: screen_password(submission.password, user_inputs=[identifier.value],
                                    policy=policy.password, range_check=self.tools.range_check)
        )
        if submission.accept_terms is not True:
            raise TermsNotAccepted()
        await self.tools.throttle.reserve_sign_up(ctx.ip)  # 10 an hour per IP, before hashing
        # Hash before looking the identifier up, so both branches cost the same.
        password_hash = await self.tools.hasher.hash(submission.password)
        async with self.tools.store.unit_of_work(write=False) as uow:
            existing = await uow.accounts.find(identifier)
        # Spent alike whether or not the address has an account: the limit reveals nothing.
        await self.tools.budget.spend("foreign", identifier.value)
        notify = existing is not None and await self.tools.budget.notice_allowed(
            identifier.value)
        return registration.submit_credentials(
            flow, identifier=identifier, password_hash=password_hash,
            existing_account_id=existing.id if existing else None,
            code=generate_code(policy.codes.digits), digester=self.tools.digester, now=now,
            policy=policy.codes, notify_owner=notify,
        )


def normalize_code(raw: str | None, digits: int) -> str:
    code = "".join((raw or "").split())
    if len(code) != digits or not code.isascii() or not code.isdigit():
        raise InvalidCode(f"Enter the {digits}-digit code we sent you.", code="code.malformed")
    return code


class RegistrationCode:
    name = "code"
    kinds = frozenset({FlowKind.REGISTRATION})

    def __init__(self, tools: Toolkit) -> None:
        self.tools = tools

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, CodeSubmission)
        codes = self.tools.policies.codes
        if submission.action == "resend":
            registration.check_resend(flow, now=now, policy=codes)
            await self.tools.budget.spend("foreign", registration.identifier_of(flow).value)
            return registration.resend_code(flow, code=generate_code(codes.digits),
                                            digester=self.tools.digester, now=now, policy=codes)
        code = normalize_code(submission.code, codes.digits)
        return registration.submit_code(flow, code=code, digester=self.tools.digester, now=now,
                                        policy=codes)


def default_methods(tools: Toolkit) -> list[Method]:
    return [RegistrationPassword(tools), RegistrationCode(tools)]
