"""Running flows: load, check, run a method's step, persist the flow and its effects atomically.

Every submit is a compare-and-swap on the flow's version, so concurrent submits of one flow
cannot both count: one wins, the others get ``flow.conflict`` and nothing they did is kept.
That is what keeps attempt counters exact under parallel guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import (
    FlowCompleted,
    FlowConflict,
    FlowExpired,
    FlowNotFound,
    KeepgateError,
    MethodNotAllowed,
    RegistrationConflict,
    UnknownFlowKind,
)
from keepgate.domain.identifiers import IdentifierKind
from keepgate.domain.policy import Policies
from keepgate.domain.sessions import Session, assurance_level
from keepgate.flows import login, registration
from keepgate.flows.base import (
    Channel,
    CreateAccount,
    Effect,
    Flow,
    FlowKind,
    IssueSession,
    Message,
    RecordEvent,
    SendMessage,
    Transitions,
    UpdatePasswordHash,
    open_methods,
)
from keepgate.security.tokens import hash_token, new_id, new_token
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.messages import MessageRenderer
from keepgate.services.methods import Method, Submission
from keepgate.services.ports import IdentifierTaken, StaleFlow, Store, UnitOfWork

TRANSITIONS: dict[FlowKind, Transitions] = {
    FlowKind.REGISTRATION: registration.TRANSITIONS,
    FlowKind.LOGIN: login.TRANSITIONS,
}


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    token: str  # shown once, to the client that completed the flow; stored only hashed


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    flow: Flow
    issued: IssuedSession | None = None


def methods_of(flow: Flow) -> tuple[str, ...]:
    if flow.finished:
        return ()
    return open_methods(TRANSITIONS[flow.kind], flow.state)


class FlowService:
    def __init__(self, *, store: Store, clock: Clock, methods: Sequence[Method],
                 renderer: MessageRenderer, policies: Policies) -> None:
        self._store = store
        self._clock = clock
        self._renderer = renderer
        self._policies = policies
        self._methods = {(kind, m.name): m for m in methods for kind in m.kinds}

    @property
    def policies(self) -> Policies:
        return self._policies

    async def start(self, kind: str, channel: Channel, ctx: RequestContext) -> Flow:
        try:
            flow_kind = FlowKind(kind)
        except ValueError:
            raise UnknownFlowKind() from None
        now = self._clock.now()
        lifetimes = self._policies.flows
        if flow_kind is FlowKind.REGISTRATION:
            flow = registration.start(new_id(), channel, now, lifetimes.registration_lifetime,
                                      ctx.binding)
        else:
            flow = login.start(new_id(), channel, now, lifetimes.login_lifetime, ctx.binding)
        async with self._store.unit_of_work(write=True) as uow:
            await uow.flows.create(flow)
        return flow

    async def get(self, flow_id: str, channel: Channel, ctx: RequestContext) -> Flow:
        async with self._store.unit_of_work(write=False) as uow:
            flow = await uow.flows.get(flow_id)
        # A flow of the other channel, or of another browser, is as good as unknown.
        if flow is None or flow.channel is not channel or (
            channel is Channel.BROWSER and flow.binding != ctx.binding
        ):
            raise FlowNotFound()
        if flow.is_expired(self._clock.now()):
            raise FlowExpired()
        return flow

    async def submit(self, flow_id: str, channel: Channel, method_name: str,
                     submission: Submission, ctx: RequestContext) -> SubmitOutcome:
        flow = await self.get(flow_id, channel, ctx)
        if flow.finished:
            raise FlowCompleted()
        method = self._methods.get((flow.kind, method_name))
        if method is None or method_name not in methods_of(flow):
            raise MethodNotAllowed(details={"methods": list(methods_of(flow))})
        now = self._clock.now()
        try:
            result = await method.step(flow, submission, ctx, now)
        except KeepgateError as error:
            # Rejected before the step (bad input, limits): the flow is unchanged.
            error.flow = flow.evolve(messages=(Message(error.code, error.message, "error"),))
            raise
        try:
            async with self._store.unit_of_work(write=True) as uow:
                flow_after, issued = await self._apply(uow, result.flow, result.effects, ctx, now)
                saved = await uow.flows.save(flow_after)
        except StaleFlow:
            raise FlowConflict() from None
        except IdentifierTaken:
            # Only someone who received the code gets here, so they control the address.
            raise RegistrationConflict() from None
        if result.error is not None:
            result.error.flow = saved
            raise result.error
        return SubmitOutcome(saved, issued)

    async def _apply(self, uow: UnitOfWork, flow: Flow, effects: Sequence[Effect],
                     ctx: RequestContext, now: datetime) -> tuple[Flow, IssuedSession | None]:
        issued: IssuedSession | None = None
        for effect in effects:
            if isinstance(effect, SendMessage):
                rendered = self._renderer.render(effect.template, effect.to, effect.params)
                await uow.outbox.enqueue(rendered.channel, rendered.destination,
                                         rendered.template, rendered.subject, rendered.body, now)
            elif isinstance(effect, CreateAccount):
                ident = effect.identifier
                account = Account(
                    id=new_id(),
                    email=ident.value if ident.kind is IdentifierKind.EMAIL else None,
                    phone=ident.value if ident.kind is IdentifierKind.PHONE else None,
                    password_hash=effect.password_hash, status=AccountStatus.RESTRICTED,
                    kyc_tier=0, created_at=now,
                )
                await uow.accounts.create(account)
                flow = flow.evolve(account_id=account.id)
                await self._record(uow, RecordEvent(EventKind.SIGNUP, Outcome.SUCCESS, account.id,
                                                    {"identifier": ident.masked()}), ctx, now)
            elif isinstance(effect, IssueSession):
                issued = await self._issue_session(uow, effect, flow.channel, ctx, now)
                flow = flow.evolve(session_id=issued.session.id)
            elif isinstance(effect, UpdatePasswordHash):
                await uow.accounts.set_password_hash(effect.account_id, effect.password_hash)
                await self._record(uow, RecordEvent(EventKind.PASSWORD_REHASHED, Outcome.SUCCESS,
                                                    effect.account_id), ctx, now)
            else:
                await self._record(uow, effect, ctx, now)
        return flow, issued

    async def _issue_session(self, uow: UnitOfWork, effect: IssueSession, channel: Channel,
                             ctx: RequestContext, now: datetime) -> IssuedSession:
        token = new_token()
        session = Session(
            id=new_id(), account_id=effect.account_id, token_hash=hash_token(token),
            aal=assurance_level(effect.methods), methods=effect.methods, channel=channel.value,
            created_at=now, last_seen_at=now,
            expires_at=now + self._policies.sessions.absolute_timeout,
            ip=ctx.ip, user_agent=ctx.user_agent,
        )
        await uow.sessions.create(session)
        return IssuedSession(session, token)

    @staticmethod
    async def _record(uow: UnitOfWork, event: RecordEvent, ctx: RequestContext,
                      now: datetime) -> None:
        await uow.audit.append(
            AuditEvent(event.kind, event.outcome, event.account_id, ctx.ip, ctx.user_agent,
                       dict(event.details)),
            now,
        )
