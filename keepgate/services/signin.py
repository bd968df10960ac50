"""Sign-in methods: the password, each second factor, passkeys and the new-device code.

Each gathers the facts its step needs, reserves the attempt with the defences before any
secret is checked, and hands the outcome to the pure transitions in ``flows.login``.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    InvalidCode,
    InvalidFactorResponse,
    KeepgateError,
    MethodNotAllowed,
    SendLimitReached,
)
from keepgate.domain.factors import RECOVERY_CODE, Factor, FactorKind
from keepgate.domain.identifiers import Identifier, IdentifierKind, parse_identifier
from keepgate.domain.policy import Policies
from keepgate.flows import login, step_up
from keepgate.flows.base import (
    COMPLETED,
    Flow,
    FlowKind,
    SendMessage,
    StepResult,
    UpdatePasswordHash,
)
from keepgate.flows.context import (
    account_id_of,
    claimed,
    webauthn_request,
    with_claimed_value,
    with_recovery_codes_left,
    with_webauthn_request,
    with_webauthn_retry,
    without_webauthn_challenge,
)
from keepgate.security import recovery_codes, totp, webauthn
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.errors import (
    InvalidWebAuthnResponse,
    VerificationFailed,
)
from keepgate.security.keyring import KeyRing
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.services.captcha import CaptchaGate
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt, SignInDefences
from keepgate.services.devices import describe_device
from keepgate.services.guards import enrolled_methods
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.methods import (
    CodeSubmission,
    FactorSubmission,
    Method,
    PasswordSubmission,
    Submission,
)
from keepgate.services.ports import Store
from keepgate.services.send_budget import SendBudget, Sender
from keepgate.services.sent_codes import CodeSlot

NOT_ME_LINK_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SignInKit:
    store: Store
    hasher: AsyncPasswordHasher
    digester: CodeDigester
    defences: SignInDefences
    keyring: KeyRing
    recovery: RecoveryCodeHasher
    signer: LinkSigner
    captcha: CaptchaGate
    policies: Policies
    public_url: str
    relying_party: webauthn.RelyingParty
    user_handle_key: bytes
    budget: SendBudget

    def user_handle(self, account_id: str) -> bytes:
        """A stable, opaque WebAuthn user handle: no email or id leaks to authenticators."""
        return hmac.new(self.user_handle_key, account_id.encode(), hashlib.sha256).digest()


async def active_factors(kit: SignInKit, account_id: str) -> list[Factor]:
    async with kit.store.unit_of_work(write=False) as uow:
        factors = await uow.factors.for_account(account_id)
    return [f for f in factors if f.active]


def device_code_message(kit: SignInKit, flow: Flow, account: Account, ctx: RequestContext,
                        now: datetime) -> tuple[SendMessage, str]:
    """The new-device code for the owner, with what signed in and a 'this wasn't me' link."""
    code = generate_code(kit.policies.codes.digits)
    digest = kit.digester.digest(code, purpose="device", binding=flow.id)
    link = kit.signer.sign("not-me", {"a": account.id, "f": flow.id},
                           expires_at=now + NOT_ME_LINK_LIFETIME)
    minutes = int(kit.defences.policy.sign_in_code_lifetime.total_seconds() // 60)
    message = SendMessage("device_code", account.contact, {
        "code": code, "minutes": minutes, "device": describe_device(ctx.user_agent),
        "ip": ctx.ip or "unknown", "time": now.strftime("%Y-%m-%d %H:%M UTC"),
        "not_me_url": f"{kit.public_url}/not-me?token={link}"})
    return message, digest


async def _settle(kit: SignInKit, result: StepResult, attempt: Attempt, ctx: RequestContext,
                  identifier: str, account: Account) -> StepResult:
    """Count the passed step; a first new-device code spends the owner's send budget."""
    if result.flow.state == login.AWAITING_DEVICE_CODE:
        try:
            await kit.budget.spend("owner", account.contact.value,
                                   sender=Sender(account.id, ctx.ip))
        except SendLimitReached:
            await kit.defences.settle(attempt, ctx, identifier, completed=False)
            raise
    await kit.defences.settle(attempt, ctx, identifier,
                              completed=result.flow.state == COMPLETED)
    return result


async def _refuse(kit: SignInKit, flow: Flow, attempt: Attempt, ctx: RequestContext,
                  identifier: str, masked: str, reason: str,
                  error: KeepgateError | None = None) -> StepResult:
    await kit.defences.failed(attempt, ctx, identifier)
    account_id = attempt.account.id if attempt.account else None
    return login.fail(flow, account_id=account_id, masked_identifier=masked,
                      reason=attempt.refusal or reason, error=error)


class LoginPassword:
    name = "password"
    kinds = frozenset({FlowKind.LOGIN})

    def __init__(self, kit: SignInKit) -> None:
        self.kit = kit

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, PasswordSubmission)
        kit = self.kit
        identifier = parse_identifier(submission.identifier)
        async with kit.store.unit_of_work(write=False) as uow:
            account = await uow.accounts.find(identifier)
        # Strangers' failures on an identifier must not burden the owner's trusted device:
        # it answers only to the IP-wide demand. (A device token is never guessable, so this
        # reveals nothing about which identifiers have accounts.)
        device = None if account is None else await kit.defences.trusted_device(
            ctx.device_token, account.id)
        demanded = await kit.captcha.demanded(flow, None if device else identifier.value,
                                              ctx.ip, submission.captcha)
        if demanded is not None:
            return demanded
        # may raise Throttled: no hash spent
        attempt = await kit.defences.reserve(ctx, account, identifier.value, device=device)
        candidate = account.password_hash if account and not attempt.refused else None
        # Unknown, banned and locked accounts verify a dummy hash: same time, same answer.
        verified = await kit.hasher.verify(candidate, submission.password)
        masked = identifier.masked()
        flow = with_claimed_value(flow, identifier.value)
        if not verified or account is None:
            return await _refuse(kit, flow, attempt, ctx, identifier.value, masked,
                                 "unknown_account" if account is None else "wrong_password")
        async with kit.store.unit_of_work(write=False) as uow:  # factors read once
            enrolled, factors = await enrolled_methods(uow, account.id)
        message, digest = device_code_message(kit, flow, account, ctx, now)
        flow = without_webauthn_challenge(flow, options=True)
        keys = [f for f in enrolled if f.kind is FactorKind.WEBAUTHN]
        if keys:  # the second-factor step will offer these security keys
            flow = with_challenge(kit, flow, now, keys, passwordless=False)
        result = login.first_factor_passed(
            flow, account_id=account.id, method="password", masked_identifier=masked,
            factors=factors, device_trusted=attempt.device is not None, device_code=message,
            code_digest=digest, now=now, code_lifetime=kit.defences.policy.sign_in_code_lifetime)
        result = await _settle(kit, result, attempt, ctx, identifier.value, account)
        if kit.hasher.needs_rehash(account.password_hash):
            new_hash = await kit.hasher.hash(submission.password)
            result = replace(result, effects=(*result.effects,
                                              UpdatePasswordHash(account.id, new_hash)))
        return result


