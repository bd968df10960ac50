"""Single-use recovery codes: the check, the second factor, and regenerating the set.

A recovery code stands in for any second factor once; spending one tells the flow how many
are left, so the person can be warned before they run out.
"""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import FactorUnavailable, InvalidCode, RecoveryCodeActionRequired
from keepgate.domain.factors import RECOVERY_CODE, Factor
from keepgate.flows.base import Flow, IssueRecoveryCodes, Message, RecordEvent, StepResult
from keepgate.flows.context import with_recovery_codes_left
from keepgate.security import recovery_codes
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.methods.base import FactorSubmission, Submission
from keepgate.services.methods.enrolment import EnrolmentMethod
from keepgate.services.methods.second_factor import Finish, SecondFactor
from keepgate.services.ports import Store


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
                 hasher: RecoveryCodeHasher) -> None:
        super().__init__(attempts, finish)
        self._hasher = hasher

    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        raw = (submission.code if isinstance(submission, FactorSubmission) else None) or ""
        assert standing.account is not None
        left = await verify_recovery_code(self.attempts.store, self._hasher,
                                          standing.account.id, raw, now)
        return with_recovery_codes_left(flow, left)


class RecoveryCodeRegeneration(EnrolmentMethod):
    """A new set of recovery codes in the settings flow; the old ones stop working."""

    name = RECOVERY_CODE

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        if not factors:
            raise FactorUnavailable("Recovery codes come with your first second factor.")
        if submission.action != "regenerate":
            raise RecoveryCodeActionRequired()
        return StepResult(flow.evolve(messages=(Message(
            "recovery_codes.regenerated", "New recovery codes: the old ones no longer work. "
            "Save these now: they are shown only once."),)), (
            IssueRecoveryCodes(account.id),
            RecordEvent(EventKind.RECOVERY_CODES_GENERATED, Outcome.SUCCESS, account.id, {}),
        ))
