"""Running flows: load, check, run a method's step, persist the flow and its effects atomically.

Every submit is a compare-and-swap on the flow's version, so concurrent submits of one flow
cannot both count: one wins, the others get ``flow.conflict`` and nothing they did is kept.
Settings and step-up flows belong to the session that started them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import (
    AuthenticationRequired,
    FlowCompleted,
    FlowConflict,
    FlowExpired,
    FlowNotFound,
    InputRejected,
    KeepgateError,
    MethodNotAllowed,
    RegistrationConflict,
    SecurityConflict,
    UnknownFlowKind,
)
from keepgate.domain.factors import (
    FACTOR_PREFERENCE,
    DefencePolicy,
    TrustedDevice,
)
from keepgate.domain.holds import HOLD_DURATION, HoldReason
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import Policies
from keepgate.domain.sessions import Session, assurance_level
from keepgate.flows import login, registration, settings, step_up
from keepgate.flows.base import (
    ChangeContact,
    Channel,
    CreateAccount,
    CreateFactor,
    Effect,
    ElevateSession,
    Flow,
    FlowKind,
    IssueRecoveryCodes,
    IssueSession,
    Message,
    RecordEvent,
    SendMessage,
    Transitions,
    UpdatePasswordHash,
    open_methods,
)
from keepgate.security import recovery_codes
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.security.tokens import hash_token, new_id, new_token
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.guards import factor_methods, require_privileged
from keepgate.services.holds import place_hold
from keepgate.services.methods import Method, Submission
from keepgate.services.notices import Notifier
from keepgate.services.ports import IdentifierTaken, StaleFlow, Store, UnitOfWork
from keepgate.services.sessions import Principal

TRANSITIONS: dict[FlowKind, Transitions] = {
    FlowKind.REGISTRATION: registration.TRANSITIONS,
    FlowKind.LOGIN: login.TRANSITIONS,
    FlowKind.SETTINGS: settings.TRANSITIONS,
    FlowKind.STEP_UP: step_up.TRANSITIONS,
}
SIGNED_IN_KINDS = frozenset({FlowKind.SETTINGS, FlowKind.STEP_UP})


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    token: str  # shown once, to the client that completed the flow; stored only hashed


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    flow: Flow
    issued: IssuedSession | None = None
    device_token: str | None = None  # a newly trusted device: shown once
    revealed: dict[str, Any] = field(default_factory=dict)  # recovery codes: shown once


def methods_of(flow: Flow) -> tuple[str, ...]:
    if flow.finished:
        return ()
    if flow.kind is FlowKind.LOGIN:
        return login.open_methods(flow)
    if flow.kind is FlowKind.STEP_UP:
        enrolled = set(flow.context.get("factors", ()))
        return tuple(m for m in FACTOR_PREFERENCE if m in enrolled)
    methods = open_methods(TRANSITIONS[flow.kind], flow.state)
    if flow.context.get("captcha_required"):
        methods += ("captcha",)
    return methods


@dataclass
class _Applied:
    flow: Flow
    issued: IssuedSession | None = None
    device_token: str | None = None
    revealed: dict[str, Any] = field(default_factory=dict)


class FlowService:
    def __init__(self, *, store: Store, clock: Clock, methods: Sequence[Method],
                 notifier: Notifier, policies: Policies, defences: DefencePolicy,
                 recovery: RecoveryCodeHasher, signer: LinkSigner | None = None,
                 public_url: str = "") -> None:
        self._signer = signer
        self._public_url = public_url.rstrip("/")
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._policies = policies
        self._defences = defences
        self._recovery = recovery
        self._methods = {(kind, m.name): m for m in methods for kind in m.kinds}

    @property
    def policies(self) -> Policies:
        return self._policies

    async def start(self, kind: str, channel: Channel, ctx: RequestContext,
                    principal: Principal | None = None) -> Flow:
        try:
            flow_kind = FlowKind(kind)
        except ValueError:
            raise UnknownFlowKind() from None
        now = self._clock.now()
        lifetimes = self._policies.flows
        if flow_kind is FlowKind.REGISTRATION:
            flow = registration.start(new_id(), channel, now, lifetimes.registration_lifetime,
                                      ctx.binding)
        elif flow_kind is FlowKind.LOGIN:
            flow = login.start(new_id(), channel, now, lifetimes.login_lifetime, ctx.binding)
        else:
            if principal is None:
                raise AuthenticationRequired()
            account_id, session_id = principal.account.id, principal.session.id
            if flow_kind is FlowKind.SETTINGS:
                flow = settings.start(new_id(), channel, now, lifetimes.login_lifetime,
                                      account_id=account_id, session_id=session_id,
                                      account_name=principal.account.email
                                      or principal.account.phone or account_id,
                                      binding=ctx.binding)
            else:
                factors = await factor_methods(self._store, account_id)
                if not factors:
                    raise MethodNotAllowed("Set up a second factor first: there is nothing to "
                                           "step up with.", code="step_up.no_factor")
                flow = step_up.start(new_id(), channel, now, lifetimes.login_lifetime,
                                     account_id=account_id, session_id=session_id,
                                     factors=factors, binding=ctx.binding)
        for method in self._methods.values():
            prepare = getattr(method, "prepare", None)
            if prepare is not None and flow.kind in method.kinds:
                flow = await prepare(flow, now)
        async with self._store.unit_of_work(write=True) as uow:
            await uow.flows.create(flow)
        return flow

    async def get(self, flow_id: str, channel: Channel, ctx: RequestContext,
                  principal: Principal | None = None) -> Flow:
        async with self._store.unit_of_work(write=False) as uow:
            flow = await uow.flows.get(flow_id)
        # A flow of the other channel, another browser or another session is as good as unknown.
        if flow is None or flow.channel is not channel or (
            channel is Channel.BROWSER and flow.binding != ctx.binding
        ) or (flow.kind in SIGNED_IN_KINDS and (
            principal is None or principal.session.id != flow.session_id)):
            raise FlowNotFound()
        if flow.is_expired(self._clock.now()):
            raise FlowExpired()
        return flow

    async def submit(self, flow_id: str, channel: Channel, method_name: str,
                     submission: Submission, ctx: RequestContext,
                     principal: Principal | None = None) -> SubmitOutcome:
        flow = await self.get(flow_id, channel, ctx, principal)
        if flow.finished:
            raise FlowCompleted()
        method = self._methods.get((flow.kind, method_name))
        if method is None or method_name not in methods_of(flow):
            raise MethodNotAllowed(details={"methods": list(methods_of(flow))})
        now = self._clock.now()
        try:
            if flow.kind is FlowKind.SETTINGS:
                assert principal is not None
                await require_privileged(self._store, principal, self._defences, now)
            result = await method.step(flow, submission, ctx, now)
        except KeepgateError as error:
            # Rejected before the step (bad input, limits): the flow is unchanged.
            if error.flow is None:
                error.flow = flow.evolve(messages=(Message(error.code, error.message, "error"),))
            raise
        try:
            async with self._store.unit_of_work(write=True) as uow:
                applied = await self._apply(uow, result.flow, result.effects, ctx, now,
                                            principal)
                saved = await uow.flows.save(applied.flow)
        except StaleFlow:
            raise FlowConflict() from None
        except IdentifierTaken:
            # Only someone who received the code gets here, so they control the address.
            raise RegistrationConflict() from None
        if result.error is not None:
            result.error.flow = saved
            raise result.error
        return SubmitOutcome(saved, applied.issued, applied.device_token, applied.revealed)

    async def _apply(self, uow: UnitOfWork, flow: Flow, effects: Sequence[Effect],
                     ctx: RequestContext, now: datetime,
                     principal: Principal | None) -> _Applied:
        out = _Applied(flow)
        for effect in effects:
            if isinstance(effect, SendMessage):
                await self._notifier.enqueue(uow, effect.to, effect.template, effect.params, now)
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
                out.flow = out.flow.evolve(account_id=account.id)
                # The device that proved the address is trusted: no new-device code next.
                out.device_token = await self._trust_device(uow, account.id, ctx, now)
                await self._record(uow, RecordEvent(EventKind.SIGNUP, Outcome.SUCCESS, account.id,
                                                    {"identifier": ident.masked()}), ctx, now)
            elif isinstance(effect, IssueSession):
                out.issued = await self._issue_session(uow, effect, out.flow.channel, ctx, now)
                out.flow = out.flow.evolve(session_id=out.issued.session.id)
                if effect.trust_device:
                    out.device_token = await self._trust_device(uow, effect.account_id, ctx, now)
            elif isinstance(effect, ElevateSession):
                assert principal is not None and principal.session.id == effect.session_id
                token = new_token()
                methods = tuple(dict.fromkeys((*principal.session.methods, effect.method)))
                aal = assurance_level(methods)
                await uow.sessions.elevate(effect.session_id, token_hash=hash_token(token),
                                           aal=aal.value, methods=methods, now=now)
                session = Session(**{**_fields(principal.session), "token_hash": hash_token(token),
                                     "aal": aal, "methods": methods, "second_factor_at": now,
                                     "last_seen_at": now})
                out.issued = IssuedSession(session, token)
            elif isinstance(effect, CreateFactor):
                await uow.factors.create(effect.factor)
                owner = await uow.accounts.get(effect.factor.account_id)
                if owner is not None:
                    await self._notifier.notify_account(uow, owner, "factor_added", {
                        "factor": effect.factor.label, "ip": ctx.ip or "unknown"}, now)
                if effect.first:
                    out.revealed["recovery_codes"] = await self._new_recovery_codes(
                        uow, effect.factor.account_id, now)
            elif isinstance(effect, IssueRecoveryCodes):
                out.revealed["recovery_codes"] = await self._new_recovery_codes(
                    uow, effect.account_id, now)
            elif isinstance(effect, ChangeContact):
                await self._change_contact(uow, effect, ctx, now)
            elif isinstance(effect, UpdatePasswordHash):
                await uow.accounts.set_password_hash(effect.account_id, effect.password_hash)
                await self._record(uow, RecordEvent(EventKind.PASSWORD_REHASHED, Outcome.SUCCESS,
                                                    effect.account_id), ctx, now)
            else:
                await self._record(uow, effect, ctx, now)
        return out

    async def _change_contact(self, uow: UnitOfWork, effect: ChangeContact,
                              ctx: RequestContext, now: datetime) -> None:
        account = await uow.accounts.get(effect.account_id)
        assert account is not None
        email = effect.new.kind is IdentifierKind.EMAIL
        field = "email" if email else "phone"
        old = account.email if email else account.phone
        try:
            changed = await uow.accounts.update_security(account.id, effect.expected_version,
                                                         **{field: effect.new.value})
        except IdentifierTaken:
            raise InputRejected("That address now belongs to another account.",
                                code="contact.taken") from None
        if not changed:
            raise SecurityConflict()
        reason = HoldReason.EMAIL_CHANGE if email else HoldReason.PHONE_CHANGE
        await place_hold(uow, account.id, reason, ctx, now)
        await self._record(uow, RecordEvent(EventKind.CONTACT_CHANGED, Outcome.SUCCESS,
                                            account.id, {"kind": field,
                                                         "new": effect.new.masked()}), ctx, now)
        if self._signer is not None:
            # The address that was there is told; when one is *added*, the account's other
            # contact is told instead. Either way, with a link to undo.
            told = Identifier(effect.new.kind, old) if old is not None else (
                account.identifier_for(IdentifierKind.PHONE if email else IdentifierKind.EMAIL))
            token = self._signer.sign("undo-contact", {"a": account.id, "k": field,
                                                       "o": old or "", "n": effect.new.value},
                                      expires_at=now + HOLD_DURATION)
            what = "email address" if email else "phone number"
            if told is not None:
                await self._notifier.enqueue(uow, told, "contact_changed", {
                    "what": what, "new": effect.new.masked(), "ip": ctx.ip or "unknown",
                    "undo_url": f"{self._public_url}/undo-contact?token={token}"},
                    now, account=account)

    async def _new_recovery_codes(self, uow: UnitOfWork, account_id: str,
                                  now: datetime) -> list[str]:
        codes = recovery_codes.generate()
        await uow.recovery_codes.replace(account_id, [self._recovery.digest(c) for c in codes],
                                         now)
        return codes

    async def _trust_device(self, uow: UnitOfWork, account_id: str, ctx: RequestContext,
                            now: datetime) -> str:
        token = new_token()
        await uow.devices.create(TrustedDevice(
            id=new_id(), account_id=account_id, token_hash=hash_token(token), created_at=now,
            expires_at=now + self._defences.device_trust, last_used_at=now, ip=ctx.ip,
            user_agent=ctx.user_agent))
        return token

    async def _issue_session(self, uow: UnitOfWork, effect: IssueSession, channel: Channel,
                             ctx: RequestContext, now: datetime) -> IssuedSession:
        token = new_token()
        aal = assurance_level(effect.methods)
        session = Session(
            id=new_id(), account_id=effect.account_id, token_hash=hash_token(token),
            aal=aal, methods=effect.methods, channel=channel.value,
            created_at=now, last_seen_at=now,
            expires_at=now + self._policies.sessions.absolute_timeout,
            ip=ctx.ip, user_agent=ctx.user_agent,
            second_factor_at=now if aal.value == "aal2" else None,
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


def _fields(session: Session) -> dict[str, Any]:
    return {name: getattr(session, name) for name in session.__slots__}