class Finish(ABC):
    """What a proven second factor leads to in the flow kind it serves."""

    kind: FlowKind

    @abstractmethod
    def passed(self, kit: SignInKit, flow: Flow, method: str, account: Account,
               ctx: RequestContext, now: datetime, attempt: Attempt) -> StepResult:
        """The step's result once the factor passed and the attempt was reserved."""


class SignInFinish(Finish):
    """Sign-in goes on: to the new-device code, or done."""

    kind = FlowKind.LOGIN

    def passed(self, kit: SignInKit, flow: Flow, method: str, account: Account,
               ctx: RequestContext, now: datetime, attempt: Attempt) -> StepResult:
        message, digest = device_code_message(kit, flow, account, ctx, now)
        return login.second_factor_passed(
            flow, method=method, device_trusted=attempt.device is not None,
            device_code=message, code_digest=digest, now=now,
            code_lifetime=kit.defences.policy.sign_in_code_lifetime)


class StepUpFinish(Finish):
    """Step-up is done: the session is elevated."""

    kind = FlowKind.STEP_UP

    def passed(self, kit: SignInKit, flow: Flow, method: str, account: Account,
               ctx: RequestContext, now: datetime, attempt: Attempt) -> StepResult:
        return step_up.passed(flow, method=method)


class SecondFactor(ABC):
    """Shared shape of every second factor: reserve, check, count, move on.

    The same checks serve sign-in and step-up, one instance for each: only what happens on
    success (its ``Finish``) differs.
    """

    name = ""

    def __init__(self, kit: SignInKit, finish: Finish) -> None:
        self.kit = kit
        self.finish = finish
        self.kinds = frozenset({finish.kind})

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        kit = self.kit
        async with kit.store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(account_id_of(flow))
        assert account is not None
        early = await self.before(flow, submission, account, ctx, now)
        if early is not None:
            return early
        identifier, masked = claimed(flow).value, claimed(flow).masked
        attempt = await kit.defences.reserve(ctx, account)
        if attempt.refused:
            return await _refuse(kit, flow, attempt, ctx, identifier, masked, "refused")
        try:
            flow = await self.check(flow, submission, account, now)
        except KeepgateError as error:
            return await _refuse(kit, self.on_failure(flow), attempt, ctx, identifier, masked,
                                 f"{self.name}_failed", error=error)
        result = await self.passed(flow, account, ctx, now, attempt)
        return await _settle(kit, result, attempt, ctx, identifier, account)

    async def before(self, flow: Flow, submission: Submission, account: Account,
                     ctx: RequestContext, now: datetime) -> StepResult | None:
        return None

    @abstractmethod
    async def check(self, flow: Flow, submission: Submission, account: Account,
                    now: datetime) -> Flow:
        """Return the flow to continue with, or raise a ``KeepgateError`` (a failure)."""

    def on_failure(self, flow: Flow) -> Flow:
        """The flow as a failed check leaves it (before the failure itself is counted)."""
        return flow

    async def passed(self, flow: Flow, account: Account, ctx: RequestContext, now: datetime,
                     attempt: Attempt) -> StepResult:
        return self.finish.passed(self.kit, flow, self.name, account, ctx, now, attempt)


