"""Ports: what services need from storage, delivery and counters; implemented in adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent
from keepgate.domain.factors import Factor, TrustedDevice
from keepgate.domain.holds import SecurityHold
from keepgate.domain.identifiers import Identifier
from keepgate.domain.kyc import Capability
from keepgate.domain.limits import Reservation, ReservationStatus, Usage
from keepgate.domain.service_clients import ServiceClientRecord
from keepgate.domain.sessions import Session
from keepgate.flows.base import Flow


class DuplicateReservationKey(Exception):
    """Raised by ``LimitRepo.create`` when the account already has a reservation by that key."""


class IdentifierTaken(Exception):
    """Raised by ``AccountRepo.create`` when the email or phone already has an account."""


class StaleFlow(Exception):
    """Raised by ``FlowRepo.save`` when the stored version moved on (a concurrent submit won)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    channel: str  # "email" or "sms"
    destination: str
    template: str
    subject: str
    body: str
    created_at: datetime
    attempts: int
    status: str  # "pending", "sent" or "failed"
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Messages not yet delivered (pending, retries included) and how long the oldest waits."""

    pending: int
    oldest_created_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        if self.oldest_created_at is None:
            return 0.0
        return max((now - self.oldest_created_at).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One audit entry as the hash chain sees it: the content its hash covers."""

    seq: int
    content: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    event: AuditEvent
    prev_hash: str
    hash: str


class AccountRepo(Protocol):
    async def get(self, account_id: str) -> Account | None: ...
    async def find(self, identifier: Identifier) -> Account | None: ...
    async def create(self, account: Account) -> None: ...
    async def set_password_hash(self, account_id: str, password_hash: str) -> None: ...
    async def reserve_attempt(self, account_id: str, now: datetime, limit: int,
                              lifetime: timedelta) -> int | None:
        """Count an attempt before evaluating it, until settled or ``now + lifetime``;
        None when banned or at the limit."""
        ...
    async def count_failure(self, account_id: str, now: datetime) -> int:
        """Settle a reservation as a failure; the consecutive failures now counted."""
        ...
    async def release_attempt(self, account_id: str, now: datetime) -> None: ...
    async def clear_failures(self, account_id: str, now: datetime) -> None: ...
    async def ban(self, account_id: str, until: datetime) -> None: ...
    async def lock(self, account_id: str, now: datetime) -> None: ...
    async def lift_ban(self, account_id: str) -> bool:
        """End a sign-in ban and forget the failures before it; False when none was set."""
        ...
    async def unlock(self, account_id: str) -> bool:
        """Lift a sign-in lock; False when none was set."""
        ...
    async def update_security(self, account_id: str, expected_version: int,
                              **values: Any) -> bool:
        """Compare-and-swap on ``security_version``; raises IdentifierTaken on a duplicate."""
        ...


class FlowRepo(Protocol):
    async def get(self, flow_id: str) -> Flow | None: ...
    async def create(self, flow: Flow) -> None: ...
    async def save(self, flow: Flow) -> Flow:
        """Store ``flow`` if the stored version is ``flow.version``; returns it at version + 1."""
        ...


class SessionRepo(Protocol):
    async def create(self, session: Session) -> None: ...
    async def with_account(self, token_hash: str) -> tuple[Session, Account] | None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def list_for_account(self, account_id: str) -> Sequence[Session]: ...
    async def active_for_account(self, account_id: str, *, now: datetime,
                                 seen_since: datetime) -> Sequence[Session]: ...
    async def touch(self, session_id: str, now: datetime) -> None: ...
    async def elevate(self, session_id: str, *, token_hash: str, aal: str,
                      methods: Sequence[str], now: datetime, strong: bool) -> None: ...
    async def revoke(self, session_id: str, now: datetime) -> bool: ...
    async def revoke_all(self, account_id: str, now: datetime, *, keep: str | None) -> int: ...


