"""Carrying out what a flow step asked for: one handler per effect type.

A step returns effects ("send this message", "issue a session", "record this event"); the
runner hands each to its handler inside the unit of work that saves the flow, so they all
commit together or not at all. A handler gets its collaborators when it is built and, per
effect, the ``EffectRun``: the unit of work, the request, the time, the principal, and what
the client is to receive (a session token, a device token, recovery codes shown once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import ContactTaken, SecurityConflict
from keepgate.domain.factors import DefencePolicy, TrustedDevice
from keepgate.domain.holds import HOLD_DURATION, HoldReason
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.principals import CustomerSession
from keepgate.domain.sessions import (
    Session,
    SessionPolicy,
    assurance_level,
    proves_strong_factor,
)
from keepgate.flows.base import (
    ChangeContact,
    CreateAccount,
    CreateFactor,
    Effect,
    ElevateSession,
    Flow,
    IssueRecoveryCodes,
    IssueSession,
    NotifyAccount,
    PlaceHold,
    RecordEvent,
    ResetPassword,
    SendToContact,
    SettleAttempt,
    UpdatePasswordHash,
)
from keepgate.security import recovery_codes
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.security.tokens import hash_token, new_id, new_token
from keepgate.services.context import RequestContext
from keepgate.services.defences import write_settlement
from keepgate.services.devices import describe_device
from keepgate.services.holds import place_hold
from keepgate.services.methods.device_code import NOT_ME_LINK_LIFETIME
from keepgate.services.notices import Notifier
from keepgate.services.ports import IdentifierTaken, UnitOfWork
from keepgate.services.sessions import end_sessions_over_cap

E_contra = TypeVar("E_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    token: str  # shown once, to the client that completed the flow; stored only hashed


@dataclass(slots=True)
class EffectRun:
    """One step's effects being carried out, and what they produce for the client."""

    uow: UnitOfWork
    request: RequestContext
    now: datetime
    principal: CustomerSession | None
    flow: Flow
    issued: IssuedSession | None = None
    device_token: str | None = None  # a newly trusted device: shown once
    revealed: dict[str, Any] = field(default_factory=dict)  # recovery codes: shown once

    async def record(self, event: RecordEvent) -> None:
        await self.uow.audit.append(
            AuditEvent(event.kind, event.outcome, event.account_id, self.request.ip,
                       self.request.user_agent, dict(event.details)),
            self.now,
        )


class Handler(Protocol[E_contra]):
    async def __call__(self, effect: E_contra, run: EffectRun) -> None: ...


async def record_event(effect: RecordEvent, run: EffectRun) -> None:
    await run.record(effect)


@dataclass(frozen=True, slots=True)
class DeviceTrust:
    """Remembers a device for the defence policy's trust period; its token is shown once."""

    policy: DefencePolicy

    async def trust(self, run: EffectRun, account_id: str) -> str:
        token = new_token()
        await run.uow.devices.create(TrustedDevice(
            id=new_id(), account_id=account_id, token_hash=hash_token(token),
            created_at=run.now, expires_at=run.now + self.policy.device_trust,
            last_used_at=run.now, ip=run.request.ip, user_agent=run.request.user_agent))
        return token


@dataclass(frozen=True, slots=True)
class RecoveryCodeIssuer:
    """Replaces an account's recovery codes with new ones, revealed once to the client."""

    hasher: RecoveryCodeHasher

    async def issue(self, run: EffectRun, account_id: str) -> None:
        codes = recovery_codes.generate()
        await run.uow.recovery_codes.replace(account_id, [self.hasher.digest(c) for c in codes],
                                             run.now)
        run.revealed["recovery_codes"] = codes


