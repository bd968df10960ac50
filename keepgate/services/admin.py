"""What an operator does from the command line: find an account and help it, check the audit
log, and re-encrypt secrets after a key rotation.

Every change is written to the audit log in the same transaction as the change itself, with
the operator as its actor (a staff actor: their name and reason). Nothing here reveals a
secret: an account is shown by its status, tier, factors by kind, ban and lock state and
session count.

Re-encryption walks the secrets in id order in batches, one transaction per batch (the batch's
audit event included), and rewrites a secret only if it is still the one it read. A run that is
interrupted has committed whole batches and nothing else; a second run skips every secret the
first key already encrypts, so running it again, as often as needed, finishes the job.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import Actor, AuditEvent, EventKind, Outcome
from keepgate.domain.errors import InvalidIdentifier
from keepgate.domain.factors import Factor, FactorKind
from keepgate.domain.identifiers import parse_identifier
from keepgate.domain.sessions import SessionPolicy
from keepgate.security.audit_chain import GENESIS, verify_chain
from keepgate.security.keyring import KeyRing, UndecryptableSecret
from keepgate.services.clock import Clock
from keepgate.services.ports import AuditRecord, ChainLink, Store, UnitOfWork

MAX_REASON_LENGTH = 500
ALL_KINDS = tuple(kind.value for kind in EventKind)
Progress = Callable[[int], None]  # called with how many more items are done


class AdminError(Exception):
    """An operator's request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class Operator:
    """Who acts, and why: the actor of every change an operator makes."""

    name: str
    reason: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise AdminError("name the operator (--operator)")
        reason = " ".join(self.reason.split())
        if not reason:
            raise AdminError("a change needs a reason (--reason \"...\")")
        if len(reason) > MAX_REASON_LENGTH:
            raise AdminError(f"keep the reason under {MAX_REASON_LENGTH} characters")
        object.__setattr__(self, "reason", reason)

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.name, self.reason)


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: Account
    factors: dict[str, int]  # confirmed factors by kind
    pending_factors: int  # enrolments never confirmed
    recovery_codes_left: int
    active_sessions: int
    banned: bool


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    broken_seq: int | None = None  # the first entry that does not verify
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None and not self.problem


@dataclass(slots=True)
class ReencryptionReport:
    examined: int = 0
    reencrypted: int = 0
    undecryptable: list[str] = field(default_factory=list)  # factor ids


