"""A sign-in attempt from reservation to outcome, shared by every sign-in method.

What an attempt is judged on (the account, the trusted device presented, the active factors)
is read in one unit of work. The attempt is reserved in its own committed write *before* any
secret is checked, so fifty parallel guesses never evaluate more than the limit. A refused
attempt counts and audits its failure at once; a passed one is settled in the unit of work
that saves the flow, or on its own when that save loses a race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent
from keepgate.domain.errors import KeepgateError, SendLimitReached
from keepgate.domain.factors import Factor, FactorKind, TrustedDevice
from keepgate.flows import login
from keepgate.flows.base import COMPLETED, Effect, Flow, RecordEvent, StepResult
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt, SignInDefences, trusted_device_in
from keepgate.services.guards import enrolled_methods
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.send_budget import SendBudget, Sender


@dataclass(frozen=True, slots=True)
class Standing:
    """What an attempt is judged on, read together."""

    account: Account | None
    device: TrustedDevice | None  # the account's usable trusted device the client presented
    factors: tuple[Factor, ...]  # the account's active second factors
    methods: tuple[str, ...]  # what they (and recovery codes) can prove

    def keys(self) -> list[Factor]:
        """The account's passkeys and security keys."""
        return [f for f in self.factors if f.kind is FactorKind.WEBAUTHN]


class SignInAttempts:
    def __init__(self, *, store: Store, defences: SignInDefences, budget: SendBudget) -> None:
        self.store = store
        self.defences = defences
        self._budget = budget

    async def standing(self, ctx: RequestContext, now: datetime,
                       account_of: Callable[[UnitOfWork], Awaitable[Account | None]]
                       ) -> Standing:
        """``standing_in`` a read of its own."""
        async with self.store.unit_of_work(write=False) as uow:
            return await standing_in(uow, ctx, now, account_of)

    async def reserve(self, ctx: RequestContext, standing: Standing,
                      identifier: str = "") -> Attempt:
        """Reserve the attempt (committed); raises ``Throttled`` when the IP is over."""
        return await self.defences.reserve(ctx, standing.account, identifier,
                                           device=standing.device)

    async def refuse(self, flow: Flow, attempt: Attempt, ctx: RequestContext, identifier: str,
                     masked: str, reason: str, error: KeepgateError | None = None,
                     effects: tuple[Effect, ...] = ()) -> StepResult:
        """Count the failure and answer as every refusal does; ``effects`` (telling the owner
        what the refusal revealed) go with it. The failure's audit record is written with
        the failure itself, not with the flow."""
        account_id = attempt.account.id if attempt.account else None
        refused = login.fail(flow, account_id=account_id, masked_identifier=masked,
                             reason=attempt.refusal or reason, error=error)
        records = tuple(e for e in refused.effects if isinstance(e, RecordEvent))
        await self.defences.failed(attempt, ctx, identifier, tuple(
            AuditEvent(e.kind, e.outcome, e.account_id, ctx.ip, ctx.user_agent,
                       dict(e.details)) for e in records))
        rest = tuple(e for e in refused.effects if not isinstance(e, RecordEvent))
        return replace(refused, effects=(*rest, *effects))

    async def settle(self, result: StepResult, attempt: Attempt, ctx: RequestContext,
                     identifier: str, account: Account) -> StepResult:
        """The passed step, with its settlement to write alongside the flow; a first
        new-device code spends the owner's send budget."""
        if result.flow.state == login.AWAITING_DEVICE_CODE:
            try:
                await self._budget.spend("owner", account.contact.value,
                                         sender=Sender(account.id, ctx.ip))
            except SendLimitReached:
                await self.defences.settle(attempt, ctx, identifier, completed=False)
                raise
        settlement = await self.defences.passed(attempt, ctx, identifier,
                                                completed=result.flow.state == COMPLETED)
        return replace(result, effects=(*result.effects, *settlement))


async def standing_in(uow: UnitOfWork, ctx: RequestContext, now: datetime,
                      account_of: Callable[[UnitOfWork], Awaitable[Account | None]]) -> Standing:
    """The account ``account_of`` finds, the trusted device presented and the factors."""
    account = await account_of(uow)
    if account is None:
        return Standing(None, None, (), ())
    device = await trusted_device_in(uow, ctx.device_token, account.id, now)
    factors, methods = await enrolled_methods(uow, account.id)
    return Standing(account, device, tuple(factors), tuple(methods))
