"""Passkeys and security keys: the assertion check, the second factor, passwordless sign-in
and enrolment.

Every ceremony answers a single-use challenge kept in the flow for five minutes. Awaiting
credentials, passkeys are offered from the start (passwordless sign-in, which needs user
verification); as a second factor, the account's own keys are.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    InvalidFactorResponse,
    KeepgateError,
    PasskeysUnavailable,
    WebAuthnChallengeExpired,
)
from keepgate.domain.factors import Factor, FactorKind, clean_label
from keepgate.flows import login
from keepgate.flows.base import Effect, Feedback, Flow, NotifyAccount, StepResult
from keepgate.flows.context import (
    account_id_of,
    webauthn_request,
    with_claimed_value,
    with_webauthn_request,
    with_webauthn_retry,
    without_webauthn_challenge,
)
from keepgate.security import webauthn
from keepgate.security.errors import ClonedAuthenticator, InvalidWebAuthnResponse
from keepgate.security.tokens import new_id
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.captcha import CaptchaGate
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import BoundStep, FactorSubmission, Submission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.enrolment import FactorEnrolment, factor_added
from keepgate.services.methods.second_factor import Finish, SecondFactor
from keepgate.services.ports import Store, UnitOfWork


class UserHandles:
    """Stable, opaque WebAuthn user handles: no email or id leaks to authenticators."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, account_id: str) -> bytes:
        return hmac.new(self._key, account_id.encode(), hashlib.sha256).digest()


def stored_credential(factor: Factor) -> webauthn.StoredCredential:
    """A WebAuthn factor as the verifier knows it."""
    assert factor.credential_id and factor.public_key
    return webauthn.StoredCredential(
        credential_id=webauthn.decode_b64url(factor.credential_id),
        public_key=webauthn.decode_b64url(factor.public_key),
        sign_count=factor.sign_count, transports=factor.transports)


def usable(relying_party: webauthn.RelyingParty) -> bool:
    """Browsers refuse an IP address as a relying-party id (``http://127.0.0.1:8000``)."""
    try:
        ipaddress.ip_address(relying_party.id)
    except ValueError:
        return True
    return False


class Challenges:
    """Single-use assertion challenges, kept in the flow with the options built on them."""

    def __init__(self, relying_party: webauthn.RelyingParty, lifetime: timedelta) -> None:
        self.relying_party = relying_party
        self.lifetime = lifetime

    def require_usable(self) -> None:
        """``PasskeysUnavailable`` where browsers refuse every passkey: the real reason, not
        an unverifiable answer."""
        if not usable(self.relying_party):
            raise PasskeysUnavailable()

    def offer(self, flow: Flow, now: datetime, allow: Sequence[Factor], *,
              passwordless: bool) -> Flow:
        """A fresh challenge for ``allow`` (any passkey when empty), valid five minutes; none
        where browsers would refuse it, so nothing offers a passkey there."""
        if not usable(self.relying_party):
            return flow
        challenge = webauthn.new_challenge()
        options = webauthn.authentication_options(
            self.relying_party, challenge=challenge,
            allow=[stored_credential(f) for f in allow],
            user_verification="required" if passwordless else "preferred")
        return with_webauthn_request(flow, challenge=webauthn.encode_b64url(challenge),
                                     expires_at=now + self.lifetime, options=options)


def pending_challenge(flow: Flow, now: datetime) -> bytes:
    """The flow's unexpired challenge, or ``WebAuthnChallengeExpired``."""
    pending = webauthn_request(flow)
    if not pending.challenge or not pending.expires_at or now >= pending.expires_at:
        raise WebAuthnChallengeExpired()
    return webauthn.decode_b64url(pending.challenge)


NO_ANSWER = ("No answer came from a passkey or security key: the request was cancelled or "
             "timed out, or this page is not open at the site's own address, the only one "
             "where passkeys work. Try again.")


async def credential_factor(store: Store, credential: dict[str, object] | None) -> Factor | None:
    """The active factor an authenticator's answer names, if any."""
    if credential is None:
        raise InvalidFactorResponse("Send the security key's answer as credential.")
    if not credential:  # what a browser posts when its ceremony failed
        raise InvalidFactorResponse(NO_ANSWER)
    try:
        credential_id = webauthn.encode_b64url(webauthn.credential_id_of(credential))
    except InvalidWebAuthnResponse:
        raise InvalidFactorResponse() from None
    async with store.unit_of_work(write=False) as uow:
        factor = await uow.factors.by_credential_id(credential_id)
    return factor if factor is not None and factor.active else None


class KeyCloned(Exception):
    """Why a key's answer was refused, when its sign count says the key was copied: the
    cause of the public ``InvalidFactorResponse``, naming the factor."""

    def __init__(self, factor: Factor) -> None:
        super().__init__(factor.id)
        self.factor = factor


