"""Running flows: load, check, run a method's step, persist the flow and its effects atomically.

The runner knows no flow kind by name: it looks each one up in ``keepgate.flows.registry``
(how it starts, which methods are open, who may drive it) and checks that every step lands
on a state the kind's transition table allows. Every submit is a compare-and-swap on the
flow's version, so concurrent submits of one flow cannot both count: one wins, the others get
``flow.conflict`` and nothing they did is kept. Signed-in flows belong to the session that
started them. A method that reads what it needs (``ReadsWithFlow``) does so in the unit of
work that loads the flow, so a submission reads once and writes its outcome once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from keepgate.domain.errors import (
    AuthenticationRequired,
    FlowCompleted,
    FlowConflict,
    FlowExpired,
    FlowNotFound,
    KeepgateError,
    MethodNotAllowed,
    RegistrationConflict,
)
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.policy import Policies
from keepgate.domain.principals import CustomerSession
from keepgate.flows.base import Channel, Effect, Feedback, Flow, SettleAttempt, StepResult
from keepgate.flows.registry import spec_for
from keepgate.flows.spec import FlowSpec, Opening, Owner
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.security.tokens import new_id
from keepgate.services.access import AccessService
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.defences import write_settlement
from keepgate.services.effects import EffectRun, IssuedSession, carry_out, effect_handlers
from keepgate.services.guards import factor_methods
from keepgate.services.methods import Method, Submission
from keepgate.services.methods.base import ReadsWithFlow
from keepgate.services.notices import Notifier
from keepgate.services.ports import IdentifierTaken, StaleFlow, Store, UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    flow: Flow
    issued: IssuedSession | None = None
    device_token: str | None = None  # a newly trusted device: shown once
    revealed: dict[str, Any] = field(default_factory=dict)  # recovery codes: shown once


def methods_of(flow: Flow) -> tuple[str, ...]:
    """What a client may submit to the flow now."""
    return spec_for(flow.kind).methods(flow)


class FlowService:
    def __init__(self, *, store: Store, clock: Clock, methods: Sequence[Method],
                 notifier: Notifier, policies: Policies, defences: DefencePolicy,
                 recovery: RecoveryCodeHasher, access: AccessService,
                 signer: LinkSigner | None = None, public_url: str = "",
                 captcha: CaptchaGate | None = None) -> None:
        self._store = store
        self._captcha = captcha
        self._access = access
        self._clock = clock
        self._policies = policies
        self._methods = {(kind, m.name): m for m in methods for kind in m.kinds}
        self._effects = effect_handlers(notifier=notifier, sessions=policies.sessions,
                                        defences=defences, recovery=recovery, signer=signer,
                                        public_url=public_url)

    @property
    def policies(self) -> Policies:
        return self._policies

    async def start(self, kind: str, channel: Channel, ctx: RequestContext,
                    principal: CustomerSession | None = None) -> Flow:
        spec = spec_for(kind)
        owner = await self._owner(principal) if spec.signed_in else None
        now = self._clock.now()
        flow = spec.start(Opening(new_id(), channel, now, self._policies, ctx.binding, owner))
        for method in self._methods.values():
            prepare = getattr(method, "prepare", None)
            if prepare is not None and flow.kind in method.kinds:
                flow = await prepare(flow, now)
        if self._captcha is not None and not spec.signed_in:
            flow = await self._captcha.ahead(flow, ctx.ip)
        async with self._store.unit_of_work(write=True) as uow:
            await uow.flows.create(flow)
        return flow

    async def _owner(self, principal: CustomerSession | None) -> Owner:
        if principal is None:
            raise AuthenticationRequired()
        account = principal.account
        return Owner(account_id=account.id, session_id=principal.session.id,
                     account_name=account.email or account.phone or account.id,
                     factors=tuple(await factor_methods(self._store, account.id)))

    async def get(self, flow_id: str, channel: Channel, ctx: RequestContext,
                  principal: CustomerSession | None = None) -> Flow:
        async with self._store.unit_of_work(write=False) as uow:
            return await self._load(uow, flow_id, channel, ctx, principal)

    async def _load(self, uow: UnitOfWork, flow_id: str, channel: Channel, ctx: RequestContext,
                    principal: CustomerSession | None) -> Flow:
        flow = await uow.flows.get(flow_id)
        # A flow of the other channel, another browser or another session is as good as unknown.
        if flow is None or flow.channel is not channel or (
            channel is Channel.BROWSER and flow.binding != ctx.binding
        ) or (spec_for(flow.kind).signed_in and (
            principal is None or principal.session.id != flow.session_id)):
            raise FlowNotFound()
        if flow.is_expired(self._clock.now()):
            raise FlowExpired()
        return flow

    async def submit(self, flow_id: str, channel: Channel, method_name: str,
                     submission: Submission, ctx: RequestContext,
                     principal: CustomerSession | None = None) -> SubmitOutcome:
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            flow = await self._load(uow, flow_id, channel, ctx, principal)
            spec, method = self._open_method(flow, method_name)
            # What the method needs is read with the flow: one read per submission.
            bound = await _unchanged_on_error(flow, method.read(
                uow, flow, submission, ctx, now)) if isinstance(method, ReadsWithFlow) else None
        action = spec.guarded_action(method_name)
        if action is not None:
            assert principal is not None
            await _unchanged_on_error(flow, self._access.require(principal, action, ctx))
        result = await _unchanged_on_error(
            flow, bound() if bound is not None else method.step(flow, submission, ctx, now))
        spec.check_landing(flow.state, method_name, result.flow.state,
                           refused=result.error is not None)
        run = await self._persist(result, ctx, principal, now)
        if result.error is not None:
            result.error.flow = run.flow
            raise result.error
        return SubmitOutcome(run.flow, run.issued, run.device_token, run.revealed)

    def _open_method(self, flow: Flow, method_name: str) -> tuple[FlowSpec, Method]:
        if flow.finished:
            raise FlowCompleted()
        spec = spec_for(flow.kind)
        method = self._methods.get((flow.kind, method_name))
        if method is None or method_name not in spec.methods(flow):
            raise MethodNotAllowed(details={"methods": list(spec.methods(flow))})
        return spec, method

    async def _persist(self, result: StepResult, ctx: RequestContext,
                       principal: CustomerSession | None, now: datetime) -> EffectRun:
        """The new flow and everything its step asked for, in one unit of work."""
        try:
            async with self._store.unit_of_work(write=True) as uow:
                run = EffectRun(uow, ctx, now, principal, result.flow)
                await carry_out(self._effects, result.effects, run)
                run.flow = await uow.flows.save(run.flow)
        except StaleFlow:
            await self._give_back(result.effects, now)
            raise FlowConflict() from None
        except IdentifierTaken:
            # Only someone who received the code gets here, so they control the address.
            raise RegistrationConflict() from None
        return run


    async def _give_back(self, effects: Sequence[Effect], now: datetime) -> None:
        """A passed sign-in step whose flow lost the race to be saved: its reservation is
        given back on its own, as not completed (no session was issued)."""
        settlements = [replace(e, completed=False) for e in effects
                       if isinstance(e, SettleAttempt)]
        if settlements:
            async with self._store.unit_of_work(write=True) as uow:
                for settlement in settlements:
                    await write_settlement(uow, settlement, now)


async def _unchanged_on_error(flow: Flow, step: Awaitable[T]) -> T:
    """``step``'s answer; rejected before the step (bad input, limits), the flow is unchanged
    and the error carries it, with its message."""
    try:
        return await step
    except KeepgateError as error:
        if error.flow is None:
            error.flow = flow.evolve(messages=(Feedback(error.code, error.message, "error"),))
        raise
