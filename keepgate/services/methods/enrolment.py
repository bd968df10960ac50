"""The shape every settings-flow method shares: load the account and its factors, then enrol.

SMS and email factors are confirmed by a code sent to the account's verified number or
address; passkeys and security keys by the authenticator's signed answer to a single-use
challenge; an authenticator app by its first code. The first factor brings ten recovery
codes, revealed once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import KeepgateError
from keepgate.domain.factors import Factor
from keepgate.flows.base import CreateFactor, Flow, FlowKind, Message, RecordEvent, StepResult
from keepgate.flows.context import account_id_of
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
        return await self.enrol(flow, submission, account, factors, ctx, now)

    @abstractmethod
    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        """This method's own step."""


def factor_added(flow: Flow, factor: Factor, first: bool) -> StepResult:
    text = f"{factor.label} is set up."
    if first:
        text += " Save your recovery codes now: they are shown only once."
    return StepResult(flow.evolve(messages=(Message("factor.added", text),)), (
        CreateFactor(factor, first=first),
        RecordEvent(EventKind.FACTOR_ADDED, Outcome.SUCCESS, factor.account_id,
                    {"kind": factor.kind.value, "factor_id": factor.id}),
    ))


def refused(flow: Flow, error: KeepgateError) -> StepResult:
    """A failed confirmation: keep what the failure changed in the flow, say why."""
    error.flow = flow
    return StepResult(flow.evolve(messages=(Message(error.code, error.message, "error"),)),
                      error=error)
