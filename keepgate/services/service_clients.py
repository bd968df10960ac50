"""Service clients: created, rotated and revoked by an operator; authenticated on every call.

A client authenticates with HTTP Basic (its name and secret) or with its secret alone as a
bearer token. Basic finds the client by name and compares the secret's keyed hash in constant
time (``security.service_secrets``); a bearer secret is found by its keyed hash, an index
look-up that tells an attacker nothing, since without the key nobody can choose a secret by
what its hash begins with. An unknown client, a wrong secret, a replaced one and a revoked
client get one and the same answer (``ServiceClientUnauthenticated``).

What the audit log holds, per call or in sum:

* operators' changes (created, rotated, revoked): one event each, with the operator and reason;
* refusals: an unauthenticated call (``access.unauthenticated``) and a missing scope
  (``access.denied``, with the client as actor), at most once a minute per address and path,
  and per client and scope, as every refusal is, so that a loop cannot flood the log;
* introspections: counted per client and written as one ``service_client.introspections``
  event a minute (per instance) with the number of calls and of active answers. An
  introspection changes nothing and sits on every order the trading engine takes: one
  hash-chained append per call would take the chain's lock (every instance's appends queue on
  it) and a write transaction on each order, to record what the session's own events already
  say. A crash loses at most the current minute's counts; ``flush`` writes them on shutdown.
* decisions and limit changes, once served, will be audited per call in the transaction that
  makes them: they are what an investigation asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keepgate.domain.audit import Actor, AuditEvent, EventKind, Outcome
from keepgate.domain.errors import ScopeRequired, ServiceClientUnauthenticated
from keepgate.domain.principals import ServiceClient
from keepgate.domain.service_clients import (
    InvalidServiceClient,
    Scope,
    ServiceClientRecord,
    parse_scopes,
    valid_name,
)
from keepgate.security.errors import InvalidServiceSecret
from keepgate.security.service_secrets import MAX_SECRET_LENGTH, ServiceSecretHasher, new_secret
from keepgate.security.tokens import new_id
from keepgate.services.access import AccessService
from keepgate.services.admin import AdminError, Operator
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.ports import Store, TimeUnit, Window, WindowCounters

log = logging.getLogger("keepgate.service_clients")
MAX_NAME_LENGTH = 64
SCOPE_REFUSALS_RECORDED = Window("kg-audit-scope", 1, 1, TimeUnit.MINUTE)
TALLY_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A client and its new secret: the only time the secret exists outside the caller."""

    client: ServiceClientRecord
    secret: str


@dataclass(slots=True)
class _Tally:
    calls: int = 0
    active: int = 0


