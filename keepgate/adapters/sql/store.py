"""The SQL implementation of every storage port, one transaction per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.engine import WRITE_OPTION
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.factors import Factor, FactorKind, TrustedDevice
from keepgate.domain.holds import HoldReason, SecurityHold
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.sessions import AAL, Session
from keepgate.flows.base import Channel, Flow, FlowKind, Message
from keepgate.security.audit_chain import entry_hash
from keepgate.services.ports import (
    AuditRecord,
    IdentifierTaken,
    OutboxMessage,
    StaleFlow,
    UnitOfWork,
)


class SqlAccounts:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> Account:
        return Account(id=row.id, email=row.email, phone=row.phone,
                       password_hash=row.password_hash, status=AccountStatus(row.status),
                       kyc_tier=row.kyc_tier, created_at=row.created_at,
                       failed_logins=row.failed_logins, banned_until=row.banned_until,
                       locked_at=row.locked_at, anti_phishing_code=row.anti_phishing_code,
                       muted_notices=tuple(row.muted_notices or ()),
                       security_version=row.security_version)

    async def get(self, account_id: str) -> Account | None:
        row = (await self._c.execute(
            sa.select(t.accounts).where(t.accounts.c.id == account_id))).first()
        return self._row(row) if row else None

    async def find(self, identifier: Identifier) -> Account | None:
        email = identifier.kind is IdentifierKind.EMAIL
        column = t.accounts.c.email if email else t.accounts.c.phone
        row = (await self._c.execute(
            sa.select(t.accounts).where(column == identifier.value))).first()
        return self._row(row) if row else None

    async def create(self, account: Account) -> None:
        try:
            async with self._c.begin_nested():
                await self._c.execute(sa.insert(t.accounts).values(
                    id=account.id, email=account.email, phone=account.phone,
                    password_hash=account.password_hash, status=account.status.value,
                    kyc_tier=account.kyc_tier, created_at=account.created_at))
        except IntegrityError:
            raise IdentifierTaken() from None

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(password_hash=password_hash))

    async def reserve_attempt(self, account_id: str, now: datetime, limit: int) -> int | None:
        return await _reserve_attempt(self._c, t.accounts, account_id, now, limit)

    async def refund_attempt(self, account_id: str) -> None:
        await _refund_attempt(self._c, t.accounts, account_id)

    async def clear_failures(self, account_id: str) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(failed_logins=0))

    async def ban(self, account_id: str, until: datetime) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(failed_logins=0, banned_until=until))

    async def lock(self, account_id: str, now: datetime) -> None:
        await self._c.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id)
                              .values(locked_at=now))

    async def update_security(self, account_id: str, expected_version: int,
                              **values: Any) -> bool:
        """Change security settings only if nobody else did since ``expected_version``."""
        c = t.accounts.c
        allowed = {"anti_phishing_code", "muted_notices", "password_hash", "email", "phone"}
        assert set(values) <= allowed, values
        try:
            async with self._c.begin_nested():
                result = await self._c.execute(
                    sa.update(t.accounts)
                    .where(c.id == account_id, c.security_version == expected_version)
                    .values(security_version=c.security_version + 1, **values))
        except IntegrityError:
            raise IdentifierTaken() from None
        return bool(result.rowcount)


async def _refund_attempt(conn: AsyncConnection, table: sa.Table, row_id: str) -> None:
    """Give back one reserved attempt (a step that passed but did not finish the sign-in)."""
    c = table.c
    await conn.execute(sa.update(table).where(c.id == row_id, c.failed_logins > 0)
                       .values(failed_logins=c.failed_logins - 1))


async def _reserve_attempt(conn: AsyncConnection, table: sa.Table, row_id: str, now: datetime,
                           limit: int) -> int | None:
    """Count an attempt before it is evaluated: one atomic conditional UPDATE.

    Returns the attempt's number (1..limit), or None when the row is banned or ``limit``
    attempts are already counted (including ones still being evaluated). Parallel guesses
    therefore never evaluate more than ``limit`` candidates; a success clears the count.
    """
    c = table.c
    result = await conn.execute(
        sa.update(table)
        .where(c.id == row_id, c.failed_logins < limit,
               sa.or_(c.banned_until.is_(None), c.banned_until <= now))
        .values(failed_logins=c.failed_logins + 1)
        .returning(c.failed_logins))
    count = result.scalar_one_or_none()
    return int(count) if count is not None else None


class SqlFlows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _values(flow: Flow) -> dict[str, Any]:
        return dict(kind=flow.kind.value, channel=flow.channel.value, state=flow.state,
                    created_at=flow.created_at, expires_at=flow.expires_at,
                    context=dict(flow.context),
                    messages=[{"code": m.code, "text": m.text, "type": m.type}
                              for m in flow.messages],
                    binding=flow.binding, account_id=flow.account_id, session_id=flow.session_id)

    async def get(self, flow_id: str) -> Flow | None:
        row = (await self._c.execute(sa.select(t.flows).where(t.flows.c.id == flow_id))).first()
        if row is None:
            return None
        return Flow(id=row.id, kind=FlowKind(row.kind), channel=Channel(row.channel),
                    state=row.state, created_at=row.created_at, expires_at=row.expires_at,
                    version=row.version, context=row.context,
                    messages=tuple(Message(**m) for m in row.messages), binding=row.binding,
                    account_id=row.account_id, session_id=row.session_id)

    async def create(self, flow: Flow) -> None:
        await self._c.execute(sa.insert(t.flows).values(id=flow.id, version=flow.version,
                                                        **self._values(flow)))

    async def save(self, flow: Flow) -> Flow:
        result = await self._c.execute(
            sa.update(t.flows)
            .where(t.flows.c.id == flow.id, t.flows.c.version == flow.version)
            .values(version=flow.version + 1, **self._values(flow)))
        if result.rowcount != 1:
            raise StaleFlow(flow.id)
        return flow.evolve(version=flow.version + 1)


class _Prefixed:
    """Attribute access to the ``acct__``-labelled columns of a joined row."""

    def __init__(self, mapping: Any, prefix: str) -> None:
        self._mapping = mapping
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._mapping[f"{self._prefix}{name}"]


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> Session:
        return Session(id=row.id, account_id=row.account_id, token_hash=row.token_hash,
                       aal=AAL(row.aal), methods=tuple(row.methods), channel=row.channel,
                       created_at=row.created_at, last_seen_at=row.last_seen_at,
                       expires_at=row.expires_at, ip=row.ip, user_agent=row.user_agent,
                       revoked_at=row.revoked_at, second_factor_at=row.second_factor_at)

    async def create(self, session: Session) -> None:
        await self._c.execute(sa.insert(t.sessions).values(
            id=session.id, account_id=session.account_id, token_hash=session.token_hash,
            aal=session.aal.value, methods=list(session.methods), channel=session.channel,
            created_at=session.created_at, last_seen_at=session.last_seen_at,
            expires_at=session.expires_at, ip=session.ip[:64],
            user_agent=session.user_agent[:512], revoked_at=None,
            second_factor_at=session.second_factor_at))

    async def by_token_hash(self, token_hash: str) -> Session | None:
        row = (await self._c.execute(
            sa.select(t.sessions).where(t.sessions.c.token_hash == token_hash))).first()
        return self._row(row) if row else None

    async def with_account(self, token_hash: str) -> tuple[Session, Account] | None:
        """The session and its account in one query: every authenticated request asks."""
        s, a = t.sessions.c, t.accounts.c
        account_columns = [c.label(f"acct__{c.name}") for c in t.accounts.c]
        row = (await self._c.execute(
            sa.select(t.sessions, *account_columns)
            .join(t.accounts, a.id == s.account_id)
            .where(s.token_hash == token_hash))).first()
        if row is None:
            return None
        mapping = row._mapping
        account_row = _Prefixed(mapping, "acct__")
        return self._row(row), SqlAccounts._row(account_row)

    async def get(self, session_id: str) -> Session | None:
        row = (await self._c.execute(
            sa.select(t.sessions).where(t.sessions.c.id == session_id))).first()
        return self._row(row) if row else None

    async def list_for_account(self, account_id: str) -> Sequence[Session]:
        rows = await self._c.execute(sa.select(t.sessions).where(
            t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)))
        return [self._row(r) for r in rows]

    async def elevate(self, session_id: str, *, token_hash: str, aal: str,
                      methods: Sequence[str], now: datetime) -> None:
        """A second factor proven: new token (the old one stops working), higher level."""
        await self._c.execute(sa.update(t.sessions).where(t.sessions.c.id == session_id).values(
            token_hash=token_hash, aal=aal, methods=list(methods), second_factor_at=now,
            last_seen_at=now))

    async def touch(self, session_id: str, now: datetime) -> None:
        await self._c.execute(sa.update(t.sessions).where(t.sessions.c.id == session_id)
                              .values(last_seen_at=now))

    async def revoke(self, session_id: str, now: datetime) -> bool:
        result = await self._c.execute(
            sa.update(t.sessions)
            .where(t.sessions.c.id == session_id, t.sessions.c.revoked_at.is_(None))
            .values(revoked_at=now))
        return bool(result.rowcount)

    async def revoke_all(self, account_id: str, now: datetime, *, keep: str | None) -> int:
        condition = [t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)]
        if keep is not None:
            condition.append(t.sessions.c.id != keep)
        result = await self._c.execute(sa.update(t.sessions).where(*condition)
                                       .values(revoked_at=now))
        return int(result.rowcount)


class SqlMaintenance:
    """Upkeep that keeps tables bounded: unknown-identifier counters and dead flows."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def record_unknown_attempt(self, key: str, now: datetime) -> None:
        table = t.unknown_attempts
        dialect = self._c.dialect.name
        insert_fn: Any = (sqlite_insert if dialect == "sqlite" else postgresql_insert)
        statement = insert_fn(table).values(key=key, failed=1, updated_at=now)
        await self._c.execute(statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"failed": table.c.failed + 1, "updated_at": now}))

    async def spend_send(self, key: str, now: datetime, window: timedelta
                         ) -> tuple[int, datetime]:
        """Count one send in ``key``'s window (a new window once the old one is over);
        returns the count and the window's start. One atomic upsert: parallel sends cannot
        slip past the limit together."""
        table = t.send_budgets
        c = table.c
        insert_fn: Any = (sqlite_insert if self._c.dialect.name == "sqlite"
                          else postgresql_insert)
        expired = c.window_start <= now - window
        statement = insert_fn(table).values(key=key, window_start=now, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=[c.key],
            set_={"count": sa.case((expired, 1), else_=c.count + 1),
                  "window_start": sa.case((expired, now), else_=c.window_start)},
        ).returning(c.count, c.window_start)
        count, start = (await self._c.execute(statement)).one()  # ("count" is a Row method)
        if isinstance(start, str):  # SQLite's RETURNING may bypass the column type
            start = datetime.fromisoformat(start)
        start = start if start.tzinfo else start.replace(tzinfo=now.tzinfo)
        return int(count), start

    async def purge(self, now: datetime, *, flows_after: timedelta,
                    attempts_after: timedelta) -> tuple[int, int]:
        await self._c.execute(sa.delete(t.send_budgets).where(
            t.send_budgets.c.window_start < now - attempts_after))
        flows = await self._c.execute(sa.delete(t.flows).where(
            t.flows.c.expires_at < now - flows_after))
        attempts = await self._c.execute(sa.delete(t.unknown_attempts).where(
            t.unknown_attempts.c.updated_at < now - attempts_after))
        return int(flows.rowcount), int(attempts.rowcount)


