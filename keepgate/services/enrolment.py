"""Enrolling second factors (the settings flow's methods).

A TOTP secret waits in the flow, encrypted, until a valid code confirms it; only then does a
factor exist. SMS and email factors are confirmed by a code sent to the account's verified
number or address. Passkeys and security keys are confirmed by the authenticator's signed
answer to a single-use challenge. The first factor brings ten recovery codes, revealed once.

The submission that adds a factor (the TOTP code, the sent code, the authenticator's answer)
carries the password again (``password``), checked like a sign-in (``account.reauth``).
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import (
    FactorUnavailable,
    InvalidCode,
    InvalidFactorResponse,
    KeepgateError,
    PasswordReentryRequired,
    RequestRejected,
)
from keepgate.domain.factors import FACTOR_LABELS, Factor, FactorKind, clean_label
from keepgate.domain.identifiers import Identifier, IdentifierKind, parse_email, parse_phone
from keepgate.domain.policy import Policies
from keepgate.flows.base import (
    ChangeContact,
    CreateFactor,
    Flow,
    FlowKind,
    IssueRecoveryCodes,
    Message,
    RecordEvent,
    SendMessage,
    StepResult,
)
from keepgate.flows.context import (
    account_id_of,
    webauthn_request,
    with_webauthn_request,
    without_webauthn_challenge,
)
from keepgate.flows.settings import (
    ContactChange,
    account_name,
    contact_changed,
    pending_contact,
    pending_totp,
    with_pending_contact,
    with_pending_totp,
)
from keepgate.security import totp, webauthn
from keepgate.security.codes import CodeDigester
from keepgate.security.errors import InvalidWebAuthnResponse, VerificationFailed
from keepgate.security.keyring import KeyRing
from keepgate.security.tokens import new_id
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.context import RequestContext
from keepgate.services.methods import FactorSubmission, Submission
from keepgate.services.ports import Store
from keepgate.services.send_budget import SendBudget
from keepgate.services.sent_codes import CodeSlot

ISSUER = "Keepgate"


@dataclass(frozen=True, slots=True)
class EnrolmentKit:
    store: Store
    keyring: KeyRing
    digester: CodeDigester
    policies: Policies
    relying_party: webauthn.RelyingParty
    user_handle_key: bytes
    budget: SendBudget
    reauth: PasswordReauth
    challenge_lifetime: timedelta = timedelta(minutes=5)

    def user_handle(self, account_id: str) -> bytes:
        """A stable, opaque WebAuthn user handle: no email or id leaks to authenticators."""
        return hmac.new(self.user_handle_key, account_id.encode(), hashlib.sha256).digest()


async def _account_and_factors(kit: EnrolmentKit, flow: Flow) -> tuple[Account, list[Factor]]:
    async with kit.store.unit_of_work(write=False) as uow:
        account = await uow.accounts.get(account_id_of(flow))
        factors = list(await uow.factors.for_account(account_id_of(flow)))
    assert account is not None
    return account, [f for f in factors if f.active]


def _added(flow: Flow, factor: Factor, first: bool) -> StepResult:
    text = f"{factor.label} is set up."
    if first:
        text += " Save your recovery codes now: they are shown only once."
    return StepResult(flow.evolve(messages=(Message("factor.added", text),)), (
        CreateFactor(factor, first=first),
        RecordEvent(EventKind.FACTOR_ADDED, Outcome.SUCCESS, factor.account_id,
                    {"kind": factor.kind.value, "factor_id": factor.id}),
    ))


class EnrolMethod(ABC):
    """A settings-flow method: it loads the account and its active factors, then ``enrol``."""

    name = ""
    kinds = frozenset({FlowKind.SETTINGS})

    def __init__(self, kit: EnrolmentKit) -> None:
        self.kit = kit

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, FactorSubmission)
        account, factors = await _account_and_factors(self.kit, flow)
        if self.adds_factor(submission):
            if not submission.password:
                raise PasswordReentryRequired()
            await self.kit.reauth.verify(account, submission.password, ctx,
                                         failure=EventKind.FACTOR_ADDED)
        return await self.enrol(flow, submission, account, factors, now)

    def adds_factor(self, submission: FactorSubmission) -> bool:
        """Whether ``submission`` is the one that adds a factor (and needs the password)."""
        return False

    @abstractmethod
    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        """This method's own step."""


