"""Single-use recovery codes: the check, the second factor, and regenerating the set.

A recovery code stands in for any second factor once; spending one tells the flow how many
are left, so the person can be warned before they run out. A code is what someone holding
the password but not the second factor would use, so each use tells every contact (with a
"this wasn't me" link), holds withdrawals for a day, and asks to set the factor up again or
make new codes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import FactorUnavailable, InvalidCode, RecoveryCodeActionRequired
from keepgate.domain.factors import RECOVERY_CODE, Factor
from keepgate.domain.holds import HoldReason
from keepgate.flows.base import (
    Feedback,
    Flow,
    IssueRecoveryCodes,
    NotifyAccount,
    PlaceHold,
    RecordEvent,
    StepResult,
)
from keepgate.flows.context import recovery_codes_left, with_recovery_codes_left
from keepgate.security import recovery_codes
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import FactorSubmission, Submission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.enrolment import EnrolmentMethod
from keepgate.services.methods.second_factor import Finish, SecondFactor
from keepgate.services.ports import Store

RECOVERY_CODE_USED = "recovery_code_used"  # the flow message asking to re-enrol or regenerate


async def verify_recovery_code(store: Store, hasher: RecoveryCodeHasher, account_id: str,
                               code: str, now: datetime) -> int:
    """Spend one of the account's recovery codes and return how many are left; or
    ``InvalidCode`` (a code never works twice)."""
    if not recovery_codes.looks_like_code(code):
        raise InvalidCode("Enter one of your recovery codes, like "
                          "ABCD-EFGH-IJKL-MNOP-QRST-UVWX.")
    async with store.unit_of_work(write=True) as uow:
        used = await uow.recovery_codes.use(account_id, hasher.digest(code), now)
        left = await uow.recovery_codes.remaining(account_id)
    if not used:
        raise InvalidCode("That recovery code is not valid or was already used.")
    return left


class RecoveryCodeCheck(SecondFactor):
    """A recovery code as sign-in's second factor, or to step up."""

    name = RECOVERY_CODE

    def __init__(self, attempts: SignInAttempts, finish: Finish, *,
                 hasher: RecoveryCodeHasher, device_codes: NewDeviceCodes) -> None:
        super().__init__(attempts, finish)
        self._hasher = hasher
        self._device_codes = device_codes

    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        raw = (submission.code if isinstance(submission, FactorSubmission) else None) or ""
        assert standing.account is not None
        left = await verify_recovery_code(self.attempts.store, self._hasher,
                                          standing.account.id, raw, now)
        return with_recovery_codes_left(flow, left)

    def passed(self, flow: Flow, account: Account, ctx: RequestContext, now: datetime,
               attempt: Attempt) -> StepResult:
        result = super().passed(flow, account, ctx, now, attempt)
        left = recovery_codes_left(flow) or 0
        prompt = Feedback(RECOVERY_CODE_USED, (
            f"You used a recovery code ({left} left). Withdrawals are held for 24 hours. If you "
            "lost your second factor, set it up again in your security settings; either way, "
            "make new recovery codes there."))
        return replace(result, flow=result.flow.evolve(
            messages=(*result.flow.messages, prompt)), effects=(
            *result.effects,
            NotifyAccount(account.id, "recovery_code_used", {
                "left": left, "ip": ctx.ip or "unknown",
                "not_me_url": self._device_codes.not_me_url(flow, account, now)}),
            PlaceHold(account.id, HoldReason.RECOVERY_CODE_USED),
        ))


class RecoveryCodeRegeneration(EnrolmentMethod):
    """A new set of recovery codes in the settings flow; the old ones stop working."""

    name = RECOVERY_CODE

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        if not factors:
            raise FactorUnavailable("Recovery codes come with your first second factor.")
        if submission.action != "regenerate":
            raise RecoveryCodeActionRequired()
        return StepResult(flow.evolve(messages=(Feedback(
            "recovery_codes.regenerated", "New recovery codes: the old ones no longer work. "
            "Save these now: they are shown only once."),)), (
            IssueRecoveryCodes(account.id),
            RecordEvent(EventKind.RECOVERY_CODES_GENERATED, Outcome.SUCCESS, account.id, {}),
        ))