def _code_of(submission: Submission, digits: int) -> str:
    code = "".join(((submission.code if isinstance(submission, FactorSubmission | CodeSubmission)
                     else None) or "").split())
    if len(code) != digits or not code.isascii() or not code.isdigit():
        raise InvalidCode(f"Enter the {digits}-digit code.", code="code.malformed")
    return code


class LoginTotp(SecondFactor):
    name = "totp"

    async def check(self, flow: Flow, submission: Submission, account: Account,
                    now: datetime) -> Flow:
        code = _code_of(submission, totp.DIGITS)
        for factor in await active_factors(self.kit, account.id):
            if factor.kind is not FactorKind.TOTP or factor.secret is None:
                continue
            seed = self.kit.keyring.decrypt(factor.secret, context=f"totp:{factor.id}").decode()
            try:
                step = totp.verify(seed, code, now=now, last_step=factor.last_step)
            except VerificationFailed:
                continue
            async with self.kit.store.unit_of_work(write=True) as uow:
                if await uow.factors.claim_step(factor.id, step, now):  # each code once
                    return flow
        raise InvalidCode("That code is not correct. Use the current code from your app.")


class LoginRecoveryCode(SecondFactor):
    name = RECOVERY_CODE

    async def check(self, flow: Flow, submission: Submission, account: Account,
                    now: datetime) -> Flow:
        raw = (submission.code if isinstance(submission, FactorSubmission) else None) or ""
        if not recovery_codes.looks_like_code(raw):
            raise InvalidCode("Enter one of your recovery codes, like "
                              "ABCD-EFGH-IJKL-MNOP-QRST-UVWX.")
        async with self.kit.store.unit_of_work(write=True) as uow:
            used = await uow.recovery_codes.use(account.id, self.kit.recovery.digest(raw), now)
            left = await uow.recovery_codes.remaining(account.id)
        if not used:
            raise InvalidCode("That recovery code is not valid or was already used.")
        return with_recovery_codes_left(flow, left)


