"""The password: the check, sign-in's first factor, and registration's chosen password.

Sign-in reads what it needs once, reserves the attempt before the hash is touched, and
verifies a dummy hash for unknown, banned and locked accounts, so every refusal costs the
same and answers the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from functools import partial

import anyio

from keepgate.domain.accounts import Account
from keepgate.domain.errors import InvalidCredentials, TermsNotAccepted
from keepgate.domain.identifiers import Identifier, parse_identifier
from keepgate.domain.policy import PasswordPolicy
from keepgate.flows import login, registration
from keepgate.flows.base import Flow, FlowKind, StepResult, UpdatePasswordHash
from keepgate.flows.context import with_claimed_value, without_webauthn_challenge
from keepgate.security.codes import generate_code
from keepgate.security.password_screen import screen_password
from keepgate.services.captcha import CaptchaGate
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.methods.attempts import SignInAttempts, Standing, standing_in
from keepgate.services.methods.base import BoundStep, PasswordSubmission, Submission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.sent_code import SentCodes
from keepgate.services.methods.webauthn import Challenges
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.send_budget import Sender
from keepgate.services.throttle import Throttle


async def verify_password(hasher: AsyncPasswordHasher, password_hash: str | None,
                          password: str) -> None:
    """Pass, or ``InvalidCredentials``. No hash (an unknown or refused account) checks a
    dummy: the same time, the same answer."""
    if not await hasher.verify(password_hash, password):
        raise InvalidCredentials()


class PasswordSignIn:
    """Sign-in's first factor: identifier and password."""

    name = "password"
    kinds = frozenset({FlowKind.LOGIN})

    def __init__(self, attempts: SignInAttempts, *, hasher: AsyncPasswordHasher,
                 captcha: CaptchaGate, challenges: Challenges,
                 device_codes: NewDeviceCodes) -> None:
        self._attempts = attempts
        self._hasher = hasher
        self._captcha = captcha
        self._challenges = challenges
        self._device_codes = device_codes

    async def read(self, uow: UnitOfWork, flow: Flow, submission: Submission,
                   ctx: RequestContext, now: datetime) -> BoundStep:
        assert isinstance(submission, PasswordSubmission)
        identifier = parse_identifier(submission.identifier, country=submission.country)
        standing = await standing_in(uow, ctx, now, _account_named(identifier))
        return partial(self.run, flow, submission, ctx, now, identifier, standing)

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, PasswordSubmission)
        identifier = parse_identifier(submission.identifier, country=submission.country)
        standing = await self._attempts.standing(ctx, now, _account_named(identifier))
        return await self.run(flow, submission, ctx, now, identifier, standing)

    async def run(self, flow: Flow, submission: PasswordSubmission, ctx: RequestContext,
                  now: datetime, identifier: Identifier, standing: Standing) -> StepResult:
        """Judge the password against what was read, behind the defences."""
        account = standing.account
        # Strangers' failures on an identifier must not burden the owner's trusted device:
        # it answers only to the IP-wide demand. (A device token is never guessable, so this
        # reveals nothing about which identifiers have accounts.)
        counted = None if standing.device else identifier.value
        demanded = await self._captcha.demanded(flow, counted, ctx.ip, submission.captcha)
        if demanded is not None:
            return demanded
        # may raise Throttled: no hash spent
        attempt = await self._attempts.reserve(ctx, standing, identifier.value)
        candidate = account.password_hash if account and not attempt.refused else None
        masked = identifier.masked()
        flow = with_claimed_value(flow, identifier.value)
        async with self._attempts.defences.evaluating(attempt, ctx):
            try:
                # Unknown, banned and locked accounts verify a dummy hash: same time, same
                # answer.
                await verify_password(self._hasher, candidate, submission.password)
                if account is None:
                    raise InvalidCredentials()
            except InvalidCredentials:
                passed = None
            else:
                passed = await self._passed(flow, submission, account, masked, standing,
                                            attempt, ctx, now)
        if passed is None:
            refused = await self._attempts.refuse(
                flow, attempt, ctx, identifier.value, masked,
                "unknown_account" if account is None else "wrong_password")
            return await self._captcha.after_failure(refused, counted, ctx.ip)
        assert account is not None
        return await self._attempts.settle(passed, attempt, ctx, identifier.value, account)

    async def _passed(self, flow: Flow, submission: PasswordSubmission, account: Account,
                      masked: str, standing: Standing, attempt: Attempt, ctx: RequestContext,
                      now: datetime) -> StepResult:
        """The step past a right password, its settlement still to come."""
        flow = without_webauthn_challenge(flow, options=True)
        keys = standing.keys()
        if keys:  # the second-factor step will offer these security keys
            flow = self._challenges.offer(flow, now, keys, passwordless=False)
        trusted = attempt.device is not None
        message, digest = (None, None) if trusted or standing.methods else (
            self._device_codes.message(flow, account, ctx, now))
        result = login.first_factor_passed(
            flow, account_id=account.id, method="password", masked_identifier=masked,
            factors=standing.methods, device_trusted=trusted, device_code=message,
            code_digest=digest, now=now, code_lifetime=self._device_codes.lifetime)
        if self._hasher.needs_rehash(account.password_hash):
            new_hash = await self._hasher.hash(submission.password)
            result = replace(result, effects=(*result.effects,
                                              UpdatePasswordHash(account.id, new_hash)))
        return result


def _account_named(identifier: Identifier) -> Callable[[UnitOfWork], Awaitable[Account | None]]:
    async def find(uow: UnitOfWork) -> Account | None:
        return await uow.accounts.find(identifier)

    return find


class RegistrationPassword:
    """Registration's first step: the identifier, a screened password and the terms."""

    name = "password"
    kinds = frozenset({FlowKind.REGISTRATION})

    def __init__(self, store: Store, *, hasher: AsyncPasswordHasher, codes: SentCodes,
                 policy: PasswordPolicy, throttle: Throttle, captcha: CaptchaGate,
                 range_check: Callable[[str], bool] | None = None) -> None:
        self._store = store
        self._hasher = hasher
        self._codes = codes
        self._policy = policy
        self._throttle = throttle
        self._captcha = captcha
        self._range_check = range_check  # a breached-password range API

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, PasswordSubmission)
        identifier = parse_identifier(submission.identifier, new_contact=True,
                                      country=submission.country)
        demanded = await self._captcha.demanded(flow, None, ctx.ip, submission.captcha)
        if demanded is not None:
            return demanded
        await anyio.to_thread.run_sync(
            lambda: screen_password(submission.password, user_inputs=[identifier.value],
                                    policy=self._policy, range_check=self._range_check)
        )
        if submission.accept_terms is not True:
            raise TermsNotAccepted()
        await self._throttle.reserve_sign_up(ctx.ip)  # 10 an hour per IP, before hashing
        # Hash before looking the identifier up, so both branches cost the same.
        password_hash = await self._hasher.hash(submission.password)
        async with self._store.unit_of_work(write=False) as uow:
            existing = await uow.accounts.find(identifier)
        budget = self._codes.budget
        # Both spent alike whether or not the address has an account: neither the limit nor
        # the time the answer takes reveals anything.
        await budget.spend("foreign", identifier.value, sender=Sender(None, ctx.ip))
        notify = await budget.notice_allowed(identifier.value, has_account=existing is not None)
        policy = self._codes.policy
        return registration.submit_credentials(
            flow, identifier=identifier, password_hash=password_hash,
            existing_account_id=existing.id if existing else None,
            code=generate_code(policy.digits), digester=self._codes.digester, now=now,
            policy=policy, notify_owner=notify,
        )