class EnrolTotp(EnrolMethod):
    name = "totp"

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.code is not None

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        if any(f.kind is FactorKind.TOTP for f in factors):
            raise FactorUnavailable("An authenticator app is already set up. Remove it first "
                                    "to move to a new phone.", code="factor.already_enrolled")
        pending = pending_totp(flow)
        if submission.code is None:
            secret = totp.new_secret()
            sealed = self.kit.keyring.encrypt(secret.encode(), context=f"pending-totp:{flow.id}")
            return StepResult(with_pending_totp(flow.evolve(messages=(Message(
                "totp.scan", "Scan the QR code with your authenticator app, or type the key "
                "in by hand and keep a copy somewhere safe. Then enter the 6-digit code."),)
            ), sealed))
        if not pending:
            raise RequestRejected("Ask for a new authenticator secret first.",
                                  code="totp.not_started")
        secret = self.kit.keyring.decrypt(pending, context=f"pending-totp:{flow.id}").decode()
        code = "".join(submission.code.split())
        try:
            step = totp.verify(secret, code, now=now, last_step=None)
        except VerificationFailed:
            raise InvalidCode("That code does not match. Check the time on your phone and "
                              "enter the current code.") from None
        factor_id = new_id()
        factor = Factor(id=factor_id, account_id=account.id, kind=FactorKind.TOTP,
                        label=FACTOR_LABELS[FactorKind.TOTP], created_at=now, confirmed_at=now,
                        secret=self.kit.keyring.encrypt(secret.encode(),
                                                        context=f"totp:{factor_id}"),
                        last_step=step)
        return _added(with_pending_totp(flow, None), factor, first=not factors)