class SqlHolds:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def create(self, hold: SecurityHold) -> None:
        await self._c.execute(sa.insert(t.security_holds).values(
            id=hold.id, account_id=hold.account_id, kind=hold.kind, reason=hold.reason.value,
            created_at=hold.created_at, expires_at=hold.expires_at))

    async def for_account(self, account_id: str) -> Sequence[SecurityHold]:
        c = t.security_holds.c
        rows = await self._c.execute(sa.select(t.security_holds).where(
            c.account_id == account_id).order_by(c.created_at.desc()))
        return [SecurityHold(id=r.id, account_id=r.account_id, kind=r.kind,
                             reason=HoldReason(r.reason), created_at=r.created_at,
                             expires_at=r.expires_at) for r in rows]


class SqlFactors:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> Factor:
        return Factor(id=row.id, account_id=row.account_id, kind=FactorKind(row.kind),
                      label=row.label, created_at=row.created_at,
                      confirmed_at=row.confirmed_at, last_used_at=row.last_used_at,
                      secret=row.secret, last_step=row.last_step, destination=row.destination,
                      credential_id=row.credential_id, public_key=row.public_key,
                      sign_count=row.sign_count, transports=tuple(row.transports),
                      passkey=row.passkey)

    async def for_account(self, account_id: str) -> Sequence[Factor]:
        rows = await self._c.execute(sa.select(t.factors).where(
            t.factors.c.account_id == account_id).order_by(t.factors.c.created_at))
        return [self._row(r) for r in rows]

    async def get(self, factor_id: str) -> Factor | None:
        row = (await self._c.execute(
            sa.select(t.factors).where(t.factors.c.id == factor_id))).first()
        return self._row(row) if row else None

    async def by_credential_id(self, credential_id: str) -> Factor | None:
        row = (await self._c.execute(sa.select(t.factors).where(
            t.factors.c.credential_id == credential_id))).first()
        return self._row(row) if row else None

    async def create(self, factor: Factor) -> None:
        await self._c.execute(sa.insert(t.factors).values(
            id=factor.id, account_id=factor.account_id, kind=factor.kind.value,
            label=factor.label[:64], created_at=factor.created_at,
            confirmed_at=factor.confirmed_at, last_used_at=factor.last_used_at,
            secret=factor.secret, last_step=factor.last_step, destination=factor.destination,
            credential_id=factor.credential_id, public_key=factor.public_key,
            sign_count=factor.sign_count, transports=list(factor.transports),
            passkey=factor.passkey))

    async def confirm(self, factor_id: str, now: datetime, *, last_step: int | None = None
                      ) -> bool:
        result = await self._c.execute(
            sa.update(t.factors)
            .where(t.factors.c.id == factor_id, t.factors.c.confirmed_at.is_(None))
            .values(confirmed_at=now, last_step=last_step))
        return bool(result.rowcount)

    async def claim_step(self, factor_id: str, step: int, now: datetime) -> bool:
        """TOTP replay guard: True only for the first use of ``step`` or a later one."""
        c = t.factors.c
        result = await self._c.execute(
            sa.update(t.factors)
            .where(c.id == factor_id, sa.or_(c.last_step.is_(None), c.last_step < step))
            .values(last_step=step, last_used_at=now))
        return bool(result.rowcount)

    async def record_use(self, factor_id: str, now: datetime, *,
                         sign_count: int | None = None) -> None:
        values: dict[str, Any] = {"last_used_at": now}
        if sign_count is not None:
            values["sign_count"] = sign_count
        await self._c.execute(sa.update(t.factors).where(t.factors.c.id == factor_id)
                              .values(**values))

    async def rename(self, factor_id: str, label: str) -> None:
        await self._c.execute(sa.update(t.factors).where(t.factors.c.id == factor_id)
                              .values(label=label[:64]))

    async def delete(self, factor_id: str) -> bool:
        result = await self._c.execute(sa.delete(t.factors).where(t.factors.c.id == factor_id))
        return bool(result.rowcount)