@dataclass(frozen=True, slots=True)
class SendToContactHandler:
    notifier: Notifier

    async def __call__(self, effect: SendToContact, run: EffectRun) -> None:
        # A message in a flow about an account carries that account's anti-phishing code,
        # also when it goes to an address the account is only adding.
        concerned = run.flow.context.get("account_id")
        account = await run.uow.accounts.get(str(concerned)) if concerned else None
        await self.notifier.enqueue(run.uow, effect.to, effect.template, effect.params, run.now,
                                    account=account)


@dataclass(frozen=True, slots=True)
class CreateAccountHandler:
    """A proven address becomes a restricted account, signed in (password only: aal1) on the
    device that proved it, which is trusted: no sign-in again, no new-device code next."""

    devices: DeviceTrust
    sign_in: IssueSessionHandler

    async def __call__(self, effect: CreateAccount, run: EffectRun) -> None:
        ident = effect.identifier
        account = Account(
            id=new_id(),
            email=ident.value if ident.kind is IdentifierKind.EMAIL else None,
            phone=ident.value if ident.kind is IdentifierKind.PHONE else None,
            password_hash=effect.password_hash, status=AccountStatus.RESTRICTED,
            kyc_tier=0, created_at=run.now,
        )
        await run.uow.accounts.create(account)
        run.flow = run.flow.evolve(account_id=account.id)
        run.device_token = await self.devices.trust(run, account.id)
        await run.record(RecordEvent(EventKind.SIGNUP, Outcome.SUCCESS, account.id,
                                     {"identifier": ident.masked()}))
        await self.sign_in(IssueSession(account.id, ("password",)), run)


@dataclass(frozen=True, slots=True)
class IssueSessionHandler:
    sessions: SessionPolicy
    devices: DeviceTrust
    notifier: Notifier

    async def __call__(self, effect: IssueSession, run: EffectRun) -> None:
        token = new_token()
        aal = assurance_level(effect.methods)
        session = Session(
            id=new_id(), account_id=effect.account_id, token_hash=hash_token(token),
            aal=aal, methods=effect.methods, channel=run.flow.channel.value,
            created_at=run.now, last_seen_at=run.now,
            expires_at=run.now + self.sessions.absolute_timeout,
            ip=run.request.ip, user_agent=run.request.user_agent,
            second_factor_at=run.now if aal.value == "aal2" else None,
            strong_factor_at=run.now if proves_strong_factor(effect.methods) else None,
        )
        await run.uow.sessions.create(session)
        await end_sessions_over_cap(run.uow, self.notifier, session, self.sessions, run.now)
        run.issued = IssuedSession(session, token)
        run.flow = run.flow.evolve(session_id=session.id)
        if effect.trust_device:
            run.device_token = await self.devices.trust(run, effect.account_id)


async def elevate_session(effect: ElevateSession, run: EffectRun) -> None:
    """aal2 with a new token (the old one stops working) and a fresh second-factor stamp;
    the strong-factor stamp too, unless the factor was an email code."""
    principal = run.principal
    assert principal is not None and principal.session.id == effect.session_id
    token = new_token()
    methods = tuple(dict.fromkeys((*principal.session.methods, effect.method)))
    aal = assurance_level(methods)
    strong = proves_strong_factor((effect.method,))
    await run.uow.sessions.elevate(effect.session_id, token_hash=hash_token(token),
                                   aal=aal.value, methods=methods, now=run.now, strong=strong)
    session = replace(principal.session, token_hash=hash_token(token), aal=aal,
                      methods=methods, second_factor_at=run.now, last_seen_at=run.now,
                      strong_factor_at=run.now if strong else principal.session.strong_factor_at)
    run.issued = IssuedSession(session, token)


@dataclass(frozen=True, slots=True)
class CreateFactorHandler:
    notifier: Notifier
    recovery: RecoveryCodeIssuer

    async def __call__(self, effect: CreateFactor, run: EffectRun) -> None:
        await run.uow.factors.create(effect.factor)
        owner = await run.uow.accounts.get(effect.factor.account_id)
        if owner is not None:
            await self.notifier.notify_account(run.uow, owner, "factor_added", {
                "factor": effect.factor.label, "ip": run.request.ip or "unknown"}, run.now)
        if effect.first:
            await self.recovery.issue(run, effect.factor.account_id)