def cloned_key_notice(error: KeepgateError, account: Account, ctx: RequestContext
                      ) -> NotifyAccount | None:
    """The owner's notice when ``error`` refused a copied key; ``None`` for other failures."""
    cause = error.__cause__
    if not isinstance(cause, KeyCloned):
        return None
    return NotifyAccount(account.id, "passkey_cloned",
                         {"factor": cause.factor.label, "ip": ctx.ip or "unknown"})


async def verify_assertion(store: Store, relying_party: webauthn.RelyingParty, *,
                           credential: dict[str, object], challenge: bytes, factor: Factor,
                           now: datetime, user_handle: bytes | None = None) -> None:
    """Check the authenticator's signed answer and record the key's use (its sign count);
    or ``InvalidFactorResponse``. A ``user_handle`` demands user verification too."""
    try:
        count = webauthn.verify_authentication(
            relying_party, credential=credential, challenge=challenge,
            stored=stored_credential(factor),
            require_user_verification=user_handle is not None,
            expected_user_handle=user_handle)
    except ClonedAuthenticator:
        raise InvalidFactorResponse() from KeyCloned(factor)
    except InvalidWebAuthnResponse:
        raise InvalidFactorResponse() from None
    async with store.unit_of_work(write=True) as uow:
        await uow.factors.record_use(factor.id, now, sign_count=count)


def _credential(submission: Submission) -> dict[str, object] | None:
    return submission.credential if isinstance(submission, FactorSubmission) else None


class WebAuthnCheck(SecondFactor):
    """A security key or passkey as the second factor, or a passkey alone (passwordless)."""

    name = "webauthn"

    def __init__(self, attempts: SignInAttempts, finish: Finish, *, challenges: Challenges,
                 handles: UserHandles, captcha: CaptchaGate,
                 device_codes: NewDeviceCodes) -> None:
        super().__init__(attempts, finish)
        self._challenges = challenges
        self._handles = handles
        self._captcha = captcha
        self._device_codes = device_codes

    async def prepare(self, flow: Flow, now: datetime) -> Flow:
        """Awaiting credentials, passkeys are offered from the start (passwordless sign-in);
        awaiting a second factor (step-up), the account's keys are."""
        if flow.state == login.AWAITING_CREDENTIALS:
            return self._challenges.offer(flow, now, [], passwordless=True)
        async with self.attempts.store.unit_of_work(write=False) as uow:
            factors = await uow.factors.for_account(account_id_of(flow))
        keys = [f for f in factors if f.active and f.kind is FactorKind.WEBAUTHN]
        return self._challenges.offer(flow, now, keys, passwordless=False) if keys else flow

    async def read(self, uow: UnitOfWork, flow: Flow, submission: Submission,
                   ctx: RequestContext, now: datetime) -> BoundStep:
        self._challenges.require_usable()
        if flow.state == login.AWAITING_CREDENTIALS:  # the credential names the account
            return partial(self.passwordless, flow, submission, ctx, now)
        return await super().read(uow, flow, submission, ctx, now)

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        self._challenges.require_usable()
        if flow.state == login.AWAITING_CREDENTIALS:
            return await self.passwordless(flow, submission, ctx, now)
        return await super().step(flow, submission, ctx, now)

    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        credential = _credential(submission)
        factor = await credential_factor(self.attempts.store, credential)
        assert standing.account is not None
        if factor is None or factor.account_id != standing.account.id:
            raise InvalidFactorResponse()
        assert credential is not None
        await verify_assertion(self.attempts.store, self._challenges.relying_party,
                               credential=credential, challenge=pending_challenge(flow, now),
                               factor=factor, now=now)
        return without_webauthn_challenge(flow)

    def failure(self, error: KeepgateError, account: Account, ctx: RequestContext
                ) -> tuple[str, tuple[Effect, ...]]:
        """A copied key is recorded as such, and its owner is told."""
        notice = cloned_key_notice(error, account, ctx)
        if notice is not None:
            return f"{self.name}_cloned", (notice,)
        return super().failure(error, account, ctx)

    def on_failure(self, flow: Flow) -> Flow:
        # The challenge was spent; the next try gets a new one with the same allow list.
        challenge = webauthn.encode_b64url(webauthn.new_challenge())
        options = {**(webauthn_request(flow).options or {}), "challenge": challenge}
        return with_webauthn_retry(flow, challenge=challenge, options=options)

    async def passwordless(self, flow: Flow, submission: Submission, ctx: RequestContext,
                           now: datetime) -> StepResult:
        demanded = await self._captcha.demanded(
            flow, None, ctx.ip, submission.captcha if isinstance(submission, FactorSubmission)
            else None)
        if demanded is not None:
            return demanded
        credential = _credential(submission)
        factor = await credential_factor(self.attempts.store, credential)
        owner = factor.account_id if factor is not None and factor.passkey else None

        async def account_of(uow: UnitOfWork) -> Account | None:
            return await uow.accounts.get(owner) if owner is not None else None

        standing = await self.attempts.standing(ctx, now, account_of)
        attempt = await self.attempts.reserve(ctx, standing, "passkey")
        account = standing.account
        key = account.email or account.phone or "" if account else ""
        masked = "passkey"
        if account is None or factor is None or attempt.refused:
            flow = self._challenges.offer(flow, now, [], passwordless=True)
            return await self.attempts.refuse(flow, attempt, ctx, key, masked,
                                              "unknown_passkey", error=InvalidFactorResponse())
        assert credential is not None
        try:
            await verify_assertion(self.attempts.store, self._challenges.relying_party,
                                   credential=credential, challenge=pending_challenge(flow, now),
                                   factor=factor, now=now,
                                   user_handle=self._handles.of(factor.account_id))
        except KeepgateError as error:
            flow = self._challenges.offer(flow, now, [], passwordless=True)
            notice = cloned_key_notice(error, account, ctx)
            return await self.attempts.refuse(
                flow, attempt, ctx, key, masked,
                "passkey_failed" if notice is None else "passkey_cloned", error=error,
                effects=() if notice is None else (notice,))
        trusted = attempt.device is not None
        message, digest = (None, None) if trusted else self._device_codes.message(
            flow, account, ctx, now)
        result = login.first_factor_passed(
            without_webauthn_challenge(with_claimed_value(flow, key)), account_id=account.id,
            method="passkey", masked_identifier=masked, factors=[], device_trusted=trusted,
            device_code=message, code_digest=digest, now=now,
            code_lifetime=self._device_codes.lifetime)
        return await self.attempts.settle(result, attempt, ctx, key, account)