class SqlRecoveryCodes:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def replace(self, account_id: str, code_hashes: Sequence[str], now: datetime) -> None:
        await self._c.execute(sa.delete(t.recovery_codes).where(
            t.recovery_codes.c.account_id == account_id))
        await self._c.execute(sa.insert(t.recovery_codes), [
            {"account_id": account_id, "code_hash": h, "created_at": now} for h in code_hashes])

    async def use(self, account_id: str, code_hash: str, now: datetime) -> bool:
        c = t.recovery_codes.c
        result = await self._c.execute(
            sa.update(t.recovery_codes)
            .where(c.account_id == account_id, c.code_hash == code_hash, c.used_at.is_(None))
            .values(used_at=now))
        return bool(result.rowcount)

    async def remaining(self, account_id: str) -> int:
        c = t.recovery_codes.c
        result = await self._c.execute(sa.select(sa.func.count()).select_from(t.recovery_codes)
                                       .where(c.account_id == account_id, c.used_at.is_(None)))
        return int(result.scalar_one())

    async def clear(self, account_id: str) -> None:
        await self._c.execute(sa.delete(t.recovery_codes).where(
            t.recovery_codes.c.account_id == account_id))


class SqlDevices:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> TrustedDevice:
        return TrustedDevice(id=row.id, account_id=row.account_id, token_hash=row.token_hash,
                             created_at=row.created_at, expires_at=row.expires_at,
                             last_used_at=row.last_used_at, ip=row.ip,
                             user_agent=row.user_agent, failed_logins=row.failed_logins,
                             banned_until=row.banned_until, revoked_at=row.revoked_at)

    async def create(self, device: TrustedDevice) -> None:
        await self._c.execute(sa.insert(t.trusted_devices).values(
            id=device.id, account_id=device.account_id, token_hash=device.token_hash,
            created_at=device.created_at, expires_at=device.expires_at,
            last_used_at=device.last_used_at, ip=device.ip[:64],
            user_agent=device.user_agent[:512], failed_logins=0))

    async def by_token_hash(self, token_hash: str) -> TrustedDevice | None:
        row = (await self._c.execute(sa.select(t.trusted_devices).where(
            t.trusted_devices.c.token_hash == token_hash))).first()
        return self._row(row) if row else None

    async def for_account(self, account_id: str) -> Sequence[TrustedDevice]:
        c = t.trusted_devices.c
        rows = await self._c.execute(sa.select(t.trusted_devices).where(
            c.account_id == account_id, c.revoked_at.is_(None)).order_by(c.created_at))
        return [self._row(r) for r in rows]

    async def reserve_attempt(self, device_id: str, now: datetime, limit: int) -> int | None:
        return await _reserve_attempt(self._c, t.trusted_devices, device_id, now, limit)

    async def refund_attempt(self, device_id: str) -> None:
        await _refund_attempt(self._c, t.trusted_devices, device_id)

    async def clear_failures(self, device_id: str, now: datetime) -> None:
        await self._c.execute(sa.update(t.trusted_devices)
                              .where(t.trusted_devices.c.id == device_id)
                              .values(failed_logins=0, last_used_at=now))

    async def ban(self, device_id: str, until: datetime) -> None:
        await self._c.execute(sa.update(t.trusted_devices)
                              .where(t.trusted_devices.c.id == device_id)
                              .values(failed_logins=0, banned_until=until))

    async def revoke(self, device_id: str, now: datetime) -> bool:
        c = t.trusted_devices.c
        result = await self._c.execute(sa.update(t.trusted_devices).where(
            c.id == device_id, c.revoked_at.is_(None)).values(revoked_at=now))
        return bool(result.rowcount)

    async def revoke_all(self, account_id: str, now: datetime) -> int:
        c = t.trusted_devices.c
        result = await self._c.execute(sa.update(t.trusted_devices).where(
            c.account_id == account_id, c.revoked_at.is_(None)).values(revoked_at=now))
        return int(result.rowcount)


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _row(row: Any) -> OutboxMessage:
        return OutboxMessage(id=row.id, channel=row.channel, destination=row.destination,
                             template=row.template, subject=row.subject, body=row.body,
                             created_at=row.created_at, attempts=row.attempts, status=row.status,
                             sent_at=row.sent_at, last_error=row.last_error)

    async def enqueue(self, channel: str, destination: str, template: str, subject: str,
                      body: str, now: datetime) -> int:
        result = await self._c.execute(sa.insert(t.outbox).values(
            channel=channel, destination=destination, template=template, subject=subject,
            body=body, created_at=now, status="pending", attempts=0, next_attempt_at=now,
        ).returning(t.outbox.c.id))
        return int(result.scalar_one())

    async def count_since(self, destination: str, since: datetime) -> int:
        result = await self._c.execute(sa.select(sa.func.count()).select_from(t.outbox).where(
            t.outbox.c.destination == destination, t.outbox.c.created_at >= since))
        return int(result.scalar_one())

    async def claim_due(self, now: datetime, *, limit: int, lease_seconds: int
                        ) -> Sequence[OutboxMessage]:
        o = t.outbox.c
        claimable = [o.status == "pending", o.next_attempt_at <= now,
                     sa.or_(o.lease_until.is_(None), o.lease_until < now)]
        # A materialised CTE runs once: as a plain IN (subquery), PostgreSQL may re-run a
        # LIMIT ... FOR UPDATE SKIP LOCKED subquery per row and claim more than ``limit``.
        due = (sa.select(o.id).where(*claimable).order_by(o.id).limit(limit)
               .with_for_update(skip_locked=True)
               .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
        # The outer WHERE repeats the conditions: under READ COMMITTED a row another worker
        # claimed meanwhile is re-checked and skipped, so a message has one lease at a time.
        result = await self._c.execute(
            sa.update(t.outbox).where(o.id.in_(sa.select(due.c.id)), *claimable)
            .values(lease_until=now + timedelta(seconds=lease_seconds), attempts=o.attempts + 1)
            .returning(*t.outbox.c))
        return sorted((self._row(r) for r in result), key=lambda m: m.id)

    async def mark_sent(self, message_id: int, now: datetime, *, keep_body: bool) -> None:
        values: dict[str, Any] = dict(status="sent", sent_at=now, lease_until=None)
        if not keep_body:
            values["body"] = ""
        await self._c.execute(sa.update(t.outbox).where(t.outbox.c.id == message_id)
                              .values(**values))

    async def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime | None
                         ) -> None:
        values: dict[str, Any] = dict(lease_until=None, last_error=error)
        if next_attempt_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = next_attempt_at
        await self._c.execute(sa.update(t.outbox).where(t.outbox.c.id == message_id)
                              .values(**values))

    async def recent(self, limit: int) -> Sequence[OutboxMessage]:
        rows = await self._c.execute(sa.select(t.outbox).order_by(t.outbox.c.id.desc())
                                     .limit(limit))
        return [self._row(r) for r in rows]