@dataclass(frozen=True, slots=True)
class IssueRecoveryCodesHandler:
    recovery: RecoveryCodeIssuer
    notifier: Notifier

    async def __call__(self, effect: IssueRecoveryCodes, run: EffectRun) -> None:
        await self.recovery.issue(run, effect.account_id)
        owner = await run.uow.accounts.get(effect.account_id)
        if owner is not None:
            await self.notifier.notify_account(run.uow, owner, "recovery_codes_regenerated", {
                "ip": run.request.ip or "unknown"}, run.now)


@dataclass(frozen=True, slots=True)
class ChangeContactHandler:
    """Swap the address, hold withdrawals, and tell the old address with a link to undo."""

    notifier: Notifier
    signer: LinkSigner | None
    public_url: str

    async def __call__(self, effect: ChangeContact, run: EffectRun) -> None:
        account = await run.uow.accounts.get(effect.account_id)
        assert account is not None
        email = effect.new.kind is IdentifierKind.EMAIL
        kind = "email" if email else "phone"
        old = account.email if email else account.phone
        try:
            changed = await run.uow.accounts.update_security(
                account.id, effect.expected_version, **{kind: effect.new.value})
        except IdentifierTaken:
            raise ContactTaken() from None
        if not changed:
            raise SecurityConflict()
        reason = HoldReason.EMAIL_CHANGE if email else HoldReason.PHONE_CHANGE
        await place_hold(run.uow, account.id, reason, run.request, run.now)
        await run.record(RecordEvent(EventKind.CONTACT_CHANGED, Outcome.SUCCESS, account.id,
                                     {"kind": kind, "new": effect.new.masked()}))
        if self.signer is not None:
            await self._tell(run, account, effect.new, kind, old)

    async def _tell(self, run: EffectRun, account: Account, new: Identifier, kind: str,
                    old: str | None) -> None:
        assert self.signer is not None
        # Every contact is told: the address that was there and the account's other contact
        # with a link to undo, the new one that it now belongs to the account.
        email = new.kind is IdentifierKind.EMAIL
        other = account.identifier_for(IdentifierKind.PHONE if email else IdentifierKind.EMAIL)
        warned = [to for to in (Identifier(new.kind, old) if old is not None else None, other)
                  if to is not None]
        token = self.signer.sign("undo-contact", {"a": account.id, "k": kind,
                                                  "o": old or "", "n": new.value},
                                 expires_at=run.now + HOLD_DURATION)
        what = "email address" if email else "phone number"
        ip = run.request.ip or "unknown"
        for to in warned:
            await self.notifier.enqueue(run.uow, to, "contact_changed", {
                "what": what, "new": new.masked(), "ip": ip,
                "undo_url": f"{self.public_url}/undo-contact?token={token}"},
                run.now, account=account)
        await self.notifier.enqueue(run.uow, new, "contact_confirmed", {"ip": ip}, run.now,
                                    account=account)


async def update_password_hash(effect: UpdatePasswordHash, run: EffectRun) -> None:
    """Re-hashed on sign-in because the configured parameters changed."""
    await run.uow.accounts.set_password_hash(effect.account_id, effect.password_hash)
    await run.record(RecordEvent(EventKind.PASSWORD_REHASHED, Outcome.SUCCESS,
                                 effect.account_id))