class ServiceClients:
    def __init__(self, *, store: Store, clock: Clock, hasher: ServiceSecretHasher,
                 access: AccessService, counters: WindowCounters) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._access = access
        self._counters = counters
        self._tally: dict[str, _Tally] = {}
        self._tally_since: datetime | None = None

    # ----------------------------------------------------------------- operators' tasks

    async def create(self, name: str, scopes: Sequence[str], operator: Operator) -> IssuedSecret:
        try:
            record = ServiceClientRecord(
                id=new_id(), name=valid_name(name), scopes=parse_scopes(scopes),
                secret_hash="", created_at=self._clock.now(), created_by=operator.name)
        except InvalidServiceClient as error:
            raise AdminError(str(error)) from None
        secret = new_secret()
        record = ServiceClientRecord(
            id=record.id, name=record.name, scopes=record.scopes,
            secret_hash=self._hasher.digest(secret), created_at=record.created_at,
            created_by=record.created_by)
        async with self._store.unit_of_work(write=True) as uow:
            if not await uow.service_clients.create(record):
                raise AdminError(f"a service client named {name!r} exists or existed; names "
                                 "are never reused: choose another")
            await uow.audit.append(self._event(
                EventKind.SERVICE_CLIENT_CREATED, record, operator,
                scopes=sorted(s.value for s in record.scopes)), record.created_at)
        return IssuedSecret(record, secret)

    async def rotate(self, name: str, operator: Operator) -> IssuedSecret:
        """A new secret; the old one stops working at once."""
        secret = new_secret()
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            if not await uow.service_clients.replace_secret(name, self._hasher.digest(secret),
                                                            now):
                raise AdminError(f"no active service client named {name!r}")
            record = await uow.service_clients.by_name(name)
            assert record is not None
            await uow.audit.append(self._event(EventKind.SERVICE_CLIENT_ROTATED, record,
                                               operator), now)
        return IssuedSecret(record, secret)

    async def revoke(self, name: str, operator: Operator) -> ServiceClientRecord:
        now = self._clock.now()
        async with self._store.unit_of_work(write=True) as uow:
            if not await uow.service_clients.revoke(name, now):
                raise AdminError(f"no active service client named {name!r}")
            record = await uow.service_clients.by_name(name)
            assert record is not None
            await uow.audit.append(self._event(EventKind.SERVICE_CLIENT_REVOKED, record,
                                               operator), now)
        return record

    async def list(self) -> Sequence[ServiceClientRecord]:
        async with self._store.unit_of_work(write=False) as uow:
            return await uow.service_clients.all()

    @staticmethod
    def _event(kind: EventKind, record: ServiceClientRecord, operator: Operator,
               **details: object) -> AuditEvent:
        return AuditEvent(kind, Outcome.SUCCESS, None,
                          details={"client": record.name, "client_id": record.id, **details},
                          actor=operator.actor)

    # ----------------------------------------------------------------- every call

    async def authenticate(self, name: str | None, secret: str, ctx: RequestContext,
                           path: str) -> ServiceClient:
        """The client whose secret this is (and, with HTTP Basic, whose ``name``); raises
        ``ServiceClientUnauthenticated`` otherwise, the refusal audited."""
        if not secret or len(secret) > MAX_SECRET_LENGTH or (
                name is not None and not 0 < len(name) <= MAX_NAME_LENGTH):
            raise await self.refuse(ctx, path, "malformed_credentials")
        digest = self._hasher.digest(secret)
        async with self._store.unit_of_work(write=False) as uow:
            record = await (uow.service_clients.by_name(name) if name is not None
                            else uow.service_clients.by_secret_hash(digest))
        if record is None:
            raise await self.refuse(ctx, path, "unknown_client")
        if name is not None:
            try:
                self._hasher.verify(secret, record.secret_hash)
            except InvalidServiceSecret:
                raise await self.refuse(ctx, path, "wrong_secret") from None
        if not record.active:
            raise await self.refuse(ctx, path, "revoked_client")
        return ServiceClient(record.name, frozenset(),
                             frozenset(s.value for s in record.scopes))

    async def refuse(self, ctx: RequestContext, path: str,
                     reason: str) -> ServiceClientUnauthenticated:
        """Audit an unauthenticated call (rate-limited) and return the one public error."""
        await self._access.record_unauthenticated(ctx, path, reason)
        return ServiceClientUnauthenticated()

    async def require_scope(self, client: ServiceClient, scope: Scope, ctx: RequestContext,
                            path: str) -> None:
        if scope.value in client.scopes:
            return
        if await self._counters.hit(SCOPE_REFUSALS_RECORDED, f"{client.name}|{scope.value}"):
            async with self._store.unit_of_work(write=True) as uow:
                await uow.audit.append(AuditEvent(
                    EventKind.ACCESS_DENIED, Outcome.FAILURE, None, ctx.ip, ctx.user_agent,
                    {"path": path, "scope": scope.value, "reasons": ["scope_required"]},
                    Actor.service(client.name)), self._clock.now())
        raise ScopeRequired(details={"scope": scope.value})

    # ----------------------------------------------------------------- introspection tally

    async def count_introspection(self, client: ServiceClient, *, active: bool) -> None:
        """Count one introspection; the minute's counts are written once it is over."""
        now = self._clock.now()
        if self._tally_since is None:
            self._tally_since = now
        elif now - self._tally_since >= TALLY_WINDOW:
            await self.flush()
            self._tally_since = now
        tally = self._tally.setdefault(client.name, _Tally())
        tally.calls += 1
        tally.active += active

    async def flush(self) -> int:
        """Write the counts gathered so far, one event per client; returns how many."""
        tally, since = self._tally, self._tally_since
        self._tally, self._tally_since = {}, None  # before any await: no count is lost
        if not tally or since is None:
            return 0
        now = self._clock.now()
        try:
            await self._write_tally(tally, since, now)
        except BaseException:
            for name, counts in tally.items():  # put them back for the next flush
                kept = self._tally.setdefault(name, _Tally())
                kept.calls += counts.calls
                kept.active += counts.active
            self._tally_since = since
            raise
        return len(tally)

    async def _write_tally(self, tally: dict[str, _Tally], since: datetime,
                           now: datetime) -> None:
        async with self._store.unit_of_work(write=True) as uow:
            for name, counts in sorted(tally.items()):
                await uow.audit.append(AuditEvent(
                    EventKind.SERVICE_INTROSPECTIONS, Outcome.SUCCESS, None,
                    details={"calls": counts.calls, "active": counts.active,
                             "inactive": counts.calls - counts.active,
                             "from": since.isoformat(), "until": now.isoformat()},
                    actor=Actor.service(name)), now)