class AdminService:
    def __init__(self, *, store: Store, clock: Clock, keyring: KeyRing,
                 session_policy: SessionPolicy) -> None:
        self._store = store
        self._clock = clock
        self._keyring = keyring
        self._session_policy = session_policy

    async def find(self, query: str) -> AccountSummary:
        """An account by id, email address or phone number."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=False) as uow:
            account = await self._lookup(uow, query)
            factors = await uow.factors.for_account(account.id)
            sessions = await uow.sessions.list_for_account(account.id)
            codes = await uow.recovery_codes.remaining(account.id)
        return AccountSummary(
            account=account,
            factors=dict(Counter(f.kind.value for f in factors if f.active)),
            pending_factors=sum(1 for f in factors if not f.active), recovery_codes_left=codes,
            active_sessions=sum(1 for s in sessions if s.is_active(self._session_policy, now)),
            banned=account.banned(now))

    async def lift_ban(self, query: str, operator: Operator) -> Account:
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await self._lookup(uow, query)
            if not account.banned(now) or not await uow.accounts.lift_ban(account.id):
                raise AdminError(f"account {account.id} is not banned")
            await uow.audit.append(AuditEvent(
                EventKind.BAN_LIFTED, Outcome.SUCCESS, account.id,
                details={"banned_until": _iso(account.banned_until)}, actor=operator.actor), now)
        return account

    async def unlock(self, query: str, operator: Operator) -> Account:
        """Lift a "this wasn't me" lock, once the owner has proven who they are."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await self._lookup(uow, query)
            if account.locked_at is None or not await uow.accounts.unlock(account.id):
                raise AdminError(f"account {account.id} is not locked")
            await uow.audit.append(AuditEvent(
                EventKind.UNLOCKED, Outcome.SUCCESS, account.id,
                details={"locked_at": _iso(account.locked_at)}, actor=operator.actor), now)
        return account

    async def end_sessions(self, query: str, operator: Operator) -> int:
        """Revoke every session of the account; returns how many were still open."""
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            account = await self._lookup(uow, query)
            ended = await uow.sessions.revoke_all(account.id, now, keep=None)
            await uow.audit.append(AuditEvent(
                EventKind.SIGNED_OUT_EVERYWHERE, Outcome.SUCCESS, account.id,
                details={"sessions": ended}, actor=operator.actor), now)
        return ended

    async def audit_trail(self, query: str, *, limit: int,
                          before_seq: int | None = None) -> tuple[Account, Sequence[AuditRecord]]:
        """The account's audit events, newest first."""
        async with self._store.unit_of_work(write=False) as uow:
            account = await self._lookup(uow, query)
            records = await uow.audit.for_account(account.id, ALL_KINDS, before_seq=before_seq,
                                                  limit=limit)
        return account, records

    async def audit_length(self) -> int:
        async with self._store.unit_of_work(write=False) as uow:
            seq, _ = await uow.audit.head()
        return seq

    async def verify_audit_chain(self, progress: Progress, *, batch: int = 1000) -> ChainReport:
        """Recompute every hash from the first entry up to the log's head as read at the start
        (entries appended meanwhile are the next run's); stops at the first that fails."""
        async with self._store.unit_of_work(write=False) as uow:
            head_seq, head_hash = await uow.audit.head()
        checked, after_seq, after_hash = 0, 0, GENESIS
        while after_seq < head_seq:
            async with self._store.unit_of_work(write=False) as uow:
                links = await uow.audit.links(after_seq=after_seq,
                                              limit=min(batch, head_seq - after_seq))
            if not links:
                break
            broken = _first_break(links, after_seq, after_hash)
            if broken is not None:
                index, problem = broken
                return ChainReport(checked + index, links[index].seq, problem)
            checked += len(links)
            after_seq, after_hash = links[-1].seq, links[-1].hash
            progress(len(links))
        report = _compare_with_head(checked, after_seq, after_hash, head_seq, head_hash)
        return report if not report.intact else await self._past_the_head(checked, head_seq)

    async def _past_the_head(self, checked: int, head_seq: int) -> ChainReport:
        """An entry past the start's head is fine if the head has since moved past it (an
        append records both at once); read the entry first, then the head."""
        async with self._store.unit_of_work(write=False) as uow:
            later = await uow.audit.links(after_seq=head_seq, limit=1)
            now_seq, _ = await uow.audit.head()
        if later and later[0].seq > now_seq:
            return ChainReport(checked, now_seq + 1, f"entries after {now_seq} were written "
                               "without passing through the log's head")
        return ChainReport(checked)

    async def count_secrets(self) -> int:
        async with self._store.unit_of_work(write=False) as uow:
            return await uow.factors.count_secrets()

    async def reencrypt_secrets(self, operator: Operator, progress: Progress, *,
                                batch: int = 100) -> ReencryptionReport:
        """Re-encrypt every stored secret under the key ring's first key (see module doc)."""
        report = ReencryptionReport()
        after_id = ""
        while True:
            async with self._store.unit_of_work(write=True) as uow:
                factors = await uow.factors.with_secrets(after_id=after_id, limit=batch)
                if not factors:
                    break
                done = [factor.id for factor in factors
                        if await self._reencrypt(uow, factor, report)]
                if done:
                    await uow.audit.append(AuditEvent(
                        EventKind.SECRETS_REENCRYPTED, Outcome.SUCCESS, None,
                        details={"key": self._keyring.current_key_id, "factors": done},
                        actor=operator.actor), self._clock.now())
            report.examined += len(factors)
            report.reencrypted += len(done)
            after_id = factors[-1].id
            progress(len(factors))
        return report

    async def _reencrypt(self, uow: UnitOfWork, factor: Factor,
                         report: ReencryptionReport) -> bool:
        secret = factor.secret
        if secret is None or not self._keyring.needs_reencryption(secret):
            return False
        context = secret_context(factor)
        try:
            if context is None:
                raise UndecryptableSecret()
            plaintext = self._keyring.decrypt(secret, context=context)
        except UndecryptableSecret:
            report.undecryptable.append(factor.id)
            return False
        fresh = self._keyring.encrypt(plaintext, context=context)
        return await uow.factors.replace_secret(factor.id, secret, fresh)

    @staticmethod
    async def _lookup(uow: UnitOfWork, query: str) -> Account:
        text = query.strip()
        if _is_uuid(text):
            account = await uow.accounts.get(text)
        else:
            try:
                identifier = parse_identifier(text)
            except InvalidIdentifier:
                raise AdminError(f"{query!r} is neither an account id, an email address nor a "
                                 "phone number in international form (+44...)") from None
            account = await uow.accounts.find(identifier)
        if account is None:
            raise AdminError(f"no account matches {query!r}")
        return account


def secret_context(factor: Factor) -> str | None:
    """The associated data a factor's secret is sealed with (as enrolment seals it)."""
    return f"totp:{factor.id}" if factor.kind is FactorKind.TOTP else None


def _first_break(links: Sequence[ChainLink], after_seq: int,
                 after_hash: str) -> tuple[int, str] | None:
    """The index of the first link that does not follow on, and why."""
    gap = next((i for i, link in enumerate(links) if link.seq != after_seq + i + 1), None)
    bad = verify_chain([(link.content, link.prev_hash, link.hash) for link in links],
                       after=after_hash)
    if gap is not None and (bad is None or gap <= bad):
        return gap, f"entries {after_seq + gap + 1} to {links[gap].seq - 1} are missing"
    if bad is not None:
        return bad, "its hash, or its link to the entry before, does not match"
    return None


def _compare_with_head(checked: int, last_seq: int, last_hash: str, head_seq: int,
                       head_hash: str) -> ChainReport:
    """The log's head row records the last append: the entries must end exactly there."""
    if last_seq < head_seq:
        return ChainReport(checked, last_seq + 1, f"entries {last_seq + 1} to {head_seq} are "
                           "missing (the log's head records them)")
    if last_hash != head_hash:
        return ChainReport(checked, last_seq, "the last entry's hash is not the one the log's "
                           "head records")
    return ChainReport(checked)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
