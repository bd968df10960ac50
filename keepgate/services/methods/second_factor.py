"""The shape every second factor shares in sign-in and step-up: read, reserve, check, move on.

A second factor is one check (``verify_totp``, ``verify_sent_code``, ...) behind the same
defences. The same check serves sign-in and step-up with one instance for each; only what
happens once it passed (its ``Finish``) differs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from keepgate.domain.accounts import Account
from keepgate.domain.errors import KeepgateError
from keepgate.flows import login, step_up
from keepgate.flows.base import Effect, Flow, FlowKind, StepResult
from keepgate.flows.context import account_id_of, claimed
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt
from keepgate.services.methods.attempts import SignInAttempts, Standing, standing_in
from keepgate.services.methods.base import BoundStep, Submission
from keepgate.services.ports import UnitOfWork

if TYPE_CHECKING:
    from keepgate.services.methods.device_code import NewDeviceCodes


class Finish(ABC):
    """What a proven second factor leads to in the flow kind it serves."""

    kind: FlowKind

    @abstractmethod
    def passed(self, flow: Flow, method: str, account: Account, ctx: RequestContext,
               now: datetime, attempt: Attempt) -> StepResult:
        """The step's result once the factor passed and the attempt was reserved."""


class SignInFinish(Finish):
    """Sign-in goes on: to the new-device code, or done."""

    kind = FlowKind.LOGIN

    def __init__(self, device_codes: NewDeviceCodes) -> None:
        self._device_codes = device_codes

    def passed(self, flow: Flow, method: str, account: Account, ctx: RequestContext,
               now: datetime, attempt: Attempt) -> StepResult:
        trusted = attempt.device is not None
        message, digest = (None, None) if trusted else self._device_codes.message(
            flow, account, ctx, now)
        return login.second_factor_passed(
            flow, method=method, device_trusted=trusted, device_code=message,
            code_digest=digest, now=now, code_lifetime=self._device_codes.lifetime)


class StepUpFinish(Finish):
    """Step-up is done: the session is elevated."""

    kind = FlowKind.STEP_UP

    def passed(self, flow: Flow, method: str, account: Account, ctx: RequestContext,
               now: datetime, attempt: Attempt) -> StepResult:
        return step_up.passed(flow, method=method)


class SecondFactor(ABC):
    """A second factor as a flow method: the runner's adapter over one check."""

    name = ""

    def __init__(self, attempts: SignInAttempts, finish: Finish) -> None:
        self.attempts = attempts
        self.finish = finish
        self.kinds = frozenset({finish.kind})

    async def read(self, uow: UnitOfWork, flow: Flow, submission: Submission,
                   ctx: RequestContext, now: datetime) -> BoundStep:
        standing = await standing_in(uow, ctx, now, _owner_of(flow))
        return partial(self.run, flow, submission, ctx, now, standing)

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        standing = await self.attempts.standing(ctx, now, _owner_of(flow))
        return await self.run(flow, submission, ctx, now, standing)

    async def run(self, flow: Flow, submission: Submission, ctx: RequestContext,
                  now: datetime, standing: Standing) -> StepResult:
        """Check the submission against what was read, behind the defences."""
        account = standing.account
        assert account is not None
        early = await self.before(flow, submission, account, ctx, now)
        if early is not None:
            return early
        identifier, masked = claimed(flow).value, claimed(flow).masked
        attempt = await self.attempts.reserve(ctx, standing)
        if attempt.refused:
            return await self.attempts.refuse(flow, attempt, ctx, identifier, masked, "refused")
        async with self.attempts.defences.evaluating(attempt, ctx):
            try:
                flow = await self.check(flow, submission, standing, now)
            except KeepgateError as error:
                refusal: KeepgateError | None = error
            else:
                refusal, result = None, self.passed(flow, account, ctx, now, attempt)
        if refusal is not None:
            reason, effects = self.failure(refusal, account, ctx)
            return await self.attempts.refuse(self.on_failure(flow), attempt, ctx, identifier,
                                              masked, reason, error=refusal, effects=effects)
        return await self.attempts.settle(result, attempt, ctx, identifier, account)

    async def before(self, flow: Flow, submission: Submission, account: Account,
                     ctx: RequestContext, now: datetime) -> StepResult | None:
        """An answer that needs no check (sending a code), or ``None`` to go on."""
        return None

    @abstractmethod
    async def check(self, flow: Flow, submission: Submission, standing: Standing,
                    now: datetime) -> Flow:
        """Return the flow to continue with, or raise a ``KeepgateError`` (a failure)."""

    def failure(self, error: KeepgateError, account: Account, ctx: RequestContext
                ) -> tuple[str, tuple[Effect, ...]]:
        """Why the check failed, as recorded, and what the owner should be told of it."""
        return f"{self.name}_failed", ()

    def on_failure(self, flow: Flow) -> Flow:
        """The flow as a failed check leaves it (before the failure itself is counted)."""
        return flow

    def passed(self, flow: Flow, account: Account, ctx: RequestContext, now: datetime,
               attempt: Attempt) -> StepResult:
        return self.finish.passed(flow, self.name, account, ctx, now, attempt)


def _owner_of(flow: Flow) -> Callable[[UnitOfWork], Awaitable[Account | None]]:
    """How to read the account a flow past its first factor concerns."""
    account_id = account_id_of(flow)

    async def owner(uow: UnitOfWork) -> Account | None:
        return await uow.accounts.get(account_id)

    return owner