class LoginSentCode(SecondFactor):
    """A code we deliver (SMS, email, or the new-device code): send, then verify."""

    purpose = ""

    @property
    def slot(self) -> CodeSlot:
        return CodeSlot(self.name, self.purpose, self.kit.defences.policy.sign_in_code_lifetime)

    @abstractmethod
    def destination(self, flow: Flow, account: Account) -> Identifier:
        """Where this method's codes go."""

    async def before(self, flow: Flow, submission: Submission, account: Account,
                     ctx: RequestContext, now: datetime) -> StepResult | None:
        assert isinstance(submission, FactorSubmission)
        if submission.action in ("send", "resend"):
            message, digest = self.message(flow, account, ctx, now)
            return await self.slot.send(self.kit.budget, self.kit.policies.codes, flow,
                                        self.destination(flow, account), now, message=message,
                                        digest=digest, sender=Sender(account.id, ctx.ip))
        if not self.slot.sent(flow):
            raise InvalidCode("Ask for a code first.", code="code.not_sent")
        return None

    def message(self, flow: Flow, account: Account, ctx: RequestContext,
                now: datetime) -> tuple[SendMessage, str]:
        code, digest = self.slot.new(self.kit.digester, flow, self.kit.policies.codes)
        minutes = int(self.slot.lifetime.total_seconds() // 60)
        return (SendMessage("sign_in_code", self.destination(flow, account),
                            {"code": code, "minutes": minutes}), digest)

    async def check(self, flow: Flow, submission: Submission, account: Account,
                    now: datetime) -> Flow:
        code = _code_of(submission, self.kit.policies.codes.digits)
        return self.slot.verify(self.kit.digester, self.kit.policies.codes, flow, code, now)

    def on_failure(self, flow: Flow) -> Flow:
        return self.slot.failed(flow, self.kit.policies.codes)


class LoginSmsCode(LoginSentCode):
    name = "sms_code"
    purpose = "sign-in-sms"

    def destination(self, flow: Flow, account: Account) -> Identifier:
        return _factor_destination(flow, account, IdentifierKind.PHONE)


class LoginEmailCode(LoginSentCode):
    name = "email_code"
    purpose = "sign-in-email"

    def destination(self, flow: Flow, account: Account) -> Identifier:
        return _factor_destination(flow, account, IdentifierKind.EMAIL)


def _factor_destination(flow: Flow, account: Account, kind: IdentifierKind) -> Identifier:
    value = account.phone if kind is IdentifierKind.PHONE else account.email
    if not value:
        raise MethodNotAllowed()
    return Identifier(kind, value)


class LoginDeviceCode(LoginSentCode):
    """The new-device confirmation: sent when the factors pass, resent on request."""

    name = login.DEVICE_CODE
    purpose = "device"

    def __init__(self, kit: SignInKit) -> None:
        super().__init__(kit, SignInFinish())

    def destination(self, flow: Flow, account: Account) -> Identifier:
        return account.contact

    def message(self, flow: Flow, account: Account, ctx: RequestContext,
                now: datetime) -> tuple[SendMessage, str]:
        return device_code_message(self.kit, flow, account, ctx, now)

    async def passed(self, flow: Flow, account: Account, ctx: RequestContext, now: datetime,
                     attempt: Attempt) -> StepResult:
        return login.device_confirmed(flow)


def _options(kit: SignInKit, challenge: bytes, allow: Sequence[Factor], *,
             verification: webauthn.UserVerification) -> dict[str, object]:
    return webauthn.authentication_options(
        kit.relying_party, challenge=challenge, allow=[stored_credential(f) for f in allow],
        user_verification=verification)


def stored_credential(factor: Factor) -> webauthn.StoredCredential:
    assert factor.credential_id and factor.public_key
    return webauthn.StoredCredential(
        credential_id=webauthn.decode_b64url(factor.credential_id),
        public_key=webauthn.decode_b64url(factor.public_key),
        sign_count=factor.sign_count, transports=factor.transports)


def with_challenge(kit: SignInKit, flow: Flow, now: datetime, allow: Sequence[Factor], *,
                   passwordless: bool) -> Flow:
    """A fresh single-use challenge, valid five minutes, and the options built on it."""
    challenge = webauthn.new_challenge()
    options = _options(kit, challenge, allow,
                       verification="required" if passwordless else "preferred")
    return with_webauthn_request(
        flow, challenge=webauthn.encode_b64url(challenge),
        expires_at=now + kit.defences.policy.webauthn_challenge_lifetime, options=options)


class LoginWebAuthn(SecondFactor):
    """A security key or passkey as the second factor, or a passkey alone (passwordless)."""

    name = "webauthn"

    async def prepare(self, flow: Flow, now: datetime) -> Flow:
        """Awaiting credentials, passkeys are offered from the start (passwordless sign-in);
        awaiting a second factor (step-up), the account's keys are."""
        if flow.state == login.AWAITING_CREDENTIALS:
            return with_challenge(self.kit, flow, now, [], passwordless=True)
        keys = [f for f in await active_factors(self.kit, account_id_of(flow))
                if f.kind is FactorKind.WEBAUTHN]
        return with_challenge(self.kit, flow, now, keys, passwordless=False) if keys else flow

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        if flow.state == login.AWAITING_CREDENTIALS:
            return await self.passwordless(flow, submission, ctx, now)
        return await super().step(flow, submission, ctx, now)

    def _challenge(self, flow: Flow, now: datetime) -> bytes:
        pending = webauthn_request(flow)
        if not pending.challenge or not pending.expires_at or now >= pending.expires_at:
            raise InvalidFactorResponse("The security key request expired. Try again.",
                                        code="webauthn.challenge_expired")
        return webauthn.decode_b64url(pending.challenge)

    async def _factor(self, submission: Submission) -> Factor | None:
        if not isinstance(submission, FactorSubmission) or submission.credential is None:
            raise InvalidFactorResponse("Send the security key's answer as credential.")
        try:
            credential_id = webauthn.encode_b64url(webauthn.credential_id_of(
                submission.credential))
        except InvalidWebAuthnResponse:
            raise InvalidFactorResponse() from None
        async with self.kit.store.unit_of_work(write=False) as uow:
            factor = await uow.factors.by_credential_id(credential_id)
        return factor if factor is not None and factor.active else None

    async def _verify(self, flow: Flow, submission: Submission, factor: Factor, now: datetime,
                      *, passwordless: bool) -> None:
        assert isinstance(submission, FactorSubmission) and submission.credential is not None
        try:
            count = webauthn.verify_authentication(
                self.kit.relying_party, credential=submission.credential,
                challenge=self._challenge(flow, now), stored=stored_credential(factor),
                require_user_verification=passwordless,
                expected_user_handle=self.kit.user_handle(factor.account_id)
                if passwordless else None)
        except InvalidWebAuthnResponse:
            raise InvalidFactorResponse() from None
        async with self.kit.store.unit_of_work(write=True) as uow:
            await uow.factors.record_use(factor.id, now, sign_count=count)

    async def check(self, flow: Flow, submission: Submission, account: Account,
                    now: datetime) -> Flow:
        factor = await self._factor(submission)
        if factor is None or factor.account_id != account.id:
            raise InvalidFactorResponse()
        await self._verify(flow, submission, factor, now, passwordless=False)
        return without_webauthn_challenge(flow)

    def on_failure(self, flow: Flow) -> Flow:
        # The challenge was spent; the next try gets a new one with the same allow list.
        challenge = webauthn.encode_b64url(webauthn.new_challenge())
        options = {**(webauthn_request(flow).options or {}), "challenge": challenge}
        return with_webauthn_retry(flow, challenge=challenge, options=options)

    async def passwordless(self, flow: Flow, submission: Submission, ctx: RequestContext,
                           now: datetime) -> StepResult:
        kit = self.kit
        demanded = await kit.captcha.demanded(
            flow, None, ctx.ip, submission.captcha if isinstance(submission, FactorSubmission)
            else None)
        if demanded is not None:
            return demanded
        factor = await self._factor(submission)
        account = None
        if factor is not None and factor.passkey:
            async with kit.store.unit_of_work(write=False) as uow:
                account = await uow.accounts.get(factor.account_id)
        attempt = await kit.defences.reserve(ctx, account, "passkey")
        key = account.email or account.phone or "" if account else ""
        masked = "passkey"
        if account is None or factor is None or attempt.refused:
            flow = with_challenge(kit, flow, now, [], passwordless=True)
            return await _refuse(kit, flow, attempt, ctx, key, masked, "unknown_passkey",
                                 error=InvalidFactorResponse())
        try:
            await self._verify(flow, submission, factor, now, passwordless=True)
        except KeepgateError as error:
            flow = with_challenge(kit, flow, now, [], passwordless=True)
            return await _refuse(kit, flow, attempt, ctx, key, masked, "passkey_failed",
                                 error=error)
        message, digest = device_code_message(kit, flow, account, ctx, now)
        result = login.first_factor_passed(
            without_webauthn_challenge(with_claimed_value(flow, key)), account_id=account.id,
            method="passkey", masked_identifier=masked, factors=[],
            device_trusted=attempt.device is not None, device_code=message, code_digest=digest,
            now=now, code_lifetime=kit.defences.policy.sign_in_code_lifetime)
        return await _settle(kit, result, attempt, ctx, key, account)


def sign_in_methods(kit: SignInKit) -> list[Method]:
    """The password and the new-device code for sign-in; each second factor twice: once as
    sign-in's second step, once as step-up's."""
    factors = (LoginTotp, LoginRecoveryCode, LoginSmsCode, LoginEmailCode, LoginWebAuthn)
    return [LoginPassword(kit), LoginDeviceCode(kit),
            *(factor(kit, finish) for finish in (SignInFinish(), StepUpFinish())
              for factor in factors)]

