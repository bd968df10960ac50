"""The shape every settings-flow method shares: load the account and its factors, then enrol.

SMS and email factors are confirmed by a code sent to the account's verified number or
address; passkeys and security keys by the authenticator's signed answer to a single-use
challenge; an authenticator app by its first code. The first factor brings ten recovery
codes, revealed once.

A method that adds a factor (``FactorEnrolment``) asks for the password again with the
submission that adds it (``password``), checked like a sign-in (``services.account.reauth``):
a stolen session alone cannot add the thief's own factor. Changing the email address or phone
number is one of them: the SMS and email factors send their codes there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import KeepgateError, PasswordReentryRequired
from keepgate.domain.factors import Factor
from keepgate.flows.base import CreateFactor, Feedback, Flow, FlowKind, RecordEvent, StepResult
from keepgate.flows.context import account_id_of
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.context import RequestContext
from keepgate.services.methods.base import FactorSubmission, Submission
from keepgate.services.ports import Store


class EnrolmentMethod(ABC):
    """A settings-flow method: it loads the account and its active factors, then ``enrol``."""

    name = ""
    kinds = frozenset({FlowKind.SETTINGS})

    def __init__(self, store: Store) -> None:
        self.store = store

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        assert isinstance(submission, FactorSubmission)
        async with self.store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(account_id_of(flow))
            factors = [f for f in await uow.factors.for_account(account_id_of(flow)) if f.active]
        assert account is not None
        await self.check(submission, account, ctx)
        return await self.enrol(flow, submission, account, factors, ctx, now)

    async def check(self, submission: FactorSubmission, account: Account,
                    ctx: RequestContext) -> None:
        """What the submission must prove before ``enrol``: by default, nothing more than
        the step-up the settings flow's access decision already asked for."""
        return

    @abstractmethod
    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        """This method's own step."""


class FactorEnrolment(EnrolmentMethod):
    """A settings-flow method that adds a second factor: the submission that adds it (the
    ``adds_factor`` one) carries the password again; a wrong one is audited as a failed
    ``reauth_failure`` event."""

    reauth_failure = EventKind.FACTOR_ADDED

    def __init__(self, store: Store, *, reauth: PasswordReauth) -> None:
        super().__init__(store)
        self.reauth = reauth

    @abstractmethod
    def adds_factor(self, submission: FactorSubmission) -> bool:
        """Whether ``submission`` is the one that adds the factor."""

    async def check(self, submission: FactorSubmission, account: Account,
                    ctx: RequestContext) -> None:
        if not self.adds_factor(submission):
            return
        if not submission.password:
            raise PasswordReentryRequired()
        await self.reauth.verify(account, submission.password, ctx,
                                 failure=self.reauth_failure)


def factor_added(flow: Flow, factor: Factor, first: bool) -> StepResult:
    text = f"{factor.label} is set up."
    if first:
        text += " Save your recovery codes now: they are shown only once."
    return StepResult(flow.evolve(messages=(Feedback("factor.added", text),)), (
        CreateFactor(factor, first=first),
        RecordEvent(EventKind.FACTOR_ADDED, Outcome.SUCCESS, factor.account_id,
                    {"kind": factor.kind.value, "factor_id": factor.id}),
    ))


def refused(flow: Flow, error: KeepgateError) -> StepResult:
    """A failed confirmation: keep what the failure changed in the flow, say why."""
    error.flow = flow
    return StepResult(flow.evolve(messages=(Feedback(error.code, error.message, "error"),)),
                      error=error)
