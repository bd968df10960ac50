"""Authenticator-app codes (TOTP): the check, the second factor, and enrolment.

A TOTP secret waits in the settings flow, encrypted, until a valid code confirms it; only
then does a factor exist. Each code works once: its time step is claimed on the factor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import segno

from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    FactorAlreadyEnrolled,
    InvalidCode,
    KeepgateError,
    TotpNotStarted,
)
from keepgate.domain.factors import FACTOR_LABELS, Factor, FactorKind
from keepgate.flows.base import Effect, Feedback, Flow, NotifyAccount, StepResult
from keepgate.flows.settings import account_name, pending_totp, with_pending_totp
from keepgate.security import totp
from keepgate.security.errors import VerificationFailed
from keepgate.security.keyring import KeyRing
from keepgate.security.tokens import new_id
from keepgate.security.totp import ReplayedTotp
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import FactorSubmission, Submission, code_of, well_formed
from keepgate.services.methods.enrolment import FactorEnrolment, factor_added
from keepgate.services.methods.second_factor import Finish, SecondFactor
from keepgate.services.ports import Store

ISSUER = "Keepgate"


async def verify_totp(store: Store, keyring: KeyRing, factors: Iterable[Factor], code: str,
                      now: datetime) -> Factor:
    """The authenticator ``code`` belongs to, its time step claimed so the code works once;
    or ``InvalidCode``."""
    code = well_formed(code, totp.DIGITS)
    for factor in factors:
        if factor.kind is not FactorKind.TOTP or factor.secret is None:
            continue
        seed = keyring.decrypt(factor.secret, context=f"totp:{factor.id}").decode()
        try:
            step = totp.verify(seed, code, now=now, last_step=factor.last_step)
        except ReplayedTotp as replay:
            raise _wrong_code() from replay
        except VerificationFailed:
            continue
        async with store.unit_of_work(write=True) as uow:
            if await uow.factors.claim_step(factor.id, step, now):  # each code once
                return factor
        raise _wrong_code() from ReplayedTotp()  # a parallel request claimed the step first
    raise _wrong_code()


def _wrong_code() -> InvalidCode:
    """The one answer to a wrong code and to a replayed one alike."""
    return InvalidCode("That code is not correct. Use the current code from your app.")


class TotpCheck(SecondFactor):
    """An authenticator code as sign-in's second factor, or to step up."""

    name = "totp"

    def __init__(self, attempts: SignInAttempts, finish: Finish, *, keyring: KeyRing) -> None:
        super().__init__(attempts, finish)
        self._keyring = keyring

    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        await verify_totp(self.attempts.store, self._keyring, standing.factors,
                          code_of(submission), now)
        return flow

    def failure(self, error: KeepgateError, account: Account, ctx: RequestContext
                ) -> tuple[str, tuple[Effect, ...]]:
        """A replayed code means someone who knows the password saw a code the owner used:
        recorded as a replay, and the owner is told."""
        if isinstance(error.__cause__, ReplayedTotp):
            return f"{self.name}_replayed", (NotifyAccount(
                account.id, "totp_replayed", {"ip": ctx.ip or "unknown"}),)
        return super().failure(error, account, ctx)


class TotpEnrolment(FactorEnrolment):
    """First a secret to scan (``code`` absent), then the code that proves it was saved."""

    name = "totp"

    def __init__(self, store: Store, *, reauth: PasswordReauth, keyring: KeyRing) -> None:
        super().__init__(store, reauth=reauth)
        self._keyring = keyring

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.code is not None

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        if any(f.kind is FactorKind.TOTP for f in factors):
            raise FactorAlreadyEnrolled("An authenticator app is already set up. Remove it "
                                        "first to move to a new phone.")
        if submission.code is None:
            return self._new_secret(flow)
        pending = pending_totp(flow)
        if not pending:
            raise TotpNotStarted()
        secret = self._keyring.decrypt(pending, context=f"pending-totp:{flow.id}").decode()
        try:
            step = totp.verify(secret, "".join(submission.code.split()), now=now,
                               last_step=None)
        except VerificationFailed:
            raise InvalidCode("That code does not match. Check the time on your phone and "
                              "enter the current code.") from None
        factor_id = new_id()
        factor = Factor(id=factor_id, account_id=account.id, kind=FactorKind.TOTP,
                        label=FACTOR_LABELS[FactorKind.TOTP], created_at=now, confirmed_at=now,
                        secret=self._keyring.encrypt(secret.encode(), context=f"totp:{factor_id}"),
                        last_step=step)
        return factor_added(with_pending_totp(flow, None), factor, first=not factors)

    def _new_secret(self, flow: Flow) -> StepResult:
        secret = totp.new_secret()
        sealed = self._keyring.encrypt(secret.encode(), context=f"pending-totp:{flow.id}")
        return StepResult(with_pending_totp(flow.evolve(messages=(Feedback(
            "totp.scan", "Scan the QR code with your authenticator app, or type the key "
            "in by hand and keep a copy somewhere safe. Then enter the 6-digit code."),)
        ), sealed))


def pending_totp_data(keyring: KeyRing, flow: Flow, issuer: str = ISSUER) -> dict[str, Any]:
    """The secret waiting for its first code, to scan or type: shown only to its session.
    ``issuer`` is the name the authenticator app shows beside the codes (the brand's)."""
    pending = pending_totp(flow)
    if not pending:
        return {}
    secret = keyring.decrypt(pending, context=f"pending-totp:{flow.id}").decode()
    uri = totp.provisioning_uri(secret, account_name=account_name(flow), issuer=issuer)
    qr = segno.make(uri, error="m").svg_inline(scale=4, light="#fff", omitsize=False)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr}
