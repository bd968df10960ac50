"""Ports: what services need from storage and delivery; declared here, implemented in adapters."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent
from keepgate.domain.identifiers import Identifier
from keepgate.domain.sessions import Session
from keepgate.flows.base import Flow


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


class FlowRepo(Protocol):
    async def get(self, flow_id: str) -> Flow | None: ...
    async def create(self, flow: Flow) -> None: ...
    async def save(self, flow: Flow) -> Flow:
        """Store ``flow`` if the stored version is ``flow.version``; returns it at version + 1."""
        ...


class SessionRepo(Protocol):
    async def create(self, session: Session) -> None: ...
    async def by_token_hash(self, token_hash: str) -> Session | None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def list_for_account(self, account_id: str) -> Sequence[Session]: ...
    async def touch(self, session_id: str, now: datetime) -> None: ...
    async def revoke(self, session_id: str, now: datetime) -> bool: ...
    async def revoke_all(self, account_id: str, now: datetime, *, keep: str | None) -> int: ...


class OutboxRepo(Protocol):
    async def enqueue(self, channel: str, destination: str, template: str, subject: str,
                      body: str, now: datetime) -> int: ...
    async def count_since(self, destination: str, since: datetime) -> int: ...
    async def claim_due(self, now: datetime, *, limit: int, lease_seconds: int
                        ) -> Sequence[OutboxMessage]: ...
    async def mark_sent(self, message_id: int, now: datetime, *, keep_body: bool) -> None: ...
    async def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime | None
                         ) -> None: ...
    async def recent(self, limit: int) -> Sequence[OutboxMessage]: ...


class AuditRepo(Protocol):
    async def append(self, event: AuditEvent, now: datetime) -> AuditRecord: ...
    async def read(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AuditRecord]: ...


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


class Store(Protocol):
    def unit_of_work(self, *, write: bool) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction: committed when the block exits normally, rolled back otherwise."""
        ...

    async def close(self) -> None: ...


class MessageSender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver or raise; the outbox worker retries with backoff."""
        ...
