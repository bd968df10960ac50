"""Recovery's methods: where the reset code goes, the code, the second factor, the password.

Every step does the same work whether or not the identifier has an account: one lookup, the
same send budgets, one message written (the code, or a notice to an address with no account
at most once an hour), the same answer. The code is a ``CodeSlot`` like every code we send:
single use, bound to the flow, resent at most once a minute, and the fifth wrong try ends the
flow. The second factor is proven through sign-in's own checks (``RecoveryFinish``); a "this
wasn't me" lock stops sign-in, not this proof, and the reset leaves the lock in place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

import anyio

from keepgate.domain.accounts import Account
from keepgate.domain.errors import KeepgateError, MethodNotAllowed
from keepgate.domain.identifiers import Identifier, parse_identifier
from keepgate.domain.policy import PasswordPolicy
from keepgate.flows import recovery
from keepgate.flows.base import Flow, FlowKind, SendToContact, StepResult
from keepgate.flows.context import sent_code
from keepgate.security.password_screen import screen_password
from keepgate.services.captcha import CaptchaGate
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import (
    CodeSubmission,
    IdentifierSubmission,
    NewPasswordSubmission,
    Submission,
    code_of,
    well_formed,
)
from keepgate.services.methods.second_factor import Finish
from keepgate.services.methods.sent_code import SentCodes, verify_sent_code
from keepgate.services.methods.webauthn import Challenges, WebAuthnCheck
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.send_budget import Sender
from keepgate.services.sent_codes import CodeSlot
from keepgate.services.throttle import Throttle

KINDS = frozenset({FlowKind.RECOVERY})


class ResetCodes:
    """The reset code's slot and messages: a code to an account, a notice to a stranger."""

    def __init__(self, codes: SentCodes) -> None:
        self.codes = codes
        self.slot = CodeSlot(recovery.CODE, recovery.CODE_PURPOSE, codes.policy.lifetime)

    async def send(self, flow: Flow, to: Identifier, account_id: str | None, ctx: RequestContext,
                   now: datetime, *, first: bool) -> StepResult:
        codes = self.codes
        # Asked alike for both, so the work does not tell them apart; only the first send to a
        # stranger's address may carry the notice.
        notice = await codes.budget.notice_allowed(to.value) if first else False
        message: SendToContact | None = None
        digest: str | None = None
        if account_id is not None:
            code, digest = self.slot.new(codes.digester, flow, codes.policy)
            message = SendToContact("recovery_code", to, {"code": code, "minutes": codes.minutes})
        elif notice:
            message = SendToContact("recovery_attempt_unknown", to, {})
        sent = await self.slot.send(codes.budget, codes.policy, flow, to, now, message=message,
                                    digest=digest, sender=Sender(None, ctx.ip))
        return replace(sent, flow=sent.flow.evolve(messages=(recovery.code_sent_message(to),)))


class RecoveryIdentifier:
    """The first step: the email address or phone number the code goes to."""

    name = "identifier"
    kinds = KINDS

    def __init__(self, store: Store, *, codes: ResetCodes, captcha: CaptchaGate) -> None:
        self._store = store
        self._codes = codes
        self._captcha = captcha

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, IdentifierSubmission)
        identifier = parse_identifier(submission.identifier)
        demanded = await self._captcha.demanded(flow, identifier.value, ctx.ip,
                                                submission.captcha)
        if demanded is not None:
            return demanded
        async with self._store.unit_of_work(write=False) as uow:
            account = await uow.accounts.find(identifier)
        waiting = recovery.identified(flow, identifier=identifier,
                                      account_id=account.id if account else None)
        return await self._codes.send(waiting, identifier, account.id if account else None,
                                      ctx, now, first=True)