class EnrolSentCode(EnrolMethod):
    """SMS or email as a factor: confirmed by a code sent to the verified number or address."""

    name = ""
    kind = FactorKind.SMS_CODE

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.action not in ("send", "resend")

    def destination(self, account: Account) -> Identifier:
        wanted = IdentifierKind.PHONE if self.kind is FactorKind.SMS_CODE else IdentifierKind.EMAIL
        found = account.identifier_for(wanted)
        if found is None:
            where = "mobile number" if wanted is IdentifierKind.PHONE else "email address"
            raise FactorUnavailable(f"Add and verify a {where} on your account first.")
        return found

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        to = self.destination(account)
        if any(f.kind is self.kind for f in factors):
            raise FactorUnavailable("This method is already set up.",
                                    code="factor.already_enrolled")
        codes = self.kit.policies.codes
        slot = CodeSlot(f"enrol_{self.name}", f"enrol-{self.name}", codes.lifetime)
        if submission.action in ("send", "resend"):
            code, digest = slot.new(self.kit.digester, flow, codes)
            return await slot.send(self.kit.budget, codes, flow, to, now, digest=digest,
                                   message=SendMessage("factor_code", to, {
                                       "code": code,
                                       "minutes": int(codes.lifetime.total_seconds() // 60)}))
        try:
            flow = slot.verify(self.kit.digester, codes, flow,
                               "".join((submission.code or "").split()), now)
        except KeepgateError as error:
            return _refused(slot.failed(flow, codes), error)
        factor = Factor(id=new_id(), account_id=account.id, kind=self.kind,
                        label=FACTOR_LABELS[self.kind], created_at=now, confirmed_at=now,
                        destination=to.value)
        return _added(flow, factor, first=not factors)


class EnrolSmsCode(EnrolSentCode):
    name = "sms_code"
    kind = FactorKind.SMS_CODE


class EnrolEmailCode(EnrolSentCode):
    name = "email_code"
    kind = FactorKind.EMAIL_CODE


class EnrolWebAuthn(EnrolMethod):
    name = "webauthn"

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.credential is not None

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        keys = [f for f in factors if f.kind is FactorKind.WEBAUTHN]
        if submission.credential is None:
            challenge = webauthn.new_challenge()
            passkey = submission.passkey is not False
            options = webauthn.registration_options(
                self.kit.relying_party, user_id=self.kit.user_handle(account.id),
                user_name=account.email or account.phone or account.id,
                display_name=account.email or account.phone or "Keepgate account",
                challenge=challenge, exclude=[_stored(f) for f in keys], passkey=passkey)
            return StepResult(with_webauthn_request(flow.evolve(messages=(Message(
                "webauthn.ready", "Follow your browser's prompt to create a passkey or "
                "touch your security key."),)),
                challenge=webauthn.encode_b64url(challenge),
                expires_at=now + self.kit.challenge_lifetime, options=options, passkey=passkey))
        pending = webauthn_request(flow)
        if not pending.challenge or pending.expires_at is None or now >= pending.expires_at:
            raise RequestRejected("Start again: the security key request expired.",
                                  code="webauthn.challenge_expired")
        passkey = pending.passkey
        cleared = without_webauthn_challenge(flow, options=True)
        try:
            stored = webauthn.verify_registration(
                self.kit.relying_party, credential=submission.credential,
                challenge=webauthn.decode_b64url(pending.challenge),
                require_user_verification=passkey)
        except InvalidWebAuthnResponse:
            error: KeepgateError = InvalidFactorResponse()
            error.flow = cleared
            return StepResult(cleared.evolve(messages=(Message(error.code, error.message,
                                                               "error"),)), error=error)
        label = clean_label(submission.name or "") or (
            "Passkey" if passkey else "Security key")
        factor = Factor(id=new_id(), account_id=account.id, kind=FactorKind.WEBAUTHN,
                        label=label, created_at=now, confirmed_at=now,
                        credential_id=webauthn.encode_b64url(stored.credential_id),
                        public_key=webauthn.encode_b64url(stored.public_key),
                        sign_count=stored.sign_count, transports=stored.transports,
                        passkey=passkey)
        return _added(cleared, factor, first=not factors)


class RegenerateRecoveryCodes(EnrolMethod):
    name = "recovery_code"

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        if not factors:
            raise FactorUnavailable("Recovery codes come with your first second factor.")
        if submission.action != "regenerate":
            raise RequestRejected('Send {"method": "recovery_code", "action": "regenerate"}.',
                                  code="recovery_code.action_required")
        return StepResult(flow.evolve(messages=(Message(
            "recovery_codes.regenerated", "New recovery codes: the old ones no longer work. "
            "Save these now: they are shown only once."),)), (
            IssueRecoveryCodes(account.id),
            RecordEvent(EventKind.RECOVERY_CODES_GENERATED, Outcome.SUCCESS, account.id, {}),
        ))


def _refused(flow: Flow, error: KeepgateError) -> StepResult:
    """A failed confirmation: keep the counted failure, say why."""
    error.flow = flow
    return StepResult(flow.evolve(messages=(Message(error.code, error.message, "error"),)),
                      error=error)



def _stored(factor: Factor) -> webauthn.StoredCredential:
    assert factor.credential_id and factor.public_key
    return webauthn.StoredCredential(
        credential_id=webauthn.decode_b64url(factor.credential_id),
        public_key=webauthn.decode_b64url(factor.public_key),
        sign_count=factor.sign_count, transports=factor.transports)


def pending_totp_data(kit: EnrolmentKit, flow: Flow) -> dict[str, Any]:
    """The secret waiting for its first code, to scan or type: shown only to its session."""
    pending = pending_totp(flow)
    if not pending:
        return {}
    secret = kit.keyring.decrypt(pending, context=f"pending-totp:{flow.id}").decode()
    uri = totp.provisioning_uri(secret, account_name=account_name(flow), issuer=ISSUER)
    qr = segno.make(uri, error="m").svg_inline(scale=4, light="#fff", omitsize=False)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr}


class ChangeContactMethod(EnrolMethod):
    """``{"method": "contact", "kind": "email", "value": "new@…"}`` sends a code to the new
    address; ``{"method": "contact", "code": "…"}`` makes the change.

    An address that already belongs to another account gets the same answers, but no code is
    sent to it, so the change can never complete and nothing is revealed.
    """

    name = "contact"

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], now: datetime) -> StepResult:
        codes = self.kit.policies.codes
        slot = CodeSlot("contact", "contact", codes.lifetime, budget="foreign")
        if submission.code is None:
            if submission.kind not in ("email", "phone") or not submission.value:
                raise RequestRejected('Send {"kind": "email" or "phone", "value": …}.',
                                      code="contact.invalid")
            new = (parse_email if submission.kind == "email" else parse_phone)(submission.value)
            if new.value in (account.email, account.phone):
                raise RequestRejected("That is already your address.", code="contact.unchanged")
            async with self.kit.store.unit_of_work(write=False) as uow:
                taken = await uow.accounts.find(new) is not None
            code, digest = slot.new(self.kit.digester, flow, codes)
            return await slot.send(
                self.kit.budget, codes,
                with_pending_contact(flow, ContactChange(new, account.security_version)), new,
                now, digest=None if taken else digest,
                message=None if taken else SendMessage("contact_code", new, {
                    "code": code, "minutes": int(codes.lifetime.total_seconds() // 60)}))
        try:
            flow = slot.verify(self.kit.digester, codes, flow,
                                  "".join(submission.code.split()), now)
        except KeepgateError as error:
            return _refused(slot.failed(flow, codes), error)
        change = pending_contact(flow)
        done = contact_changed(flow.evolve(messages=(Message(
            "contact.changed", "Your contact details are updated. Withdrawals are held for "
            "24 hours."),)))
        return StepResult(done, (ChangeContact(account.id, change.new,
                                               change.expected_version),))
