"""Service clients, found by name (HTTP Basic) or by the keyed hash of their secret (bearer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.domain.service_clients import Scope, ServiceClientRecord


def _record(row: Any) -> ServiceClientRecord:
    return ServiceClientRecord(
        id=row.id, name=row.name, scopes=frozenset(Scope(s) for s in row.scopes),
        secret_hash=row.secret_hash, created_at=row.created_at, created_by=row.created_by,
        rotated_at=row.rotated_at, revoked_at=row.revoked_at)


class SqlServiceClients:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def create(self, client: ServiceClientRecord) -> bool:
        """False when the name is taken (by an active or a revoked client)."""
        insert: Any = sqlite_insert if self._c.dialect.name == "sqlite" else postgresql_insert
        result = await self._c.execute(insert(t.service_clients).values(
            id=client.id, name=client.name, scopes=sorted(s.value for s in client.scopes),
            secret_hash=client.secret_hash, created_at=client.created_at,
            created_by=client.created_by[:64], rotated_at=None, revoked_at=None,
        ).on_conflict_do_nothing(index_elements=["name"]))
        return bool(result.rowcount)

    async def by_name(self, name: str) -> ServiceClientRecord | None:
        row = (await self._c.execute(sa.select(t.service_clients).where(
            t.service_clients.c.name == name))).first()
        return _record(row) if row else None

    async def by_secret_hash(self, secret_hash: str) -> ServiceClientRecord | None:
        row = (await self._c.execute(sa.select(t.service_clients).where(
            t.service_clients.c.secret_hash == secret_hash))).first()
        return _record(row) if row else None

    async def all(self) -> Sequence[ServiceClientRecord]:
        rows = await self._c.execute(sa.select(t.service_clients).order_by(
            t.service_clients.c.name))
        return [_record(r) for r in rows]

    async def replace_secret(self, name: str, secret_hash: str, now: datetime) -> bool:
        """A new secret for an active client; False when there is none of that name."""
        c = t.service_clients.c
        result = await self._c.execute(sa.update(t.service_clients).where(
            c.name == name, c.revoked_at.is_(None)).values(secret_hash=secret_hash,
                                                            rotated_at=now))
        return bool(result.rowcount)

    async def revoke(self, name: str, now: datetime) -> bool:
        c = t.service_clients.c
        result = await self._c.execute(sa.update(t.service_clients).where(
            c.name == name, c.revoked_at.is_(None)).values(revoked_at=now))
        return bool(result.rowcount)