class FactorRepo(Protocol):
    async def for_account(self, account_id: str) -> Sequence[Factor]: ...
    async def get(self, factor_id: str) -> Factor | None: ...
    async def by_credential_id(self, credential_id: str) -> Factor | None: ...
    async def create(self, factor: Factor) -> None: ...
    async def claim_step(self, factor_id: str, step: int, now: datetime) -> bool: ...
    async def record_use(self, factor_id: str, now: datetime, *,
                         sign_count: int | None = None) -> None: ...
    async def rename(self, factor_id: str, label: str) -> None: ...
    async def delete(self, factor_id: str) -> bool: ...
    async def count_secrets(self) -> int:
        """How many factors hold an encrypted secret (TOTP seeds)."""
        ...
    async def with_secrets(self, *, after_id: str, limit: int) -> Sequence[Factor]:
        """Factors holding an encrypted secret, in id order, from just after ``after_id``."""
        ...
    async def replace_secret(self, factor_id: str, old: str, new: str) -> bool:
        """Swap the stored secret only if it is still ``old``."""
        ...


class RecoveryCodeRepo(Protocol):
    async def replace(self, account_id: str, code_hashes: Sequence[str],
                      now: datetime) -> None: ...
    async def use(self, account_id: str, code_hash: str, now: datetime) -> bool: ...
    async def remaining(self, account_id: str) -> int: ...


class DeviceRepo(Protocol):
    async def get(self, device_id: str) -> TrustedDevice | None: ...
    async def create(self, device: TrustedDevice) -> None: ...
    async def by_token_hash(self, token_hash: str) -> TrustedDevice | None: ...
    async def for_account(self, account_id: str) -> Sequence[TrustedDevice]: ...
    async def reserve_attempt(self, device_id: str, now: datetime, limit: int,
                              lifetime: timedelta) -> int | None: ...
    async def count_failure(self, device_id: str, now: datetime) -> int: ...
    async def release_attempt(self, device_id: str, now: datetime) -> None: ...
    async def clear_failures(self, device_id: str, now: datetime) -> None: ...
    async def ban(self, device_id: str, until: datetime) -> None: ...
    async def revoke(self, device_id: str, now: datetime) -> bool: ...
    async def revoke_all(self, account_id: str, now: datetime) -> int: ...


class HoldRepo(Protocol):
    async def create(self, hold: SecurityHold) -> None: ...
    async def for_account(self, account_id: str) -> Sequence[SecurityHold]: ...


class LimitRepo(Protocol):
    """Limit usage. Every write to one account's usage of one capability starts with ``lock``,
    which makes concurrent writers take turns until their transactions end."""

    async def lock(self, account_id: str, capability: Capability, now: datetime) -> None: ...
    async def by_key(self, account_id: str, key: str) -> Reservation | None: ...
    async def usage(self, account_id: str, now: datetime, *, day: timedelta,
                    month: timedelta) -> Mapping[Capability, Usage]:
        """Committed and live reserved amounts made in the last ``day`` and ``month``."""
        ...
    async def create(self, reservation: Reservation) -> None:
        """Raises ``DuplicateReservationKey`` when the key is taken on the account."""
        ...
    async def settle(self, reservation_id: str, status: ReservationStatus,
                     now: datetime) -> bool:
        """Commit or release a reservation still reserved; False when it was not."""
class ServiceClientRepo(Protocol):
    async def create(self, client: ServiceClientRecord) -> bool:
        """False when the name is taken, by an active or a revoked client."""
        ...
    async def by_name(self, name: str) -> ServiceClientRecord | None: ...
    async def by_secret_hash(self, secret_hash: str) -> ServiceClientRecord | None: ...
    async def all(self) -> Sequence[ServiceClientRecord]: ...
    async def replace_secret(self, name: str, secret_hash: str, now: datetime) -> bool:
        """Swap an active client's secret hash; False when there is no such active client."""
        ...
    async def revoke(self, name: str, now: datetime) -> bool:
        """False when there is no such active client."""
        ...