class RecoveryCode:
    """The reset code: verify it, or ask for another after the cooldown."""

    name = recovery.CODE
    kinds = KINDS

    def __init__(self, attempts: SignInAttempts, *, codes: ResetCodes, throttle: Throttle,
                 challenges: Challenges) -> None:
        self._attempts = attempts
        self._codes = codes
        self._throttle = throttle
        self._challenges = challenges

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, CodeSubmission)
        identifier = recovery.identifier_of(flow)
        if submission.action == "resend":
            return await self._codes.send(flow, identifier, recovery.candidate_of(flow), ctx,
                                          now, first=False)
        policy = self._codes.codes.policy
        code = well_formed(code_of(submission), policy.digits, hint=" we sent you")
        await self._throttle.reserve_sign_in(ctx.ip)  # wrong codes spend the IP's budget
        try:
            proven = verify_sent_code(self._codes.codes, self._codes.slot, flow, code, now)
        except KeepgateError as error:
            await self._throttle.identifier_failed(identifier.value)
            failed = self._codes.slot.failed(flow, policy)
            killed = sent_code(failed, recovery.CODE).failures >= policy.max_failures
            return recovery.code_refused(failed, error, killed=killed)
        await self._throttle.release_sign_in(ctx.ip)
        return await self._proven(proven, ctx, now)

    async def _proven(self, flow: Flow, ctx: RequestContext, now: datetime) -> StepResult:
        """The address is the account's: its factors decide what comes next."""
        account_id = recovery.candidate_of(flow)
        assert account_id is not None, "a code matched for an identifier without an account"
        standing = await self._attempts.standing(ctx, now, _account(account_id))
        account = standing.account
        if account is None:  # closed meanwhile: as good as unknown
            raise MethodNotAllowed()
        usable = recovery.usable_factors(flow, standing.methods)
        if standing.methods and not usable:
            return recovery.no_usable_factor(flow)
        keys = standing.keys()
        if keys and "webauthn" in usable:
            flow = self._challenges.offer(flow, now, keys, passwordless=False)
        return recovery.code_accepted(flow, account_id=account.id, factors=usable,
                                      locked_account=account.locked_at is not None)


def _account(account_id: str) -> Callable[[UnitOfWork], Awaitable[Account | None]]:
    async def find(uow: UnitOfWork) -> Account | None:
        return await uow.accounts.get(account_id)

    return find


class ResetAttempts(SignInAttempts):
    """Sign-in's attempts, but a "this wasn't me" lock does not refuse the proof: the owner
    may reset the password of a locked account, which stays locked. A ban still refuses."""

    async def reserve(self, ctx: RequestContext, standing: Standing,
                      identifier: str = "") -> Attempt:
        account = standing.account
        unlocked = replace(account, locked_at=None) if account is not None else None
        return await self.defences.reserve(ctx, unlocked, identifier, device=standing.device)


class RecoveryFinish(Finish):
    """Recovery goes on to the new password."""

    kind = FlowKind.RECOVERY

    def passed(self, flow: Flow, method: str, account: Account, ctx: RequestContext,
               now: datetime, attempt: Attempt) -> StepResult:
        return recovery.second_factor_passed(flow, method=method)


class RecoveryWebAuthnCheck(WebAuthnCheck):
    """A passkey or security key after the reset code; its challenge comes with the code's
    acceptance (``RecoveryCode``), not when the flow starts."""

    async def prepare(self, flow: Flow, now: datetime) -> Flow:
        return flow


class NewPassword:
    """The last step: a new password, screened as at sign-up, hashed, and the reset done."""

    name = "new_password"
    kinds = KINDS

    def __init__(self, store: Store, *, hasher: AsyncPasswordHasher, policy: PasswordPolicy,
                 range_check: Callable[[str], bool] | None = None) -> None:
        self._store = store
        self._hasher = hasher
        self._policy = policy
        self._range_check = range_check  # a breached-password range API

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, NewPasswordSubmission)
        async with self._store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(str(flow.context["account_id"]))
        if account is None:
            raise MethodNotAllowed()
        inputs = [v for v in (account.email, account.phone) if v]
        await anyio.to_thread.run_sync(
            lambda: screen_password(submission.password, user_inputs=inputs,
                                    policy=self._policy, range_check=self._range_check))
        password_hash = await self._hasher.hash(submission.password)
        return recovery.password_chosen(flow, password_hash=password_hash)