class WebAuthnEnrolment(FactorEnrolment):
    """A new passkey or security key: creation options first, then the authenticator's
    signed answer to them."""

    name = "webauthn"

    def __init__(self, store: Store, *, reauth: PasswordReauth,
                 relying_party: webauthn.RelyingParty, handles: UserHandles,
                 challenge_lifetime: timedelta) -> None:
        super().__init__(store, reauth=reauth)
        self._relying_party = relying_party
        self._handles = handles
        self._lifetime = challenge_lifetime

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.credential is not None

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        if not usable(self._relying_party):
            raise PasskeysUnavailable()
        if submission.credential is None:
            keys = [f for f in factors if f.kind is FactorKind.WEBAUTHN]
            return self._options(flow, submission, account, keys, now)
        pending = webauthn_request(flow)
        if not pending.challenge or pending.expires_at is None or now >= pending.expires_at:
            raise WebAuthnChallengeExpired("Start again: the security key request expired.")
        passkey = pending.passkey
        cleared = without_webauthn_challenge(flow, options=True)
        try:
            stored = webauthn.verify_registration(
                self._relying_party, credential=submission.credential,
                challenge=webauthn.decode_b64url(pending.challenge),
                require_user_verification=passkey)
        except InvalidWebAuthnResponse:
            error: KeepgateError = InvalidFactorResponse()
            error.flow = cleared
            return StepResult(cleared.evolve(messages=(Feedback(error.code, error.message,
                                                               "error"),)), error=error)
        label = clean_label(submission.name or "") or (
            "Passkey" if passkey else "Security key")
        factor = Factor(id=new_id(), account_id=account.id, kind=FactorKind.WEBAUTHN,
                        label=label, created_at=now, confirmed_at=now,
                        credential_id=webauthn.encode_b64url(stored.credential_id),
                        public_key=webauthn.encode_b64url(stored.public_key),
                        sign_count=stored.sign_count, transports=stored.transports,
                        passkey=passkey)
        return factor_added(cleared, factor, first=not factors)

    def _options(self, flow: Flow, submission: FactorSubmission, account: Account,
                 keys: list[Factor], now: datetime) -> StepResult:
        challenge = webauthn.new_challenge()
        passkey = submission.passkey is not False
        options = webauthn.registration_options(
            self._relying_party, user_id=self._handles.of(account.id),
            user_name=account.email or account.phone or account.id,
            display_name=account.email or account.phone or "Keepgate account",
            challenge=challenge, exclude=[stored_credential(f) for f in keys], passkey=passkey)
        return StepResult(with_webauthn_request(flow.evolve(messages=(Feedback(
            "webauthn.ready", "Follow your browser's prompt to create a passkey or "
            "touch your security key."),)),
            challenge=webauthn.encode_b64url(challenge),
            expires_at=now + self._lifetime, options=options, passkey=passkey))