@dataclass(frozen=True, slots=True)
class ResetPasswordHandler:
    """A forgotten password replaced: every session ends, trusted devices are forgotten,
    withdrawals are held and every contact hears of it, with a "this wasn't me" link. A lock
    stays: the reset changes the password, not who may sign in."""

    notifier: Notifier
    signer: LinkSigner | None
    public_url: str

    async def __call__(self, effect: ResetPassword, run: EffectRun) -> None:
        account = await run.uow.accounts.get(effect.account_id)
        assert account is not None
        if not await run.uow.accounts.update_security(account.id, account.security_version,
                                                      password_hash=effect.password_hash):
            raise SecurityConflict()
        revoked = await run.uow.sessions.revoke_all(account.id, run.now, keep=None)
        forgotten = await run.uow.devices.revoke_all(account.id, run.now)
        await place_hold(run.uow, account.id, HoldReason.PASSWORD_RESET, run.request, run.now)
        await run.record(RecordEvent(EventKind.PASSWORD_RESET, Outcome.SUCCESS, account.id, {
            "methods": list(effect.methods), "sessions_revoked": revoked,
            "devices_forgotten": forgotten}))
        await self.notifier.notify_account(run.uow, account, "password_reset", {
            "ip": run.request.ip or "unknown", "device": describe_device(run.request.user_agent),
            "not_me_url": self._not_me_url(account.id, run)}, run.now)

    def _not_me_url(self, account_id: str, run: EffectRun) -> str:
        """The "this wasn't me" link: it signs every device out and locks sign-in."""
        if self.signer is None:
            return f"{self.public_url}/recover"
        token = self.signer.sign("not-me", {"a": account_id, "f": run.flow.id},
                                 expires_at=run.now + NOT_ME_LINK_LIFETIME)
        return f"{self.public_url}/not-me?token={token}"


async def settle_attempt(effect: SettleAttempt, run: EffectRun) -> None:
    """A passed sign-in attempt, settled with the flow it moved on."""
    await write_settlement(run.uow, effect, run.now)


@dataclass(frozen=True, slots=True)
class NotifyAccountHandler:
    notifier: Notifier

    async def __call__(self, effect: NotifyAccount, run: EffectRun) -> None:
        account = await run.uow.accounts.get(effect.account_id)
        if account is not None:
            await self.notifier.notify_account(run.uow, account, effect.template,
                                               effect.params, run.now)


async def hold_withdrawals(effect: PlaceHold, run: EffectRun) -> None:
    await place_hold(run.uow, effect.account_id, effect.reason, run.request, run.now)


EffectHandlers = Mapping[type[Any], Handler[Any]]


def effect_handlers(*, notifier: Notifier, sessions: SessionPolicy, defences: DefencePolicy,
                    recovery: RecoveryCodeHasher, signer: LinkSigner | None,
                    public_url: str) -> EffectHandlers:
    """Every effect type and its handler (a test keeps this equal to the ``Effect`` union)."""
    devices = DeviceTrust(defences)
    codes = RecoveryCodeIssuer(recovery)
    sign_in = IssueSessionHandler(sessions, devices, notifier)
    handlers: dict[type[Any], Handler[Any]] = {
        SendToContact: SendToContactHandler(notifier),
        CreateAccount: CreateAccountHandler(devices, sign_in),
        IssueSession: sign_in,
        ElevateSession: elevate_session,
        CreateFactor: CreateFactorHandler(notifier, codes),
        IssueRecoveryCodes: IssueRecoveryCodesHandler(codes, notifier),
        ChangeContact: ChangeContactHandler(notifier, signer, public_url.rstrip("/")),
        UpdatePasswordHash: update_password_hash,
        ResetPassword: ResetPasswordHandler(notifier, signer, public_url.rstrip("/")),
        RecordEvent: record_event,
        SettleAttempt: settle_attempt,
        NotifyAccount: NotifyAccountHandler(notifier),
        PlaceHold: hold_withdrawals,
    }
    return handlers


async def carry_out(handlers: EffectHandlers, effects: tuple[Effect, ...],
                    run: EffectRun) -> None:
    """Each effect in order, by its own handler."""
    for effect in effects:
        await handlers[type(effect)](effect, run)
