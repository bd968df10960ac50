"""The security centre: what a signed-in owner sees and changes about their account's safety.

Sensitive changes (password, anti-phishing code, sign-in methods, contacts) need step-up.
Changes are compare-and-swap on the account's ``security_version``, so two windows changing
the same setting cannot silently overwrite each other: the later one is told, and nothing of
it is kept. Every change is audited and notified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import anyio

from keepgate.domain.accounts import Account
from keepgate.domain.anti_phishing import parse_anti_phishing_code
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.errors import (
    CurrentPasswordIncorrect,
    DeviceNotFound,
    FactorNotFound,
    InputRejected,
    PasswordRejected,
    SecurityConflict,
)
from keepgate.domain.factors import DefencePolicy, FactorKind, TrustedDevice, clean_label
from keepgate.domain.holds import HoldReason, SecurityHold
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.domain.policy import Policies
from keepgate.security.password_screen import screen_password
from keepgate.security.tokens import hash_token
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.defences import SignInDefences
from keepgate.services.devices import describe_device
from keepgate.services.guards import require_privileged
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.holds import place_hold
from keepgate.services.notices import Notifier
from keepgate.services.ports import Store, UnitOfWork
from keepgate.services.sessions import Principal

HISTORY_KINDS = (EventKind.LOGIN.value, EventKind.BANNED.value)
RECOVERY_CODES_LOW = 3


class Geolocator(Protocol):
    def locate(self, ip: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    key: str
    done: bool
    title: str
    action: str


@dataclass(frozen=True, slots=True)
class Overview:
    account: Account
    score: int  # 0..100
    checklist: tuple[ChecklistItem, ...]
    factors: int
    passkeys: int
    recovery_codes_left: int
    trusted_devices: int
    holds: tuple[SecurityHold, ...]


@dataclass(frozen=True, slots=True)
class LoginEntry:
    id: int
    at: datetime
    outcome: str
    ip: str
    device: str
    user_agent: str
    method: str
    reason: str | None
    location: str | None


@dataclass(frozen=True, slots=True)
class DeviceView:
    device: TrustedDevice
    name: str
    current: bool


def _method_of(details: dict[str, object], outcome: str) -> str:
    if outcome == "success":
        methods = details.get("methods")
        return " + ".join(str(m) for m in methods) if isinstance(methods, list) else "password"
    reason = str(details.get("reason", ""))
    if reason.endswith("_failed"):
        return reason.removesuffix("_failed")
    if "passkey" in reason:
        return "passkey"
    return "password"


PUBLIC_REASONS = {
    "wrong_password": "Wrong password", "banned": "Sign-in paused after failed attempts",
    "locked": "Sign-in locked", "refused": "Sign-in paused after failed attempts",
    "passkey_failed": "Passkey not accepted", "unknown_passkey": "Passkey not recognised",
}


class SecurityCentre:
    def __init__(self, *, store: Store, clock: Clock, hasher: AsyncPasswordHasher,
                 defences: SignInDefences, notifier: Notifier, policies: Policies,
                 defence_policy: DefencePolicy, geolocator: Geolocator | None = None) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._defences = defences
        self._notifier = notifier
        self._policies = policies
        self._defence_policy = defence_policy
        self._geo = geolocator

    async def overview(self, principal: Principal) -> Overview:
        now = self._clock.now()
        account_id = principal.account.id
        async with self._store.unit_of_work(write=False) as uow:
            account = await uow.accounts.get(account_id)
            factors = [f for f in await uow.factors.for_account(account_id) if f.active]
            left = await uow.recovery_codes.remaining(account_id)
            devices = [d for d in await uow.devices.for_account(account_id) if d.usable(now)]
            holds = tuple(h for h in await uow.holds.for_account(account_id) if h.active(now))
        assert account is not None
        passkeys = sum(1 for f in factors if f.kind is FactorKind.WEBAUTHN and f.passkey)
        checklist = (
            ChecklistItem("second_factor", bool(factors), "Two-factor sign-in",
                          "Add an authenticator app, a passkey, or a code by SMS or email."),
            ChecklistItem("passkey", passkeys > 0, "A passkey",
                          "Passkeys cannot be phished: add one from this device."),
            ChecklistItem("anti_phishing_code", account.anti_phishing_code is not None,
                          "Anti-phishing code",
                          "Set a code that every genuine message from us will show."),
            ChecklistItem("recovery_codes", bool(factors) and left > RECOVERY_CODES_LOW,
                          "Recovery codes",
                          "Keep enough recovery codes: generate new ones when few remain."),
        )
        score = round(100 * sum(item.done for item in checklist) / len(checklist))
        return Overview(account, score, checklist, len(factors), passkeys, left, len(devices),
                        holds)

    async def _conflict_free(self, uow: UnitOfWork, account: Account,
                             expected_version: int | None, **values: object) -> None:
        version = account.security_version if expected_version is None else expected_version
        if not await uow.accounts.update_security(account.id, version, **values):
            raise SecurityConflict()

    async def set_anti_phishing_code(self, principal: Principal, raw: object,
                                     ctx: RequestContext,
                                     expected_version: int | None = None) -> None:
        code = parse_anti_phishing_code(raw)
        now = self._clock.now()
        await require_privileged(self._store, principal, self._defence_policy, now)
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(principal.account.id)
            assert account is not None
            await self._conflict_free(uow, account, expected_version, anti_phishing_code=code)
            await uow.audit.append(AuditEvent(EventKind.ANTI_PHISHING_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent, {}), now)
            changed = dataclasses.replace(account, anti_phishing_code=code)
            await self._notifier.notify_account(uow, changed, "anti_phishing_changed", {}, now)

    async def change_password(self, principal: Principal, current: str, new: str,
                              ctx: RequestContext) -> int:
        """Returns how many other sessions were signed out."""
        now = self._clock.now()
        await require_privileged(self._store, principal, self._defence_policy, now)
        account = principal.account
        attempt = await self._defences.reserve(ctx, account)
        verified = await self._hasher.verify(
            None if attempt.refused else account.password_hash, current)
        if not verified:
            await self._defences.failed(attempt, ctx, account.email or account.phone or "")
            async with self._store.unit_of_work(write=True) as uow:
                await uow.audit.append(AuditEvent(EventKind.PASSWORD_CHANGED, Outcome.FAILURE,
                                                  account.id, ctx.ip, ctx.user_agent,
                                                  {"reason": "current_password_incorrect"}),
                                       now)
            raise CurrentPasswordIncorrect()
        await self._defences.succeeded(attempt, ctx, account.email or account.phone or "")
        if new == current:
            raise PasswordRejected("Choose a password different from the current one.",
                                   code="password.unchanged")
        inputs = [v for v in (account.email, account.phone) if v]
        await anyio.to_thread.run_sync(
            lambda: screen_password(new, user_inputs=inputs, policy=self._policies.password))
        new_hash = await self._hasher.hash(new)
        async with self._store.unit_of_work(write=True) as uow:
            fresh = await uow.accounts.get(account.id)
            assert fresh is not None
            await self._conflict_free(uow, fresh, None, password_hash=new_hash)
            revoked = await uow.sessions.revoke_all(account.id, now, keep=principal.session.id)
            await self._hold(uow, account.id, HoldReason.PASSWORD_CHANGE, ctx, now)
            await uow.audit.append(AuditEvent(EventKind.PASSWORD_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"sessions_revoked": revoked}), now)
            await self._notifier.notify_account(uow, fresh, "password_changed", {
                "ip": ctx.ip or "unknown", "device": describe_device(ctx.user_agent)}, now)
        return revoked

    async def _hold(self, uow: UnitOfWork, account_id: str, reason: HoldReason,
                    ctx: RequestContext, now: datetime) -> None:
        await place_hold(uow, account_id, reason, ctx, now)

    async def holds(self, account_id: str) -> Sequence[SecurityHold]:
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            return [h for h in await uow.holds.for_account(account_id) if h.active(now)]

    async def login_history(self, account_id: str, *, before: int | None = None,
                            outcome: str | None = None, limit: int = 20
                            ) -> tuple[list[LoginEntry], int | None]:
        """A page of sign-in attempts, newest first, and the cursor for the next page."""
        limit = max(1, min(limit, 100))
        async with self._store.unit_of_work(write=False) as uow:
            records = await uow.audit.for_account(account_id, HISTORY_KINDS, before_seq=before,
                                                  outcome=outcome, limit=limit + 1)
        entries = []
        for record in records[:limit]:
            event = record.event
            details = dict(event.details)
            reason: str | None
            if event.kind is EventKind.BANNED:
                outcome_text, method, reason = "banned", "-", "Too many failed attempts"
            else:
                outcome_text = event.outcome.value
                method = _method_of(details, outcome_text)
                reason = None if outcome_text == "success" else PUBLIC_REASONS.get(
                    str(details.get("reason", "")), "Not accepted")
            entries.append(LoginEntry(
                id=record.seq, at=record.at, outcome=outcome_text, ip=event.ip,
                device=describe_device(event.user_agent), user_agent=event.user_agent,
                method=method, reason=reason,
                location=self._geo.locate(event.ip) if self._geo and event.ip else None))
        more = records[limit].seq if len(records) > limit else None
        return entries, (entries[-1].id if more is not None and entries else None)

    async def devices(self, principal: Principal, device_token: str | None
                      ) -> list[DeviceView]:
        now = self._clock.now()
        current_hash = hash_token(device_token) if device_token else None
        async with self._store.unit_of_work(write=False) as uow:
            devices = await uow.devices.for_account(principal.account.id)
        return [DeviceView(d, describe_device(d.user_agent), d.token_hash == current_hash)
                for d in devices if d.usable(now)]

    async def forget_device(self, principal: Principal, device_id: str,
                            ctx: RequestContext) -> None:
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            mine = {d.id for d in await uow.devices.for_account(principal.account.id)}
            if device_id not in mine or not await uow.devices.revoke(device_id, now):
                raise DeviceNotFound()
            await uow.audit.append(AuditEvent(EventKind.DEVICE_FORGOTTEN, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"device_id": device_id}), now)

    async def sign_out_everywhere(self, principal: Principal, ctx: RequestContext) -> int:
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            count = await uow.sessions.revoke_all(principal.account.id, now, keep=None)
            await uow.audit.append(AuditEvent(EventKind.SIGNED_OUT_EVERYWHERE, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"count": count}), now)
        return count

    async def not_me(self, principal: Principal, ctx: RequestContext) -> None:
        """'This wasn't me' from the login history, by the signed-in owner.

        Every other session ends and every trusted device is forgotten, withdrawals are held
        for 24 hours, and the owner is asked to change the password next (which ends the
        remaining sessions too). Sign-in is not locked: the owner, here, has proven it is them.
        """
        now = self._clock.now()
        account = principal.account
        async with self._store.unit_of_work(write=True) as uow:
            sessions = await uow.sessions.revoke_all(account.id, now, keep=principal.session.id)
            devices = await uow.devices.revoke_all(account.id, now)
            await self._hold(uow, account.id, HoldReason.SUSPICIOUS_SIGN_IN, ctx, now)
            await uow.audit.append(AuditEvent(EventKind.DEVICE_NOT_ME, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"sessions_revoked": sessions,
                                               "devices_forgotten": devices,
                                               "from": "login_history"}), now)

    async def undo_contact_change(self, payload: dict[str, object],
                                  ctx: RequestContext) -> bool:
        """The old address's undo link: restore it, sign out everywhere, lock sign-in.

        Whoever changed the address held a signed-in, stepped-up session, so the account is
        treated as taken over: it stays locked until the owner recovers it.
        """
        now = self._clock.now()
        account_id, field = str(payload["a"]), str(payload["k"])
        old, new = str(payload["o"]) or None, str(payload["n"])
        if field not in ("email", "phone"):
            return False
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None or getattr(account, field) != new:
                return False  # already undone, or changed again since
            restored = (dataclasses.replace(account, email=old) if field == "email"
                        else dataclasses.replace(account, phone=old))
            if restored.email is None and restored.phone is None:
                return False  # an account always keeps a way to reach its owner
            if not await uow.accounts.update_security(account_id, account.security_version,
                                                      **{field: old}):
                raise SecurityConflict()
            await uow.sessions.revoke_all(account_id, now, keep=None)
            await uow.devices.revoke_all(account_id, now)
            await uow.accounts.lock(account_id, now)
            await uow.audit.append(AuditEvent(EventKind.CONTACT_CHANGE_UNDONE, Outcome.SUCCESS,
                                              account_id, ctx.ip, ctx.user_agent,
                                              {"kind": field}), now)
            await self._notifier.notify_account(uow, restored, "account_locked", {}, now)
        return True

    async def set_muted_notices(self, principal: Principal, muted: Sequence[str],
                                ctx: RequestContext,
                                expected_version: int | None = None) -> tuple[str, ...]:
        unknown = set(muted) - MUTABLE_NOTICES
        if unknown:
            raise InputRejected(
                f"These notices cannot be muted: {', '.join(sorted(unknown))}. Only "
                f"{', '.join(sorted(MUTABLE_NOTICES))} can.", code="notices.not_mutable")
        chosen = tuple(sorted(set(muted)))
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await uow.accounts.get(principal.account.id)
            assert account is not None
            await self._conflict_free(uow, account, expected_version, muted_notices=list(chosen))
            await uow.audit.append(AuditEvent(EventKind.NOTICES_CHANGED, Outcome.SUCCESS,
                                              account.id, ctx.ip, ctx.user_agent,
                                              {"muted": list(chosen)}), now)
        return chosen

    async def rename_factor(self, principal: Principal, factor_id: str, label: str,
                            ctx: RequestContext) -> None:
        name = clean_label(label)
        if not name:
            raise InputRejected("Give the key a name.", code="factor.name_required")
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            factor = await uow.factors.get(factor_id)
            if factor is None or factor.account_id != principal.account.id or not factor.active:
                raise FactorNotFound()
            await uow.factors.rename(factor_id, name)
            await uow.audit.append(AuditEvent(EventKind.FACTOR_RENAMED, Outcome.SUCCESS,
                                              principal.account.id, ctx.ip, ctx.user_agent,
                                              {"factor_id": factor_id}), now)

