"""Codes we deliver by SMS or email: the check, the second factors, enrolment, registration.

Every code lives in a slot of its flow (``keepgate.services.sent_codes.CodeSlot``): sent at
most once a minute and five times an hour to a destination, single use, dead after five
wrong tries. The check is the same wherever a code is asked for.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta

from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    CodeNotSent,
    FactorAlreadyEnrolled,
    FactorUnavailable,
    KeepgateError,
    MethodNotAllowed,
)
from keepgate.domain.factors import FACTOR_LABELS, Factor, FactorKind
from keepgate.domain.identifiers import Identifier, IdentifierKind, check_new_contact
from keepgate.domain.policy import CodePolicy
from keepgate.flows import registration
from keepgate.flows.base import Flow, FlowKind, SendToContact, StepResult
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.tokens import new_id
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import (
    CodeSubmission,
    FactorSubmission,
    Submission,
    code_of,
    well_formed,
)
from keepgate.services.methods.enrolment import FactorEnrolment, factor_added, refused
from keepgate.services.methods.second_factor import Finish, SecondFactor
from keepgate.services.ports import Store
from keepgate.services.send_budget import SendBudget, Sender
from keepgate.services.sent_codes import CodeSlot


@dataclass(frozen=True, slots=True)
class SentCodes:
    """What every code we send needs: its digests, its rules and the send budget."""

    digester: CodeDigester
    policy: CodePolicy
    budget: SendBudget

    @property
    def minutes(self) -> int:
        """The lifetime of a code, as the messages state it."""
        return int(self.policy.lifetime.total_seconds() // 60)


def verify_sent_code(codes: SentCodes, slot: CodeSlot, flow: Flow, code: str,
                     now: datetime) -> Flow:
    """The flow with the slot's code spent; or ``InvalidCode``, ``CodeExpired`` or
    ``CodeAttemptsExhausted`` (the caller counts the failure with ``slot.failed``)."""
    return slot.verify(codes.digester, codes.policy, flow, code, now)


class SentCodeCheck(SecondFactor):
    """A code we deliver, as a second factor (or the new-device code): send, then verify."""

    purpose = ""

    def __init__(self, attempts: SignInAttempts, finish: Finish, *, codes: SentCodes,
                 lifetime: timedelta) -> None:
        super().__init__(attempts, finish)
        self.codes = codes
        self.slot = CodeSlot(self.name, self.purpose, lifetime)

    @abstractmethod
    def destination(self, account: Account) -> Identifier:
        """Where this method's codes go."""

    async def before(self, flow: Flow, submission: Submission, account: Account,
                     ctx: RequestContext, now: datetime) -> StepResult | None:
        assert isinstance(submission, FactorSubmission)
        if submission.action in ("send", "resend"):
            message, digest = self.message(flow, account, ctx, now)
            return await self.slot.send(self.codes.budget, self.codes.policy, flow,
                                        self.destination(account), now, message=message,
                                        digest=digest, sender=Sender(account.id, ctx.ip))
        if not self.slot.sent(flow):
            raise CodeNotSent()
        return None

    def message(self, flow: Flow, account: Account, ctx: RequestContext,
                now: datetime) -> tuple[SendToContact, str]:
        code, digest = self.slot.new(self.codes.digester, flow, self.codes.policy)
        minutes = int(self.slot.lifetime.total_seconds() // 60)
        return (SendToContact("sign_in_code", self.destination(account),
                            {"code": code, "minutes": minutes}), digest)

    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        code = well_formed(code_of(submission), self.codes.policy.digits)
        return verify_sent_code(self.codes, self.slot, flow, code, now)

    def on_failure(self, flow: Flow) -> Flow:
        return self.slot.failed(flow, self.codes.policy)


def _contact(account: Account, kind: IdentifierKind) -> Identifier:
    value = account.phone if kind is IdentifierKind.PHONE else account.email
    if not value:
        raise MethodNotAllowed()
    return Identifier(kind, value)


class SmsCodeCheck(SentCodeCheck):
    name = "sms_code"
    purpose = "sign-in-sms"

    def destination(self, account: Account) -> Identifier:
        return _contact(account, IdentifierKind.PHONE)


class EmailCodeCheck(SentCodeCheck):
    name = "email_code"
    purpose = "sign-in-email"

    def destination(self, account: Account) -> Identifier:
        return _contact(account, IdentifierKind.EMAIL)


class SentCodeEnrolment(FactorEnrolment):
    """SMS or email as a factor: confirmed by a code sent to the verified number or address."""

    kind = FactorKind.SMS_CODE

    def __init__(self, store: Store, *, reauth: PasswordReauth, codes: SentCodes) -> None:
        super().__init__(store, reauth=reauth)
        self.codes = codes
        self.slot = CodeSlot(f"enrol_{self.name}", f"enrol-{self.name}", codes.policy.lifetime)

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.action not in ("send", "resend")

    def destination(self, account: Account) -> Identifier:
        wanted = IdentifierKind.PHONE if self.kind is FactorKind.SMS_CODE else IdentifierKind.EMAIL
        found = account.identifier_for(wanted)
        if found is None:
            where = "mobile number" if wanted is IdentifierKind.PHONE else "email address"
            raise FactorUnavailable(f"Add and verify a {where} on your account first.")
        return check_new_contact(found)

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        to = self.destination(account)
        if any(f.kind is self.kind for f in factors):
            raise FactorAlreadyEnrolled()
        codes = self.codes
        if submission.action in ("send", "resend"):
            code, digest = self.slot.new(codes.digester, flow, codes.policy)
            return await self.slot.send(codes.budget, codes.policy, flow, to, now, digest=digest,
                                        sender=Sender(account.id, ctx.ip),
                                        message=SendToContact("factor_code", to, {
                                            "code": code, "minutes": codes.minutes}))
        try:
            flow = verify_sent_code(codes, self.slot, flow, code_of(submission), now)
        except KeepgateError as error:
            return refused(self.slot.failed(flow, codes.policy), error)
        factor = Factor(id=new_id(), account_id=account.id, kind=self.kind,
                        label=FACTOR_LABELS[self.kind], created_at=now, confirmed_at=now,
                        destination=to.value)
        return factor_added(flow, factor, first=not factors)


class SmsCodeEnrolment(SentCodeEnrolment):
    name = "sms_code"
    kind = FactorKind.SMS_CODE


class EmailCodeEnrolment(SentCodeEnrolment):
    name = "email_code"
    kind = FactorKind.EMAIL_CODE


class RegistrationCode:
    """The code that proves a new account's address: verify, or ask for another."""

    name = "code"
    kinds = frozenset({FlowKind.REGISTRATION})

    def __init__(self, codes: SentCodes) -> None:
        self.codes = codes

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, CodeSubmission)
        policy = self.codes.policy
        if submission.action == "resend":
            registration.check_resend(flow, now=now, policy=policy)
            await self.codes.budget.spend("foreign", registration.identifier_of(flow).value,
                                          sender=Sender(None, ctx.ip))
            return registration.resend_code(flow, code=generate_code(policy.digits),
                                            digester=self.codes.digester, now=now, policy=policy)
        code = well_formed(code_of(submission), policy.digits, hint=" we sent you")
        return registration.submit_code(flow, code=code, digester=self.codes.digester, now=now,
                                        policy=policy)