class CounterRepo(Protocol):
    """Counters on the sign-in and sending paths, keyed by a keyed hash, each one atomic."""

    async def reserve_unknown_attempt(self, key: str, now: datetime) -> None:
        """Note a sign-in attempt on an identifier that has no account: the write an
        account's reservation costs."""
        ...
    async def record_unknown_failure(self, key: str, now: datetime) -> None:
        """Count a failure that has no counter of its own to settle (no account, or an
        attempt refused unevaluated): the write an account's failure costs."""
        ...
    async def spend_send(self, key: str, now: datetime, window: timedelta
                         ) -> tuple[int, datetime]:
        """Count one message in ``key``'s window; returns the count and the window's start."""
        ...


class HousekeepingRepo(Protocol):
    async def purge(self, now: datetime, *, flows_after: timedelta,
                    attempts_after: timedelta) -> tuple[int, int]:
        """Delete long-expired flows and idle counters; returns (flows, unknown attempts)."""
        ...


class OutboxRepo(Protocol):
    async def enqueue(self, channel: str, destination: str, template: str, subject: str,
                      body: str, now: datetime) -> int: ...
    async def claim_due(self, now: datetime, *, limit: int, lease_seconds: int
                        ) -> Sequence[OutboxMessage]: ...
    async def mark_sent(self, message_id: int, now: datetime, *, keep_body: bool) -> None: ...
    async def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime | None
                         ) -> None: ...
    async def recent(self, limit: int) -> Sequence[OutboxMessage]: ...
    async def backlog(self) -> OutboxBacklog: ...


class AuditRepo(Protocol):
    async def append(self, event: AuditEvent, now: datetime) -> AuditRecord: ...
    async def read(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AuditRecord]: ...
    async def for_account(self, account_id: str, kinds: Sequence[str], *,
                          before_seq: int | None = None, outcome: str | None = None,
                          limit: int = 50) -> Sequence[AuditRecord]: ...
    async def head(self) -> tuple[int, str]:
        """The last sequence number and hash, as recorded by the last append."""
        ...
    async def links(self, *, after_seq: int, limit: int) -> Sequence[ChainLink]: ...


class UnitOfWork(Protocol):
    @property
    def accounts(self) -> AccountRepo: ...
    @property
    def flows(self) -> FlowRepo: ...
    @property
    def sessions(self) -> SessionRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def factors(self) -> FactorRepo: ...
    @property
    def recovery_codes(self) -> RecoveryCodeRepo: ...
    @property
    def devices(self) -> DeviceRepo: ...
    @property
    def holds(self) -> HoldRepo: ...
    @property
    def limits(self) -> LimitRepo: ...
    @property
    def counters(self) -> CounterRepo: ...
    @property
    def housekeeping(self) -> HousekeepingRepo: ...
    @property
    def service_clients(self) -> ServiceClientRepo: ...


class Store(Protocol):
    def unit_of_work(self, *, write: bool) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction: committed when the block exits normally, rolled back otherwise."""
        ...

    async def ping(self) -> None:
        """Answer a trivial query on the schema or raise: the readiness probe's check."""
        ...

    async def close(self) -> None: ...


class MessageSender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver or raise; the outbox worker retries with backoff."""
        ...


class ReplayGuard(Protocol):
    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        """True the first time ``key`` is seen within ``ttl_seconds``, False on every repeat.

        Atomic: of any number of concurrent calls with one key, exactly one gets True.
        """
        ...


class TimeUnit(Enum):
    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"


@dataclass(frozen=True, slots=True)
class Window:
    """A fixed-window limit: at most ``amount`` hits per key in each ``length`` × ``unit``."""

    namespace: str
    amount: int
    length: int
    unit: TimeUnit


class WindowCounters(Protocol):
    """Hit counters per key in fixed windows; each operation is atomic."""

    async def hit(self, window: Window, key: str) -> bool:
        """Count one hit; False when this hit went over ``window.amount``."""
        ...
    async def give_back(self, window: Window, key: str) -> None:
        """Take one counted hit back (a reservation that should not count)."""
        ...
    async def count(self, window: Window, key: str) -> int:
        """The hits counted in the key's current window, at most ``window.amount``."""
        ...
    async def seconds_left(self, window: Window, key: str) -> int:
        """Whole seconds until the key's current window ends, at least 1."""
        ...
    async def clear(self, window: Window, key: str) -> None: ...