class SqlAudit:
    def __init__(self, conn: AsyncConnection, writable: bool) -> None:
        self._c = conn
        self._writable = writable

    @staticmethod
    def content(seq: int, at: datetime, event: AuditEvent) -> dict[str, Any]:
        return {"seq": seq, "at": at.isoformat(), "kind": event.kind.value,
                "outcome": event.outcome.value, "account_id": event.account_id,
                "ip": event.ip, "user_agent": event.user_agent, "details": event.details}

    async def append(self, event: AuditEvent, now: datetime) -> AuditRecord:
        if not self._writable:
            raise RuntimeError("audit events are appended in write units of work only")
        head = (await self._c.execute(
            sa.select(t.audit_head).where(t.audit_head.c.id == 1).with_for_update())).one()
        seq = head.seq + 1
        event = AuditEvent(event.kind, event.outcome, event.account_id, event.ip[:64],
                           event.user_agent[:512], event.details)
        digest = entry_hash(head.last_hash, self.content(seq, now, event))
        await self._c.execute(sa.insert(t.audit_events).values(
            seq=seq, at=now, kind=event.kind.value, outcome=event.outcome.value,
            account_id=event.account_id, ip=event.ip, user_agent=event.user_agent,
            details=event.details, prev_hash=head.last_hash, hash=digest))
        await self._c.execute(sa.update(t.audit_head).where(t.audit_head.c.id == 1)
                              .values(seq=seq, last_hash=digest))
        return AuditRecord(seq, now, event, head.last_hash, digest)

    @staticmethod
    def _record(r: Any) -> AuditRecord:
        return AuditRecord(r.seq, r.at, AuditEvent(EventKind(r.kind), Outcome(r.outcome),
                                                   r.account_id, r.ip, r.user_agent, r.details),
                           r.prev_hash, r.hash)

    async def read(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AuditRecord]:
        rows = await self._c.execute(
            sa.select(t.audit_events).where(t.audit_events.c.seq > after_seq)
            .order_by(t.audit_events.c.seq).limit(limit))
        return [self._record(r) for r in rows]

    async def for_account(self, account_id: str, kinds: Sequence[str], *,
                          before_seq: int | None = None, outcome: str | None = None,
                          limit: int = 50) -> Sequence[AuditRecord]:
        """Newest first, for pages of history; ``before_seq`` is the cursor."""
        c = t.audit_events.c
        conditions = [c.account_id == account_id, c.kind.in_(list(kinds))]
        if before_seq is not None:
            conditions.append(c.seq < before_seq)
        if outcome is not None:
            conditions.append(c.outcome == outcome)
        rows = await self._c.execute(sa.select(t.audit_events).where(*conditions)
                                     .order_by(c.seq.desc()).limit(limit))
        return [self._record(r) for r in rows]


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection, writable: bool) -> None:
        self.accounts = SqlAccounts(conn)
        self.flows = SqlFlows(conn)
        self.sessions = SqlSessions(conn)
        self.outbox = SqlOutbox(conn)
        self.audit = SqlAudit(conn, writable)
        self.factors = SqlFactors(conn)
        self.recovery_codes = SqlRecoveryCodes(conn)
        self.devices = SqlDevices(conn)
        self.holds = SqlHolds(conn)
        self.maintenance = SqlMaintenance(conn)


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool) -> AsyncIterator[UnitOfWork]:
        async with self.engine.connect() as conn:
            if write:
                await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                yield SqlUnitOfWork(conn, write)

    async def close(self) -> None:
        await self.engine.dispose()
